"""The ServiceAccount admission (plugin/pkg/admission/serviceaccount/admission.go): a Pod runs
as a ServiceAccount that exists, and unless automounting is turned off it gets the projected
`kube-api-access-<5 chars>` volume (token, ca.crt, namespace) mounted read-only in every
container at /var/run/secrets/kubernetes.io/serviceaccount. Pure: the caller looks the
ServiceAccount up. Also the TokenProvider Protocol the node mints projected tokens through.
"""

from __future__ import annotations

import random
from typing import Protocol

from podhost.api import errors
from podhost.api.satoken import POD_TOKEN_EXPIRATION
from podhost.api.storage import ObjectStore
from podhost.api.types import Obj

MOUNT_PATH = "/var/run/secrets/kubernetes.io/serviceaccount"
VOLUME_PREFIX = "kube-api-access-"
ROOT_CA = "kube-root-ca.crt"
_CHARS = "bcdfghjklmnpqrstvwxz2456789"  # utilrand.String's alphabet


class TokenProvider(Protocol):
    """Mints the token of a Pod's serviceAccountToken projection (the kubelet's token manager
    asking TokenRequest); raises LookupError when it cannot."""

    def pod_token(self, pod: Obj, audience: str, expiration_seconds: int) -> str: ...


def service_account_name(pod: Obj) -> str:
    spec = pod.get("spec") or {}
    return str(spec.get("serviceAccountName") or spec.get("serviceAccount") or "default")


def missing_error(pod: Obj, namespace: str) -> errors.ForbiddenError:
    name = (pod.get("metadata") or {}).get("name") or ""
    sa = service_account_name(pod)
    what = f'pods "{name}"' if name else "pods"
    return errors.ForbiddenError(
        f'{what} is forbidden: error looking up service account {namespace}/{sa}: '
        f'serviceaccount "{sa}" not found', kind="pods", name=name)


def api_access_volume(suffix: str) -> Obj:
    return {"name": VOLUME_PREFIX + suffix, "projected": {"defaultMode": 0o644, "sources": [
        {"serviceAccountToken": {"expirationSeconds": POD_TOKEN_EXPIRATION, "path": "token"}},
        {"configMap": {"name": ROOT_CA, "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
        {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {
            "apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}}


def _automount(pod: Obj, sa: Obj) -> bool:
    spec_value = (pod.get("spec") or {}).get("automountServiceAccountToken")
    if spec_value is not None:
        return bool(spec_value)
    sa_value = sa.get("automountServiceAccountToken")
    return True if sa_value is None else bool(sa_value)


def admit(pod: Obj, sa: Obj | None, namespace: str, rand: random.Random | None = None) -> None:
    """Admit a new Pod: refuse a missing ServiceAccount, add the API access volume."""
    if sa is None:
        raise missing_error(pod, namespace)
    spec = pod.setdefault("spec", {})
    spec["serviceAccountName"] = service_account_name(pod)
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    if not _automount(pod, sa):
        return
    containers = [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]
    if any(m.get("mountPath") == MOUNT_PATH for c in containers
           for m in c.get("volumeMounts") or []):
        return  # the Pod brings its own
    taken = {v.get("name") for v in spec.get("volumes") or []}
    rng = rand or random.SystemRandom()
    name = ""
    while not name or VOLUME_PREFIX + name in taken:
        name = "".join(rng.choice(_CHARS) for _ in range(5))
    spec.setdefault("volumes", []).append(api_access_volume(name))
    for c in containers:
        c.setdefault("volumeMounts", []).append(
            {"name": VOLUME_PREFIX + name, "readOnly": True, "mountPath": MOUNT_PATH})


def admit_from(store: ObjectStore, pod: Obj) -> None:
    """admit, looking the Pod's ServiceAccount up in the store."""
    ns = (pod.get("metadata") or {}).get("namespace") or "default"
    try:
        sa: Obj | None = store.get("serviceaccounts", ns, service_account_name(pod))
    except errors.NotFoundError:
        sa = None
    admit(pod, sa, ns)


def token_sources(volume: Obj) -> list[Obj]:
    return [s["serviceAccountToken"] for s in (volume.get("projected") or {}).get("sources") or []
            if isinstance(s, dict) and isinstance(s.get("serviceAccountToken"), dict)]
