"""Which images running containers use, shared between the node and `podhost images rm|prune`.

The node owns `<images root>/in-use.json` ({"images": [image ID or name@digest, ...]}) and
rewrites it (atomically) whenever the set changes; the CLI reads it and refuses to remove
those images (ImageInUseError). A missing file means nothing is in use.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

from podhost.images.errors import ImageError, ImageNotFoundError
from podhost.images.store import ImageStore, _write_json

IN_USE_FILE = "in-use.json"


def write_in_use(images_root: str | os.PathLike[str], images: Iterable[str]) -> None:
    """Node side: record the images (IDs or name@digest references) containers use."""
    _write_json(Path(images_root) / IN_USE_FILE, {"images": sorted(set(images))})


def read_in_use(images_root: str | os.PathLike[str]) -> list[str]:
    try:
        data = json.loads((Path(images_root) / IN_USE_FILE).read_bytes())
    except FileNotFoundError:
        return []
    except ValueError as e:
        raise ImageError(f"{images_root}/{IN_USE_FILE}: corrupt: {e}") from None
    return [str(i) for i in data.get("images", [])]


def in_use_ids(store: ImageStore) -> set[str]:
    """Image IDs in use, with references resolved (unknown ones ignored)."""
    ids = set()
    for name in read_in_use(store.root):
        try:
            ids.add(store.get(name).id)
        except (ImageNotFoundError, ValueError):
            continue
    return ids
