"""`podhost completion bash`: a completion script generated from the parser; the resource
types it completes come from the server's discovery at completion time (`podhost
__complete-types`, as kubectl's `__complete`), the few below when no server answers."""

from __future__ import annotations

import argparse
import os

NAMES = "pods configmaps secrets namespaces nodes events"  # no server to ask
TYPES_VERB = "__complete-types"


def complete_types() -> int:
    """Print the resource types (plural, singular, short names) and categories the server of
    the current context lists; never starts a node."""
    from podhost.cli import context
    from podhost.cli.errors import CliError
    os.environ["PODHOST_NO_AUTOSTART"] = "1"
    try:
        context.client_for(argparse.Namespace())
        resources = context.resources()
    except (CliError, OSError):
        return 1
    words = {w for r in resources for w in (r.plural, r.singular, *r.short_names, *r.categories)}
    print(" ".join(sorted(words)))
    return 0


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return sorted(o for a in parser._actions for o in a.option_strings)


def bash(parser: argparse.ArgumentParser) -> str:
    verbs = _subparsers(parser)
    cases = []
    for name, sub in sorted(verbs.items()):
        words = _options(sub) + sorted(_subparsers(sub))
        cases.append(f'        {name}) opts="{" ".join(words)}" ;;')
    top = " ".join(sorted(verbs) + _options(parser))
    return f'''# bash completion for podhost; load with: source <(podhost completion bash)
_podhost() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" verb="${{COMP_WORDS[1]}}" opts
    if [ "$COMP_CWORD" -eq 1 ]; then
        COMPREPLY=($(compgen -W "{top}" -- "$cur"))
        return
    fi
    case "$verb" in
{chr(10).join(cases)}
        *) opts="" ;;
    esac
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
    else
        local types
        types=$(podhost {TYPES_VERB} 2>/dev/null) || types="{NAMES}"
        COMPREPLY=($(compgen -W "$(echo "$opts" | tr ' ' '\\n' | grep -v '^-') $types" -- "$cur"))
        COMPREPLY+=($(compgen -f -- "$cur"))
    fi
}}
complete -F _podhost podhost
'''
