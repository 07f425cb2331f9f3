"""What a Service's endpoints are, as the EndpointSlice controller computes them
(pkg/controller/endpointslice), the system Services podhost keeps (`kubernetes`, `kube-dns`) and
the docker-link variables kubelet gives containers (pkg/kubelet/envvars). Pure.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from podhost.api.podutil import all_containers
from podhost.api.service import is_headless
from podhost.api.types import Obj

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
CONTROLLER_NAME = "endpointslice-controller.k8s.io"
DISCOVERY_API = "discovery.k8s.io/v1"
MAX_ENDPOINTS = 100


@dataclass(frozen=True)
class Endpoint:
    """One backend as a data plane and DNS see it."""

    ip: str
    ready: bool
    serving: bool
    terminating: bool
    hostname: str = ""


# -- Pods to endpoints ------------------------------------------------------------------------
def pod_ready(pod: Obj) -> bool:
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def selects(svc: Obj, pod: Obj) -> bool:
    """The Service's selector matches the Pod (same namespace; an empty selector matches
    nothing, as for selector-less Services)."""
    selector = (svc.get("spec") or {}).get("selector") or {}
    if not selector or pod["metadata"].get("namespace") != svc["metadata"].get("namespace"):
        return False
    labels = pod["metadata"].get("labels") or {}
    return all(labels.get(k) == v for k, v in selector.items())


def find_port(pod: Obj, svc_port: Obj) -> int | None:
    """podutil.FindPort: a numeric targetPort as is, a named one from the Pod's ports."""
    target = svc_port.get("targetPort", svc_port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    proto = svc_port.get("protocol") or "TCP"
    for c in all_containers(pod):
        for p in c.get("ports") or []:
            if p.get("name") == target and (p.get("protocol") or "TCP") == proto:
                return int(p["containerPort"])
    return None


def pod_endpoint(svc: Obj, pod: Obj) -> Obj | None:
    """The endpoint of one Pod (ShouldPodBeInEndpoints with terminating Pods kept), or None."""
    status = pod.get("status") or {}
    if status.get("phase") in ("Succeeded", "Failed") or not status.get("podIP"):
        return None
    m, spec = pod["metadata"], pod.get("spec") or {}
    terminating = bool(m.get("deletionTimestamp"))
    ready = pod_ready(pod)
    publish = bool((svc.get("spec") or {}).get("publishNotReadyAddresses"))
    ep: Obj = {"addresses": [status["podIP"]],
               "conditions": {"ready": publish or (ready and not terminating),
                              "serving": publish or ready, "terminating": terminating},
               "targetRef": {"kind": "Pod", "namespace": m.get("namespace", ""),
                             "name": m["name"], "uid": m.get("uid", "")}}
    if spec.get("nodeName"):
        ep["nodeName"] = spec["nodeName"]
    if spec.get("hostname") and spec.get("subdomain") == svc["metadata"]["name"]:
        ep["hostname"] = spec["hostname"]
    return ep


def desired_slices(svc: Obj, pods: list[Obj]) -> list[tuple[list[Obj], list[Obj]]]:
    """(ports, endpoints) of each slice the Service should have: Pods grouped by the ports
    their named targetPorts resolve to, in Pod name order, at most MAX_ENDPOINTS a slice."""
    groups: dict[str, tuple[list[Obj], list[Obj]]] = {}
    svc_ports = (svc.get("spec") or {}).get("ports") or []
    for pod in sorted(pods, key=lambda p: str(p["metadata"]["name"])):
        if not selects(svc, pod):
            continue
        ep = pod_endpoint(svc, pod)
        if ep is None:
            continue
        ports = []
        for sp in svc_ports:
            number = find_port(pod, sp)
            if number is not None:
                ports.append({"name": sp.get("name") or "", "port": number,
                              "protocol": sp.get("protocol") or "TCP"})
        key = repr(ports)
        group = groups.setdefault(key, (ports, []))
        group[1].append(ep)
    out = []
    for ports, eps in groups.values():
        for start in range(0, len(eps), MAX_ENDPOINTS):
            out.append((ports, eps[start:start + MAX_ENDPOINTS]))
    if not out:  # the placeholder slice of a Service without endpoints
        out.append(([], []))
    return out


def endpoint_slice(svc: Obj, name: str, ports: list[Obj], endpoints: list[Obj],
                   managed_by: str = CONTROLLER_NAME) -> Obj:
    """An EndpointSlice of `svc`, owned by it."""
    m = svc["metadata"]
    labels = {SERVICE_NAME_LABEL: m["name"], MANAGED_BY_LABEL: managed_by}
    if is_headless(svc):
        labels["service.kubernetes.io/headless"] = ""
    return {"apiVersion": DISCOVERY_API, "kind": "EndpointSlice",
            "metadata": {"name": name, "namespace": m.get("namespace", ""),
                         "generateName": f"{m['name']}-", "labels": labels,
                         "ownerReferences": [{"apiVersion": "v1", "kind": "Service",
                                              "name": m["name"], "uid": m.get("uid", ""),
                                              "controller": True,
                                              "blockOwnerDeletion": True}]},
            "addressType": "IPv4", "endpoints": endpoints, "ports": ports}


def slice_name(svc: Obj, index: int) -> str:
    """A stable name for the Service's `index`th slice (upstream uses generateName)."""
    m = svc["metadata"]
    digest = hashlib.sha256(f"{m.get('uid', '')}/{index}".encode()).hexdigest()
    alphabet = "bcdfghjklmnpqrstvwxz2456789"
    suffix = "".join(alphabet[int(digest[i:i + 2], 16) % len(alphabet)] for i in range(0, 10, 2))
    return f"{m['name'][:57]}-{suffix}"


def same_content(a: Obj, b: Obj) -> bool:
    keys = ("endpoints", "ports", "addressType")
    return all(a.get(k) == b.get(k) for k in keys) and \
        (a["metadata"].get("labels") or {}) == (b["metadata"].get("labels") or {})


# -- Slices to backends (data plane, DNS) -----------------------------------------------------
def slice_backends(slices: list[Obj], port_name: str, protocol: str) -> list[tuple[Endpoint,
                                                                                   int]]:
    """(endpoint, port) pairs of one Service port across its slices, deduplicated by IP."""
    seen: set[str] = set()
    out = []
    for es in slices:
        port = next((p.get("port") for p in es.get("ports") or []
                     if (p.get("name") or "") == port_name
                     and (p.get("protocol") or "TCP") == protocol), None)
        if not port:
            continue
        for ep in es.get("endpoints") or []:
            conditions = ep.get("conditions") or {}
            for ip in ep.get("addresses") or []:
                if ip in seen:
                    continue
                seen.add(ip)
                out.append((Endpoint(ip, conditions.get("ready") is not False,
                                     conditions.get("serving") is not False,
                                     bool(conditions.get("terminating")),
                                     ep.get("hostname") or ""), int(port)))
    return out


def slice_endpoints(slices: list[Obj]) -> list[Endpoint]:
    """Every endpoint of a Service's slices (for DNS), deduplicated by IP."""
    seen: dict[str, Endpoint] = {}
    for es in slices:
        for ep in es.get("endpoints") or []:
            conditions = ep.get("conditions") or {}
            for ip in ep.get("addresses") or []:
                seen.setdefault(ip, Endpoint(ip, conditions.get("ready") is not False,
                                             conditions.get("serving") is not False,
                                             bool(conditions.get("terminating")),
                                             ep.get("hostname") or ""))
    return list(seen.values())


# -- system Services --------------------------------------------------------------------------
def system_service(name: str, ns: str, cluster_ip: str, ports: list[Obj],
                   labels: dict[str, str]) -> Obj:
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": name, "namespace": ns, "labels": labels},
            "spec": {"clusterIP": cluster_ip, "clusterIPs": [cluster_ip], "ports": ports,
                     "type": "ClusterIP", "sessionAffinity": "None",
                     "ipFamilies": ["IPv4"], "ipFamilyPolicy": "SingleStack",
                     "internalTrafficPolicy": "Cluster"},
            "status": {"loadBalancer": {}}}


def kubernetes_service(cluster_ip: str, api_port: int) -> Obj:
    """`default/kubernetes`, as kube-apiserver keeps it."""
    return system_service("kubernetes", "default", cluster_ip,
                          [{"name": "https", "port": 443, "protocol": "TCP",
                            "targetPort": api_port}],
                          {"component": "apiserver", "provider": "kubernetes"})


def dns_service(cluster_ip: str) -> Obj:
    """`kube-system/kube-dns`, the cluster DNS Service of kubeadm, kind and k3s."""
    return system_service("kube-dns", "kube-system", cluster_ip,
                          [{"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                           {"name": "dns-tcp", "port": 53, "protocol": "TCP",
                            "targetPort": 53}],
                          {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true",
                           "kubernetes.io/name": "CoreDNS"})


def fixed_slice(svc: Obj, address: str, ports: list[Obj], managed_by: str) -> Obj:
    """The one slice of a Service whose backend is the node itself (kubernetes, kube-dns)."""
    ep = {"addresses": [address], "conditions": {"ready": True, "serving": True,
                                                 "terminating": False}}
    es = endpoint_slice(svc, svc["metadata"]["name"], ports, [ep], managed_by)
    es["metadata"].pop("generateName", None)
    return es


# -- environment of containers ----------------------------------------------------------------
def _env_name(name: str) -> str:
    return name.upper().replace("-", "_")


def service_env(services: list[Obj]) -> dict[str, str]:
    """envvars.FromServices: the docker-link variables of Services that have a ClusterIP."""
    env: dict[str, str] = {}
    for svc in services:
        spec = svc.get("spec") or {}
        ip = spec.get("clusterIP")
        if not ip or ip == "None" or not spec.get("ports"):
            continue
        prefix = _env_name(svc["metadata"]["name"])
        ports = spec["ports"]
        env[f"{prefix}_SERVICE_HOST"] = ip
        env[f"{prefix}_SERVICE_PORT"] = str(ports[0]["port"])
        for p in ports:
            if p.get("name"):
                env[f"{prefix}_SERVICE_PORT_{_env_name(p['name'])}"] = str(p["port"])
        first = ports[0]
        env[f"{prefix}_PORT"] = f"{(first.get('protocol') or 'TCP').lower()}://{ip}:" \
                                f"{first['port']}"
        for p in ports:
            proto = p.get("protocol") or "TCP"
            key = f"{prefix}_PORT_{p['port']}_{proto}"
            env[key] = f"{proto.lower()}://{ip}:{p['port']}"
            env[f"{key}_PROTO"] = proto.lower()
            env[f"{key}_PORT"] = str(p["port"])
            env[f"{key}_ADDR"] = ip
    return env


def pod_service_env(pod: Obj, namespace_services: list[Obj],
                    default_services: list[Obj]) -> dict[str, str]:
    """getServiceEnvVarMap: the master Service (`kubernetes` in default) always; the Pod's
    namespace's Services when enableServiceLinks (the default) is not false."""
    chosen: dict[str, Obj] = {}
    for svc in default_services:
        if svc["metadata"]["name"] == "kubernetes":
            chosen["kubernetes"] = svc
    if (pod.get("spec") or {}).get("enableServiceLinks", True) is not False:
        for svc in namespace_services:
            chosen[svc["metadata"]["name"]] = svc
    return service_env(list(chosen.values()))
