"""Writing podhost's kubeconfig and merging its context into the user's, as kind does."""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

import yaml

CONTEXT = "podhost"


def _b64(path: Path) -> str:
    return base64.b64encode(path.read_bytes()).decode()


def build(server: str, ca: Path, token: str, client_cert: Path, client_key: Path,
          name: str = CONTEXT) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": name, "cluster": {"server": server,
                                                "certificate-authority-data": _b64(ca)}}],
        "users": [{"name": name, "user": {"token": token,
                                          "client-certificate-data": _b64(client_cert),
                                          "client-key-data": _b64(client_key)}}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name,
                                                "namespace": "default"}}],
        "current-context": name,
    }


def write_private(path: Path, config: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        yaml.safe_dump(config, f, default_flow_style=False, sort_keys=False)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)


def user_kubeconfig_path() -> Path:
    env = os.environ.get("KUBECONFIG")
    if env:
        return Path(env.split(os.pathsep)[0])
    return Path.home() / ".kube" / "config"


def _replace_named(items: list[dict[str, Any]], entry: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in items if i.get("name") != entry["name"]] + [entry]


def merge_into(path: Path, ours: dict[str, Any]) -> None:
    """Add or replace our cluster, user and context in path; make our context current."""
    try:
        current = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        current = {}
    if not isinstance(current, dict):
        raise ValueError(f"{path} is not a kubeconfig")
    current.setdefault("apiVersion", "v1")
    current.setdefault("kind", "Config")
    current.setdefault("preferences", {})
    for key in ("clusters", "users", "contexts"):
        items = current.get(key) or []
        for entry in ours[key]:
            items = _replace_named(items, entry)
        current[key] = items
    current["current-context"] = ours["current-context"]
    write_private(path, current)


def for_user(root: Path, admin_config: str, user: str, groups: list[str],
             validity_days: int = 365) -> str:
    """A kubeconfig for `user` in `groups` with a new client certificate of the node's CA,
    as `kubeadm kubeconfig user --client-name` makes one (no token: RBAC decides)."""
    import datetime

    from podhost.apiserver import pki as pkimod
    if not user or "/" in user or user.startswith("system:serviceaccount:"):
        raise ValueError(f"invalid user name {user!r}")
    if validity_days < 1:
        raise ValueError("--validity-days must be at least 1")
    admin = yaml.safe_load(admin_config)
    cluster = admin["clusters"][0]["cluster"]
    cert, key = pkimod.user_credentials(pkimod.Pki(root / "pki"), user, groups,
                                        datetime.timedelta(days=validity_days))
    name = f"{user}@{CONTEXT}"
    config = {
        "apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": [{"name": CONTEXT, "cluster": cluster}],
        "users": [{"name": user, "user": {
            "client-certificate-data": base64.b64encode(cert).decode(),
            "client-key-data": base64.b64encode(key).decode()}}],
        "contexts": [{"name": name, "context": {"cluster": CONTEXT, "user": user,
                                                "namespace": "default"}}],
        "current-context": name,
    }
    return str(yaml.safe_dump(config, default_flow_style=False, sort_keys=False))
