#!/usr/bin/env python3
"""The structure `make lint` keeps, beyond ruff, mypy and the layer contracts:

- no import cycle between podhost's modules, counting imports inside functions and under
  TYPE_CHECKING (grimp's graph holds them all);
- no file in src/ over 500 lines, no class over 25 methods, no function over 60 lines.
"""

from __future__ import annotations

import ast
import pathlib
import sys

import grimp

MAX_FILE_LINES, MAX_CLASS_METHODS, MAX_FUNCTION_LINES = 500, 25, 60
SRC = pathlib.Path(__file__).resolve().parent.parent / "src"


def cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(
                        child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def sizes() -> list[str]:
    out = []
    for path in sorted((SRC / "podhost").rglob("*.py")):
        text = path.read_text()
        name = path.relative_to(SRC.parent)
        if text.count("\n") > MAX_FILE_LINES:
            out.append(f"{name}: {text.count(chr(10))} lines (at most {MAX_FILE_LINES})")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                methods = sum(isinstance(b, (ast.FunctionDef, ast.AsyncFunctionDef))
                              for b in node.body)
                if methods > MAX_CLASS_METHODS:
                    out.append(f"{name}:{node.lineno}: class {node.name} has {methods} methods "
                               f"(at most {MAX_CLASS_METHODS})")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    out.append(f"{name}:{node.lineno}: function {node.name} has {lines} lines "
                               f"(at most {MAX_FUNCTION_LINES})")
    return out


def main() -> int:
    sys.path.insert(0, str(SRC))
    problems = sizes()
    for component in cycles(grimp.build_graph("podhost")):
        problems.append("import cycle: " + " <-> ".join(component))
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
