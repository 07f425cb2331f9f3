"""Service defaults, validation and allocation, and what the EndpointSlice controller and
kubelet compute from Services (pure)."""

from __future__ import annotations

import ipaddress
import random
from typing import Any

import pytest

from podhost.api import endpoints, errors, service
from podhost.api.types import Obj
from podhost.registry import generic

CIDR = ipaddress.IPv4Network("10.96.0.0/12")


def svc(name: str = "web", **spec: Any) -> Obj:
    obj: Obj = {"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": name, "namespace": "default", "uid": f"uid-{name}"},
                "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}], **spec}}
    return service.default_service(obj)


def texts(errs: list[errors.FieldError]) -> list[str]:
    return [str(e) for e in errs]


def test_defaults_as_the_api_server_fills_them() -> None:
    s = svc(ports=[{"port": 80, "name": "http"}], type="NodePort", sessionAffinity="ClientIP")
    spec = s["spec"]
    assert spec["ports"][0] == {"port": 80, "name": "http", "protocol": "TCP", "targetPort": 80}
    assert spec["internalTrafficPolicy"] == "Cluster"
    assert spec["externalTrafficPolicy"] == "Cluster"
    assert spec["sessionAffinityConfig"] == {"clientIP": {"timeoutSeconds": 10800}}
    assert s["status"] == {"loadBalancer": {}}


@pytest.mark.parametrize(("spec", "expected"), [
    ({"ports": []}, ["spec.ports: Required value"]),
    ({"ports": [{"port": 0}]},
     ["spec.ports[0].port: Invalid value: 0: must be between 1 and 65535, inclusive",
      "spec.ports[0].targetPort: Invalid value: 0: must be between 1 and 65535, inclusive"]),
    ({"ports": [{"port": 80, "name": "a"}, {"port": 81}]}, ["spec.ports[1].name: Required value"]),
    ({"ports": [{"port": 80, "name": "a"}, {"port": 81, "name": "a"}]},
     ['spec.ports[1].name: Duplicate value: "a"']),
    ({"type": "Foo"}, ['spec.type: Unsupported value: "Foo": supported values: "ClusterIP", '
                       '"ExternalName", "LoadBalancer", "NodePort"']),
    ({"ports": [{"port": 80, "nodePort": 30001}]},
     ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]),
    ({"clusterIP": "abc"}, ['spec.clusterIPs[0]: Invalid value: "abc": must be empty, '
                            "'None', or a valid IP address"]),
    ({"type": "ExternalName", "ports": []}, ["spec.externalName: Required value"]),
    ({"sessionAffinity": "Sticky"}, ['spec.sessionAffinity: Unsupported value: "Sticky": '
                                     'supported values: "ClientIP", "None"']),
    ({"ports": [{"port": 80, "protocol": "ICMP"}]},
     ['spec.ports[0].protocol: Unsupported value: "ICMP": supported values: "SCTP", "TCP", '
      '"UDP"']),
])
def test_validation_in_the_api_servers_words(spec: dict[str, Any], expected: list[str]) -> None:
    assert texts(service.validate_service(svc(**spec))) == expected


def test_a_headless_service_needs_no_ports_and_names_start_with_a_letter() -> None:
    assert service.validate_service(svc(clusterIP="None", ports=[])) == []
    bad = svc("1web")
    bad["metadata"]["namespace"] = "default"
    with pytest.raises(errors.InvalidError) as e:
        generic.validate("services", bad)
    [err] = e.value.errors
    assert str(err).startswith('metadata.name: Invalid value: "1web": a DNS-1035 label')


def test_allocation_gives_an_address_of_the_range_and_keeps_it() -> None:
    s = svc(type="NodePort")
    assert service.assign(s, None, CIDR, set(), set(), random.Random(1)) == []
    ip = s["spec"]["clusterIP"]
    assert ipaddress.IPv4Address(ip) in CIDR and s["spec"]["clusterIPs"] == [ip]
    assert 30000 <= s["spec"]["ports"][0]["nodePort"] <= 32767
    assert s["spec"]["ipFamilies"] == ["IPv4"]
    again = svc(type="NodePort")
    assert service.assign(again, s, CIDR, {ip}, set(), random.Random(2)) == []
    assert again["spec"]["clusterIP"] == ip
    assert again["spec"]["ports"][0]["nodePort"] == s["spec"]["ports"][0]["nodePort"]


def test_dynamic_addresses_avoid_the_static_band() -> None:
    small = ipaddress.IPv4Network("10.0.0.0/24")
    ips = set()
    for seed in range(50):
        s = svc()
        service.assign(s, None, small, set(), set(), random.Random(seed))
        ips.add(s["spec"]["clusterIP"])
    assert all(int(ipaddress.IPv4Address(ip)) - int(small.network_address) > 16 for ip in ips)


def test_allocation_errors() -> None:
    out = svc(clusterIP="10.0.0.5")
    assert texts(service.assign(out, None, CIDR, set(), set(), random.Random())) == [
        'spec.clusterIPs: Invalid value: []string{"10.0.0.5"}: failed to allocate IP 10.0.0.5: '
        "the provided IP (10.0.0.5) is not in the valid range. The range of valid IPs is "
        "10.96.0.0/12"]
    taken = svc(clusterIP="10.96.0.20")
    assert texts(service.assign(taken, None, CIDR, {"10.96.0.20"}, set(), random.Random())) == [
        'spec.clusterIPs: Invalid value: []string{"10.96.0.20"}: failed to allocate IP '
        "10.96.0.20: provided IP is already allocated"]
    low = svc(type="NodePort", ports=[{"port": 80, "nodePort": 80}])
    assert texts(service.assign(low, None, CIDR, set(), set(), random.Random())) == [
        "spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. "
        "The range of valid ports is 30000-32767"]
    used = svc(type="NodePort", ports=[{"port": 80, "nodePort": 30080}])
    assert texts(service.assign(used, None, CIDR, set(), {(30080, "TCP")},
                                random.Random())) == [
        "spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated"]


def test_a_cluster_ip_may_not_change() -> None:
    old = svc(clusterIP="10.96.0.20")
    new = svc(clusterIP="10.96.0.21")
    assert texts(service.validate_service_update(new, old)) == [
        'spec.clusterIPs[0]: Invalid value: "10.96.0.21": may not change once set']


def pod(name: str, ip: str, ready: bool = True, **extra: Any) -> Obj:
    return {"metadata": {"name": name, "namespace": "default", "uid": f"u-{name}",
                         "labels": {"app": "web"}, **extra.pop("metadata", {})},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "ports": [
                {"containerPort": 8080, "name": "http"}]}], **extra.pop("spec", {})},
            "status": {"phase": "Running", "podIP": ip, "conditions": [
                {"type": "Ready", "status": "True" if ready else "False"}]}}


def test_slices_list_pods_with_conditions_and_named_ports() -> None:
    s = svc(ports=[{"port": 80, "targetPort": "http", "name": "web"}])
    pods = [pod("a", "10.244.0.2"), pod("b", "10.244.0.3", ready=False),
            pod("c", "10.244.0.4", metadata={"deletionTimestamp": "2026-01-01T00:00:00Z"}),
            pod("d", "", ), pod("e", "10.244.0.6", metadata={"labels": {"app": "other"}})]
    [(ports, eps)] = endpoints.desired_slices(s, pods)
    assert ports == [{"name": "web", "port": 8080, "protocol": "TCP"}]
    assert [(e["addresses"][0], e["conditions"]) for e in eps] == [
        ("10.244.0.2", {"ready": True, "serving": True, "terminating": False}),
        ("10.244.0.3", {"ready": False, "serving": False, "terminating": False}),
        ("10.244.0.4", {"ready": False, "serving": True, "terminating": True})]
    es = endpoints.endpoint_slice(s, endpoints.slice_name(s, 0), ports, eps)
    assert es["metadata"]["labels"][endpoints.SERVICE_NAME_LABEL] == "web"
    assert es["metadata"]["ownerReferences"][0]["kind"] == "Service"
    backends = endpoints.slice_backends([es], "web", "TCP")
    assert [(b.ip, b.ready, port) for b, port in backends] == [
        ("10.244.0.2", True, 8080), ("10.244.0.3", False, 8080), ("10.244.0.4", False, 8080)]


def test_headless_hostnames_and_publish_not_ready() -> None:
    s = svc("db", clusterIP="None", publishNotReadyAddresses=True)
    p = pod("db-0", "10.244.0.9", ready=False, spec={"hostname": "db-0", "subdomain": "db"})
    [(_, [ep])] = endpoints.desired_slices(s, [p])
    assert ep["hostname"] == "db-0" and ep["conditions"]["ready"] is True


def test_service_links_as_kubelet_sets_them() -> None:
    web = svc(ports=[{"port": 80, "name": "http"}], clusterIP="10.96.0.20")
    kube = endpoints.kubernetes_service("10.96.0.1", 6443)
    headless = svc("db", clusterIP="None")
    p = {"metadata": {"namespace": "default"}, "spec": {}}
    env = endpoints.pod_service_env(p, [web, kube, headless], [web, kube, headless])
    assert env["WEB_SERVICE_HOST"] == "10.96.0.20" and env["WEB_SERVICE_PORT_HTTP"] == "80"
    assert env["WEB_PORT_80_TCP"] == "tcp://10.96.0.20:80"
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1"
    assert env["KUBERNETES_SERVICE_PORT"] == "443"
    assert not any(k.startswith("DB_") for k in env)
    p["spec"]["enableServiceLinks"] = False
    env = endpoints.pod_service_env(p, [web, kube], [web, kube])
    assert "WEB_SERVICE_HOST" not in env and "KUBERNETES_SERVICE_HOST" in env


def test_a_port_and_protocol_twice_is_a_duplicate() -> None:
    s = svc(ports=[{"port": 80, "name": "a"}, {"port": 80, "name": "b"},
                   {"port": 80, "name": "c", "protocol": "UDP"}])
    assert texts(service.validate_service(s)) == [
        'spec.ports[1]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", '
        "AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, "
        'StrVal:""}, NodePort:0}']


def test_an_update_drops_what_the_new_type_has_no_use_for() -> None:
    old = svc(type="NodePort", clusterIP="10.96.0.20",
              ports=[{"port": 80, "nodePort": 30080}])
    new = svc(type="ClusterIP", clusterIP="10.96.0.20",
              ports=[{"port": 80, "nodePort": 30080}], externalTrafficPolicy="Cluster")
    service.normalize_update(new, old)
    assert "nodePort" not in new["spec"]["ports"][0]
    assert "externalTrafficPolicy" not in new["spec"]
    assert service.validate_service_update(new, old) == []
    moved = svc(clusterIP="10.96.0.20")
    moved["spec"]["clusterIP"] = "10.96.0.21"
    service.normalize_update(moved, svc(clusterIP="10.96.0.20"))
    assert texts(service.validate_service_update(moved, svc(clusterIP="10.96.0.20"))) == [
        'spec.clusterIPs[0]: Invalid value: "10.96.0.21": may not change once set']
