"""Verbs about the local node: kubeconfig."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from podhost import config


def root_of(args: argparse.Namespace) -> Path:
    return Path(args.root) if getattr(args, "root", None) else config.default_root()


def print_kubeconfig(args: argparse.Namespace) -> int:
    path = root_of(args) / "kubeconfig"
    try:
        sys.stdout.write(path.read_text())
    except FileNotFoundError:
        print(f"error: {path} does not exist: start the node first with `podhost serve`",
              file=sys.stderr)
        return 1
    return 0
