"""Build small OCI and docker image archives in tests, from plain files (tarfile/json/hashlib)."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

# entry values: bytes -> regular file, None -> directory, ("symlink", target), ("whiteout",),
# ("opaque",) (the key is then the directory to mark opaque), ("hardlink", target)
Entries = dict[str, object]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_tar(entries: Entries, mtime: int = 1_700_000_000) -> bytes:
    """An uncompressed layer tar; parent dirs are not added implicitly."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, value in entries.items():
            info = tarfile.TarInfo(name)
            info.mtime = mtime
            data = None
            if value is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            elif isinstance(value, bytes):
                info.size, info.mode, data = len(value), 0o644, io.BytesIO(value)
            elif value[0] == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, value[1]
            elif value[0] == "hardlink":
                info.type, info.linkname = tarfile.LNKTYPE, value[1]
            elif value[0] == "whiteout":
                head, _, base = name.rpartition("/")
                info.name = f"{head}/.wh.{base}" if head else f".wh.{base}"
            elif value[0] == "opaque":
                info.name = f"{name.rstrip('/')}/.wh..wh..opq"
            tar.addfile(info, data)
    return buf.getvalue()


def image_config(layers: list[bytes], cmd: list[str] | None = None) -> bytes:
    config = {
        "architecture": "amd64", "os": "linux", "created": "2024-01-02T03:04:05Z",
        "config": {"Cmd": cmd or ["/bin/sh"], "Env": ["PATH=/bin"], "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [sha256(layer) for layer in layers]},
    }
    return json.dumps(config).encode()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


@dataclass
class OciImage:
    layers: list[bytes]
    ref_name: str | None = None
    compress: bool = True
    cmd: list[str] | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    def blobs(self) -> tuple[bytes, bytes, dict[str, bytes]]:
        """(config, manifest, {digest: blob})"""
        config = image_config(self.layers, self.cmd)
        blobs = [gzip.compress(la, mtime=0) if self.compress else la for la in self.layers]
        media = "application/vnd.oci.image.layer.v1.tar" + ("+gzip" if self.compress else "")
        manifest = json.dumps({
            "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": sha256(config), "size": len(config)},
            "layers": [{"mediaType": media, "digest": sha256(b), "size": len(b)} for b in blobs],
        }).encode()
        out = {sha256(b): b for b in [config, manifest, *blobs]}
        return config, manifest, out


def oci_archive(path: Path, images: list[OciImage], extra_blobs: dict[str, bytes] | None = None,
                index: list[dict] | None = None) -> Path:
    """Write an OCI image layout tar; `index` overrides the generated index.json manifests."""
    all_blobs: dict[str, bytes] = dict(extra_blobs or {})
    manifests = []
    for image in images:
        _, manifest, blobs = image.blobs()
        all_blobs.update(blobs)
        annotations = dict(image.annotations)
        if image.ref_name:
            annotations["org.opencontainers.image.ref.name"] = image.ref_name
        desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": sha256(manifest), "size": len(manifest)}
        if annotations:
            desc["annotations"] = annotations
        manifests.append(desc)
    with tarfile.open(path, "w") as tar:
        _add(tar, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        _add(tar, "index.json", json.dumps({"schemaVersion": 2,
                                            "manifests": index or manifests}).encode())
        for digest, blob in all_blobs.items():
            _add(tar, "blobs/sha256/" + digest.removeprefix("sha256:"), blob)
    return path


def docker_archive(path: Path, layers: list[bytes], repo_tags: list[str],
                   compress: bool = False, modern: bool = False) -> Path:
    """Write a `docker save` tar: legacy (<id>/layer.tar) or docker 25+ (blobs/sha256/...)."""
    config = image_config(layers)
    blobs = [gzip.compress(la, mtime=0) if compress else la for la in layers]
    with tarfile.open(path, "w") as tar:
        if modern:
            config_path = "blobs/sha256/" + sha256(config).removeprefix("sha256:")
            paths = ["blobs/sha256/" + sha256(b).removeprefix("sha256:") for b in blobs]
            _add(tar, "oci-layout", b'{"imageLayoutVersion": "1.0.0"}')
        else:
            config_path = sha256(config).removeprefix("sha256:") + ".json"
            paths = [f"{hashlib.sha256(b).hexdigest()}/layer.tar" for b in blobs]
        _add(tar, config_path, config)
        for p, b in zip(paths, blobs, strict=True):
            _add(tar, p, b)
        manifest = [{"Config": config_path, "RepoTags": repo_tags, "Layers": paths}]
        _add(tar, "manifest.json", json.dumps(manifest).encode())
    return path
