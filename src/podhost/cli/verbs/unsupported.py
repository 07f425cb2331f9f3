"""Verbs that need server features podhost does not serve (yet): a clear message, rc 1."""

from __future__ import annotations

import argparse

from podhost.cli.errors import CliError


def port_forward(args: argparse.Namespace) -> int:
    raise CliError("error: podhost port-forward is not implemented yet: use "
                   "`kubectl port-forward` or reach the pod IP directly")


def top(args: argparse.Namespace) -> int:
    raise CliError("error: Metrics API not available")
