"""Defaulting exactly as the API server stores Pods (SetDefaults_* for core/v1 plus admission)."""

from __future__ import annotations

from podhost.api import quantity
from podhost.api.types import Obj

DEFAULT_TOLERATIONS = [
    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute",
     "tolerationSeconds": 300},
    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute",
     "tolerationSeconds": 300},
]


def image_tag_is_latest(image: str) -> bool:
    """imagePullPolicy defaults to Always when the tag is `latest` or absent (and no digest)."""
    if "@" in image:
        return False
    last = image.rsplit("/", 1)[-1]
    return ":" not in last or last.rsplit(":", 1)[1] == "latest"


def _default_probe(probe: Obj | None) -> None:
    if not isinstance(probe, dict):
        return
    probe.setdefault("timeoutSeconds", 1)
    probe.setdefault("periodSeconds", 10)
    probe.setdefault("successThreshold", 1)
    probe.setdefault("failureThreshold", 3)
    http = probe.get("httpGet")
    if isinstance(http, dict):
        http.setdefault("path", "/")
        http.setdefault("scheme", "HTTP")
    grpc = probe.get("grpc")
    if isinstance(grpc, dict):
        grpc.setdefault("service", "")


def _default_handler(handler: Obj | None) -> None:
    if isinstance(handler, dict) and isinstance(handler.get("httpGet"), dict):
        handler["httpGet"].setdefault("path", "/")
        handler["httpGet"].setdefault("scheme", "HTTP")


def _canonical(value: object) -> object:
    """Quantities are stored as Quantity.String() prints them (`1000m` → `1`)."""
    if not isinstance(value, (str, int, float)):
        return value
    try:
        return quantity.canonical(value)
    except (quantity.QuantityError, ValueError, ArithmeticError):
        return value


def default_resources(resources: Obj) -> None:
    """Canonical quantities; a limit without a request also becomes the request."""
    for section in ("limits", "requests"):
        if isinstance(resources.get(section), dict):
            resources[section] = {k: _canonical(v) for k, v in resources[section].items()}
    limits = resources.get("limits")
    if isinstance(limits, dict) and limits:
        requests = resources.setdefault("requests", {})
        if isinstance(requests, dict):
            for name, value in limits.items():
                requests.setdefault(name, value)


def default_container(c: Obj) -> None:
    image = c.get("image")
    # an unparsable (e.g. empty) image has no tag: IfNotPresent, as SetDefaults_Container does
    latest = isinstance(image, str) and bool(image) and image_tag_is_latest(image)
    c.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
    c.setdefault("terminationMessagePath", "/dev/termination-log")
    c.setdefault("terminationMessagePolicy", "File")
    c.setdefault("resources", {})
    resources = c["resources"]
    if isinstance(resources, dict):
        default_resources(resources)
    for port in c.get("ports") or []:
        if isinstance(port, dict):
            port.setdefault("protocol", "TCP")
    for env in c.get("env") or []:
        ref = env.get("valueFrom", {}).get("fieldRef") if isinstance(env, dict) else None
        if isinstance(ref, dict):
            ref.setdefault("apiVersion", "v1")
    for name in ("livenessProbe", "readinessProbe", "startupProbe"):
        _default_probe(c.get(name))
    lifecycle = c.get("lifecycle")
    if isinstance(lifecycle, dict):
        _default_handler(lifecycle.get("postStart"))
        _default_handler(lifecycle.get("preStop"))


def default_volume(v: Obj) -> None:
    sources = [k for k in v if k != "name"]
    if not sources:
        v["emptyDir"] = {}
    for key in ("configMap", "secret"):
        if isinstance(v.get(key), dict):
            v[key].setdefault("defaultMode", 0o644)
    if isinstance(v.get("downwardAPI"), dict):
        v["downwardAPI"].setdefault("defaultMode", 0o644)
    if isinstance(v.get("projected"), dict):
        v["projected"].setdefault("defaultMode", 0o644)
    if isinstance(v.get("emptyDir"), dict) and "sizeLimit" in v["emptyDir"]:
        v["emptyDir"]["sizeLimit"] = _canonical(v["emptyDir"]["sizeLimit"])
    if isinstance(v.get("hostPath"), dict):
        v["hostPath"].setdefault("type", "")
    image = v.get("image")
    if isinstance(image, dict) and not image.get("pullPolicy"):
        # SetDefaults_ImageVolumeSource: Always for `latest` (or no tag), else IfNotPresent
        ref = image.get("reference")
        latest = isinstance(ref, str) and bool(ref) and image_tag_is_latest(ref)
        image["pullPolicy"] = "Always" if latest else "IfNotPresent"


def default_pod(pod: Obj) -> Obj:
    """Apply the defaults of a freshly created Pod in place and return it."""
    spec = pod.setdefault("spec", {})
    for c in spec.get("containers") or []:
        if isinstance(c, dict):
            default_container(c)
    for c in spec.get("initContainers") or []:
        if isinstance(c, dict):
            default_container(c)
    for c in spec.get("ephemeralContainers") or []:
        if isinstance(c, dict):
            default_container(c)
    if spec.get("hostNetwork"):  # defaultHostNetworkPorts
        for c in [*(spec.get("containers") or []), *(spec.get("initContainers") or [])]:
            for port in (c.get("ports") or []) if isinstance(c, dict) else []:
                if isinstance(port, dict) and not port.get("hostPort"):
                    port["hostPort"] = port.get("containerPort")
    for v in spec.get("volumes") or []:
        if isinstance(v, dict):
            default_volume(v)
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("securityContext", {})
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("enableServiceLinks", True)
    spec.setdefault("priority", 0)
    spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
    spec.setdefault("serviceAccountName", "default")
    spec.setdefault("serviceAccount", spec["serviceAccountName"])
    spec.setdefault("tolerations", [dict(t) for t in DEFAULT_TOLERATIONS])
    return pod
