"""The documentation's shell blocks run as written, in order, on a fresh node (as mkdocs and
rustdoc run their examples).

Convention (README.md and docs/*.md):

* a fenced block tagged ```` ```bash ````, ```` ```sh ```` or ```` ```shell ```` is a sequence of
  commands a reader types in one shell: it is run, every command must succeed (`bash -e -o
  pipefail`); a command meant to fail is written `! command` (and says why in its comment):
  the test checks that it does fail;
* ```` ```console ```` blocks are transcripts (prompt `$`, then output) and ```` ```text ````,
  ```` ```yaml ````, ```` ```toml ```` are not commands: they are not run;
* a runnable block that cannot run here says so on the line just before its fence, visible in
  the Markdown source: `<!-- docs-test: skip: <why> -->` (installing packages, a command that runs
  until Ctrl-C, a second cluster, a transcript of an interactive shell).

The pages run in order, README.md first, then docs/*.md by name, each block in its own `bash`
from a scratch directory holding the repository's `examples/` and `build/` (so that
`examples/…` and `build/test-images/…` resolve, and files the blocks write stay out of the
tree), with `KUBECONFIG` and `PODHOST_ROOT` of the test's node and the repository's `podhost`
first on PATH. `test_skipped_blocks_say_why` lists every skipped block with its reason.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import REPO
from tests.e2e.conftest import Node, start_node, stop_node

pytestmark = pytest.mark.e2e

RUN = ("bash", "sh", "shell")
SKIP = re.compile(r"^<!-- docs-test: skip: (.+) -->$")
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
BLOCK_TIMEOUT = 420  # seconds; a loaded CI machine runs three node groups at once


@dataclass
class Block:
    page: str
    line: int
    language: str
    text: str
    skip: str  # why it is not run ("" when it is)

    @property
    def where(self) -> str:
        return f"{self.page}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """The fenced blocks of a page, with the skip marker of each (pure)."""
    out: list[Block] = []
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        fence = re.match(r"^```(\w*)\s*$", lines[i])
        if not fence:
            i += 1
            continue
        start, body = i, []
        i += 1
        while i < len(lines) and not lines[i].startswith("```"):
            body.append(lines[i])
            i += 1
        before = lines[start - 1] if start else ""
        marker = SKIP.match(before)
        out.append(Block(str(path.relative_to(REPO)), start + 1, fence.group(1),
                         "\n".join(body) + "\n", marker.group(1) if marker else ""))
        i += 1
    return out


EXPECT_FAILURE = ('fails() { if "$@"; then echo "docs-test: this should have failed: $*" >&2; '
                  "return 1; fi; }\n")


def script(block: Block) -> str:
    """The block as bash runs it: `! command` lines must fail (bash alone would not check
    them under -e)."""
    lines = [re.sub(r"^! ", "fails ", line) for line in block.text.splitlines()]
    return EXPECT_FAILURE + "\n".join(lines) + "\n"


def test_expected_failures_are_checked() -> None:
    ok = Block("x", 1, "bash", "! false   # fails\ntrue\n", "")
    wrong = Block("x", 1, "bash", "! true   # does not fail\n", "")
    assert subprocess.run(["bash", "-e", "-c", script(ok)]).returncode == 0
    done = subprocess.run(["bash", "-e", "-c", script(wrong)], capture_output=True, text=True)
    assert done.returncode == 1 and "this should have failed: true" in done.stderr


def runnable(path: Path) -> list[Block]:
    return [b for b in blocks(path) if b.language in RUN and not b.skip]


def test_skipped_blocks_say_why() -> None:
    """Every skip marker sits on a runnable block and gives a reason; the list is printed."""
    skipped = [b for page in PAGES for b in blocks(page) if b.skip]
    for b in skipped:
        assert b.language in RUN, f"{b.where}: a skip marker on a ```{b.language} block"
        assert len(b.skip) > 10, f"{b.where}: say why the block is skipped"
        print(f"skipped {b.where}: {b.skip}")
    assert any(b.page == "README.md" for p in PAGES for b in runnable(p))


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory, registries_conf: Path) -> Iterator[Node]:
    root = tmp_path_factory.mktemp("docs") / "root"
    node = start_node(root, ["--registries-conf", str(registries_conf),  # the README's ports
                             "--ingress-http-port", "80", "--ingress-https-port", "443"])
    try:
        yield node
    finally:
        subprocess.run(["kubectl", "delete", "pods", "--all", "-A", "--wait=true",
                        "--grace-period=1", "--timeout=60s"], env=node.env(),
                       capture_output=True, timeout=90)
        stop_node(node)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("reader")
    for name in ("examples", "build"):
        (work / name).symlink_to(REPO / name)
    return work


@pytest.mark.timeout(1800)  # a page of many blocks on a loaded machine
@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_runs_as_written(page: Path, fresh: Node, workdir: Path) -> None:
    env = dict(fresh.env(), PATH=f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}",
               PODHOST_NO_AUTOSTART="1")
    for block in runnable(page):
        done = subprocess.run(["bash", "-e", "-x", "-o", "pipefail", "-c", script(block)], cwd=workdir,
                              env=env, stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=BLOCK_TIMEOUT)
        assert done.returncode == 0, (f"{block.where} failed ({done.returncode}):\n{block.text}"
                                      f"\n--- stdout\n{done.stdout}\n--- stderr\n{done.stderr}")
