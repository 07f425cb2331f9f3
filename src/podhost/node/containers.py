"""From a Pod's container and its image config to what the runtime runs (pure).

The rules are kubelet's: command/args against the image's ENTRYPOINT/CMD, environment merged
over the image's, `$(VAR)` expansion, working directory and user.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from podhost.node.expansion import expand

Obj = dict[str, Any]


@dataclass(frozen=True, slots=True)
class ProcessSpec:
    args: list[str]
    env: list[str]
    cwd: str
    user: str  # image or securityContext user, resolved against the rootfs later


def _env_pairs(image_env: list[str]) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for item in image_env:
        key, _, value = item.partition("=")
        pairs[key] = value
    return pairs


def container_env(container: Obj, image_config: Obj, extra: dict[str, str]) -> dict[str, str]:
    """The image's environment, then the container's `env` in order, expanding `$(VAR)`."""
    env = _env_pairs(image_config.get("Env") or [])
    env.update(extra)
    declared: dict[str, str] = {}
    for item in container.get("env") or []:
        value = item.get("value", "")
        declared[item["name"]] = expand(value, {**declared})
        env[item["name"]] = declared[item["name"]]
    return env


def container_args(container: Obj, image_config: Obj, env: dict[str, str]) -> list[str]:
    """kubelet's rules: command replaces ENTRYPOINT and drops CMD; args replaces CMD."""
    entrypoint = list(image_config.get("Entrypoint") or [])
    cmd = list(image_config.get("Cmd") or [])
    command, args = container.get("command"), container.get("args")
    if command:
        argv = [expand(a, env) for a in command] + [expand(a, env) for a in args or []]
    elif args:
        argv = entrypoint + [expand(a, env) for a in args]
    else:
        argv = entrypoint + cmd
    return argv


def process_spec(pod: Obj, container: Obj, image_config: Obj,
                 extra_env: dict[str, str] | None = None) -> ProcessSpec:
    env = container_env(container, image_config, extra_env or {})
    argv = container_args(container, image_config, env)
    sc = {**(pod.get("spec", {}).get("securityContext") or {}),
          **(container.get("securityContext") or {})}
    user = image_config.get("User") or ""
    if sc.get("runAsUser") is not None:
        group = sc.get("runAsGroup")
        user = f"{sc['runAsUser']}:{group}" if group is not None else str(sc["runAsUser"])
    elif sc.get("runAsGroup") is not None:
        user = f"{user.split(':')[0] or 0}:{sc['runAsGroup']}"
    cwd = container.get("workingDir") or image_config.get("WorkingDir") or "/"
    return ProcessSpec(argv, [f"{k}={v}" for k, v in env.items()], cwd, user)


def _lookup(path: str, name: str, field: int) -> list[str] | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                parts = line.rstrip("\n").split(":")
                if len(parts) > field and parts[0] == name:
                    return parts
    except OSError:
        return None
    return None


def resolve_user(user: str, passwd: str, group: str) -> tuple[int, int]:
    """uid and gid for `user[:group]`, names looked up in the image's /etc/passwd and group."""
    name, _, grp = user.partition(":")
    uid, gid = 0, 0
    if name.isdigit():
        uid = int(name)
        entry = None
    elif name:
        entry = _lookup(passwd, name, 3)
        if entry is None:
            raise LookupError(f"unable to find user {name}: no matching entries in passwd file")
        uid, gid = int(entry[2]), int(entry[3])
    if grp.isdigit():
        gid = int(grp)
    elif grp:
        gentry = _lookup(group, grp, 2)
        if gentry is None:
            raise LookupError(f"unable to find group {grp}: no matching entries in group file")
        gid = int(gentry[2])
    return uid, gid
