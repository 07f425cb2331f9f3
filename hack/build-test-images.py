#!/usr/bin/env python3
"""Build podhost's offline test images (busybox, nginx) from Debian packages.

    python3 hack/build-test-images.py [--out DIR] [--only busybox|nginx] [--force]

Writes DIR/<name>.oci.tar (OCI archive) and DIR/<name>.docker.tar (docker
archive) for each image, tagged docker.io/library/<name>:latest.  Outputs
are reused when DIR/.stamp-<name> records the same recipe ("cached").

Needs root (mmdebstrap), busybox-static and mmdebstrap; stdlib only.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import mkimage  # noqa: E402

DEFAULT_OUT = os.path.join(os.path.dirname(HERE), "build", "test-images")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=DEFAULT_OUT,
                    help="output directory (default: <repo>/build/test-images)")
    ap.add_argument("--only", choices=sorted(mkimage.RECIPE_VERSION),
                    action="append", help="build only this image (repeatable)")
    ap.add_argument("--force", action="store_true", help="rebuild even if cached")
    ap.add_argument("--apt-sources", choices=["auto", "default", "host"], default="auto",
                    help="nginx: 'default' = mmdebstrap's default Debian mirror, 'host' = "
                         "pass the host's apt source files, 'auto' = default then host")
    args = ap.parse_args(argv)

    names = args.only or ["busybox", "nginx"]
    rc = 0
    for name in names:
        t0 = time.monotonic()
        try:
            info = mkimage.build_image(name, args.out, force=args.force,
                                       apt_sources=args.apt_sources)
        except SystemExit as e:
            print(f"{name}: FAILED: {e}", file=sys.stderr)
            rc = 1
            continue
        dt = time.monotonic() - t0
        if info is None:
            print(f"{name}: cached ({', '.join(mkimage.outputs(name, args.out))})")
        else:
            sizes = ", ".join(f"{os.path.basename(p)} {os.path.getsize(p) / 1e6:.1f} MB"
                              for p in (info["oci"], info["docker"]))
            print(f"{name}: built in {dt:.1f}s: {sizes}; image id {info['image_id']}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
