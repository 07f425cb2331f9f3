"""`podhost completion bash`: a static completion script generated from the parser."""

from __future__ import annotations

import argparse

NAMES = "pods configmaps secrets namespaces nodes events"  # completed after a verb


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
        COMPREPLY=($(compgen -W "$(echo "$opts" | tr ' ' '\\n' | grep -v '^-') {NAMES}" -- "$cur"))
        COMPREPLY+=($(compgen -f -- "$cur"))
    fi
}}
complete -F _podhost podhost
'''
