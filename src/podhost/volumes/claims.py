"""Claims in a Pod (`persistentVolumeClaim` and generic `ephemeral` volumes) as kubelet mounts
them: the claim is looked up, then the PersistentVolume it is bound to.

* A `local` PV (what the built-in provisioner makes) is bind-mounted on
  `<pod dir>/volumes/kubernetes.io~local-volume/<pv name>`, as kubelet's local plugin does;
  the containers bind that path. The mount stays while the Pod runs (also across a restart of
  the node) and goes with the Pod's other volumes.
* A `hostPath` PV is used in place (kubelet's hostPath plugin mounts nothing), with its type
  checks.

A missing, unbound or foreign claim is a VolumeSetupError in kubelet's words.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from podhost.api import errors
from podhost.api.types import Obj
from podhost.host import mount as mounts
from podhost.volumes import hostpath
from podhost.volumes.emptydir import VolumeSetupError

LOCAL_PLUGIN = "kubernetes.io~local-volume"


def claim_name(pod: Obj, volume: Obj) -> str:
    if isinstance(volume.get("persistentVolumeClaim"), dict):
        return str(volume["persistentVolumeClaim"].get("claimName") or "")
    return f"{pod['metadata']['name']}-{volume['name']}"


def is_claim(volume: Obj) -> bool:
    return isinstance(volume.get("persistentVolumeClaim"), dict) or \
        isinstance(volume.get("ephemeral"), dict)


def _claim(pod: Obj, volume: Obj, store: Any) -> Obj:
    ns, name = pod["metadata"].get("namespace") or "default", claim_name(pod, volume)
    try:
        pvc: Obj = store.get("persistentvolumeclaims", ns, name)
    except errors.NotFoundError:
        raise VolumeSetupError(f'persistentvolumeclaim "{name}" not found') from None
    if isinstance(volume.get("ephemeral"), dict) and not any(
            r.get("uid") == pod["metadata"].get("uid")
            for r in pvc["metadata"].get("ownerReferences") or []):
        raise VolumeSetupError(f"PVC {ns}/{name} was not created for pod "
                               f"{ns}/{pod['metadata']['name']} (pod is not owner)")
    return pvc


def _volume(pvc: Obj, store: Any) -> Obj:
    m = pvc["metadata"]
    pv_name = (pvc.get("spec") or {}).get("volumeName")
    if not pv_name or (pvc.get("status") or {}).get("phase") != "Bound":
        raise VolumeSetupError(f"PVC {m.get('namespace')}/{m['name']} has not been bound")
    try:
        pv: Obj = store.get("persistentvolumes", "", pv_name)
    except errors.NotFoundError:
        raise VolumeSetupError(f'persistentvolume "{pv_name}" not found') from None
    return pv


def read_only(pod: Obj, volume: Obj, store: Any) -> bool:
    """`persistentVolumeClaim.readOnly`, or a claim that allows only ReadOnlyMany."""
    if (volume.get("persistentVolumeClaim") or {}).get("readOnly"):
        return True
    try:
        pvc = store.get("persistentvolumeclaims", pod["metadata"].get("namespace") or "default",
                        claim_name(pod, volume))
    except errors.NotFoundError:
        return False
    return bool(((pvc.get("spec") or {}).get("accessModes") or []) == ["ReadOnlyMany"])


def set_up(pod_dir: Path, pod: Obj, volume: Obj, store: Any) -> Path:
    """The host path of the claim's volume for this Pod (mounted when it is a local PV)."""
    pv = _volume(_claim(pod, volume, store), store)
    spec, name = pv.get("spec") or {}, pv["metadata"]["name"]
    if isinstance(spec.get("hostPath"), dict):
        return hostpath.set_up(volume["name"], spec["hostPath"])
    source = (spec.get("local") or {}).get("path") or ""
    if not source or not os.path.isdir(source):
        raise VolumeSetupError(f'MountVolume.NewMounter initialization failed for volume "{name}"'
                               f" : path \"{source}\" does not exist")
    target: Path = pod_dir / "volumes" / LOCAL_PLUGIN / str(name)
    target.mkdir(parents=True, exist_ok=True, mode=0o750)
    if not mounts.is_mount_point(target):
        try:
            mounts.bind(source, target)
        except mounts.MountError as e:
            raise VolumeSetupError(f'MountVolume.SetUp failed for volume "{name}" : {e}') \
                from None
    return target


def tear_down_all(pod_dir: Path) -> None:
    """Unmount every claim volume of the Pod and remove the empty mount points (never the
    data: that is the PV's)."""
    base = pod_dir / "volumes" / LOCAL_PLUGIN
    if not base.is_dir():
        return
    for entry in base.iterdir():
        mounts.unmount_all(entry)
        if mounts.is_mount_point(entry):
            raise VolumeSetupError(f"{entry} is still mounted")
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(entry)
    with contextlib.suppress(OSError):
        base.rmdir()
