"""`podhost images load|ls|rm`: the local image store."""

from __future__ import annotations

import argparse
import sys
import time

from podhost.cli.node import root_of


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return str(n)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from podhost.images.errors import ImageError
    from podhost.images.store import ImageStore

    store = ImageStore(root_of(args) / "images")
    try:
        if args.images_command == "load":
            start = time.monotonic()
            loaded = store.load_archive(args.file)
            for image in loaded:
                names = ", ".join(image.repo_tags) or image.id
                print(f"Loaded image: {names}")
            total = sum(i.size for i in loaded)
            print(f"Loaded {len(loaded)} image(s), {_size(total)} in "
                  f"{time.monotonic() - start:.1f}s")
            return 0
        if args.images_command == "ls":
            print(f"{'IMAGE':<50} {'ID':<14} {'SIZE':>10}")
            for image in store.list():
                for name in image.repo_tags or ["<none>"]:
                    print(f"{name:<50} {image.id.split(':')[-1][:12]:<14} "
                          f"{_size(image.size):>10}")
            return 0
        if args.images_command == "rm":
            for ref in args.image:
                store.remove(ref)
                print(f"Untagged: {ref}")
            return 0
    except (ImageError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    parser.parse_args(["images", "--help"])
    return 2
