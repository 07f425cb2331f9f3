"""Pod API fidelity: decoding (types, unknown fields), defaults, quantities, validation texts."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from podhost.api import containers, defaults, errors, podupdate, quantity, schema, validation
from podhost.registry import generic


def pod(**container: Any) -> dict[str, Any]:
    c = {"name": "app", "image": "busybox:1.36", **container}
    return defaults.default_pod({"metadata": {"name": "p", "namespace": "default"},
                                 "spec": {"containers": [c]}})


def texts(obj: dict[str, Any]) -> list[str]:
    return [str(e) for e in validation.validate_pod(obj)]


@pytest.mark.parametrize("text, canonical", [
    ("1000m", "1"), ("0.5", "500m"), ("1024Mi", "1Gi"), ("1500m", "1500m"), ("1.5", "1500m"),
    ("12000", "12k"), ("1536Ki", "1536Ki"), ("1.5Gi", "1536Mi"), ("100Mi", "100Mi"),
    ("0.1n", "1n"), ("-1Gi", "-1Gi"), ("0", "0"), (1, "1"), (0.25, "250m"),
    # Go keeps the exponent format: ParseQuantity("1e3").String() == "1e3"
    ("1e3", "1e3"), ("1E6", "1e6"), ("512", "512"),
])
def test_canonical_quantity(text: Any, canonical: str) -> None:
    assert quantity.canonical(text) == canonical


@pytest.mark.parametrize("obj, message", [
    ({"spec": {"containers": "x"}},
     "json: cannot unmarshal string into Go struct field PodSpec.spec.containers of type "
     "[]v1.Container"),
    ({"spec": {"containers": [{"name": "a", "image": 5}]}},
     "json: cannot unmarshal number into Go struct field Container.spec.containers.image of "
     "type string"),
    ({"spec": "x"}, "json: cannot unmarshal string into Go struct field Pod.spec of type "
     "v1.PodSpec"),
    ({"metadata": {"labels": {"a": 1}}}, "json: cannot unmarshal number into Go struct field "
     "ObjectMeta.metadata.labels of type string"),
    ({"spec": {"containers": [{"ports": [{"containerPort": "80"}]}]}},
     "json: cannot unmarshal string into Go struct field ContainerPort.spec.containers.ports."
     "containerPort of type int32"),
    ({"spec": {"hostNetwork": "yes"}}, "json: cannot unmarshal string into Go struct field "
     "PodSpec.spec.hostNetwork of type bool"),
])
def test_type_errors_are_worded_like_go(obj: dict[str, Any], message: str) -> None:
    assert schema.type_error("Pod", obj) == message
    with pytest.raises(errors.BadRequestError) as e:
        validation.check_decodable("pods", obj)
    assert e.value.message == f'Pod in version "v1" cannot be handled as a Pod: {message}'


def manifest_with_typos() -> dict[str, Any]:
    return {"metadata": {"name": "p", "labelz": {}},
            "spec": {"containers": [{"name": "a", "image": "b", "imagee": "c"}]}}


def test_unknown_fields_strict() -> None:
    with pytest.raises(errors.BadRequestError) as e:
        validation.unknown_fields("pods", manifest_with_typos(), "Strict")
    assert e.value.message == ('Pod in version "v1" cannot be handled as a Pod: strict decoding '
                               'error: unknown field "metadata.labelz", unknown field '
                               '"spec.containers[0].imagee"')


@pytest.mark.parametrize("mode", ["Warn", None, "Ignore"])
def test_unknown_fields_dropped_in_every_mode(mode: str | None) -> None:
    obj = manifest_with_typos()
    warnings = validation.unknown_fields("pods", obj, mode)
    assert obj == {"metadata": {"name": "p"},
                   "spec": {"containers": [{"name": "a", "image": "b"}]}}
    assert warnings == ([] if mode == "Ignore" else [
        'unknown field "metadata.labelz"', 'unknown field "spec.containers[0].imagee"'])


def test_unknown_fields_of_other_kinds() -> None:
    assert validation.unknown_fields("configmaps", {"data": {"a": "b"}, "dat": 1}, "Warn") == [
        'unknown field "dat"']


def test_defaults_match_the_api_server() -> None:
    p = defaults.default_pod({"metadata": {"name": "p"}, "spec": {
        "containers": [{"name": "a", "image": "nginx", "ports": [{"containerPort": 80}],
                        "resources": {"limits": {"cpu": "1000m", "memory": "1024Mi"},
                                      "requests": {"cpu": "0.5"}},
                        "livenessProbe": {"httpGet": {"port": 80}}}],
        "volumes": [{"name": "v"}, {"name": "c", "configMap": {"name": "x"}}]}})
    c, spec = p["spec"]["containers"][0], p["spec"]
    assert c["imagePullPolicy"] == "Always"
    assert c["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert c["resources"] == {"limits": {"cpu": "1", "memory": "1Gi"},
                              "requests": {"cpu": "500m", "memory": "1Gi"}}
    assert c["livenessProbe"] == {"httpGet": {"port": 80, "path": "/", "scheme": "HTTP"},
                                  "timeoutSeconds": 1, "periodSeconds": 10,
                                  "successThreshold": 1, "failureThreshold": 3}
    assert (c["terminationMessagePath"], c["terminationMessagePolicy"]) == (
        "/dev/termination-log", "File")
    assert spec["volumes"] == [{"name": "v", "emptyDir": {}},
                               {"name": "c", "configMap": {"name": "x", "defaultMode": 420}}]
    assert (spec["restartPolicy"], spec["dnsPolicy"], spec["terminationGracePeriodSeconds"],
            spec["schedulerName"], spec["enableServiceLinks"]) == (
        "Always", "ClusterFirst", 30, "default-scheduler", True)


ENV_MSG = containers.ENV_NAME_MSG
CASES = [
    ("port range", pod(ports=[{"containerPort": 70000}]),
     ["spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and "
      "65535, inclusive"]),
    ("port protocol", pod(ports=[{"containerPort": 80, "protocol": "HTTP"}]),
     ['spec.containers[0].ports[0].protocol: Unsupported value: "HTTP": supported values: '
      '"SCTP", "TCP", "UDP"']),
    ("port name", pod(ports=[{"containerPort": 80, "name": "Web"}]),
     ['spec.containers[0].ports[0].name: Invalid value: "Web": must contain only alpha-numeric '
      'characters (a-z, 0-9), and hyphens (-)']),
    ("duplicate port name", pod(ports=[{"containerPort": 80, "name": "web"},
                                       {"containerPort": 81, "name": "web"}]),
     ['spec.containers[0].ports[1].name: Duplicate value: "web"']),
    ("env name", pod(env=[{"name": "1X", "value": "v"}]),
     [f'spec.containers[0].env[0].name: Invalid value: "1X": {ENV_MSG}']),
    ("env valueFrom", pod(env=[{"name": "X", "valueFrom": {}}]),
     ['spec.containers[0].env[0].valueFrom: Invalid value: "": must specify one of: `fieldRef`, '
      '`resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`']),
    ("envFrom", pod(envFrom=[{"prefix": "P_"}]),
     ['spec.containers[0].envFrom: Invalid value: "": must specify one of: `configMapRef` or '
      '`secretRef`']),
    ("probe handler", pod(readinessProbe={"periodSeconds": 5}),
     ["spec.containers[0].readinessProbe: Required value: must specify a handler type"]),
    ("two handlers", pod(readinessProbe={"exec": {"command": ["true"]},
                                         "tcpSocket": {"port": 80}}),
     ["spec.containers[0].readinessProbe.tcpSocket: Forbidden: may not specify more than 1 "
      "handler type"]),
    ("probe threshold", pod(livenessProbe={"exec": {"command": ["true"]},
                                           "failureThreshold": -1, "successThreshold": 2}),
     ["spec.containers[0].livenessProbe.failureThreshold: Invalid value: -1: must be greater "
      "than or equal to 0",
      "spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1"]),
    ("requests over limits", pod(resources={"limits": {"cpu": "1"}, "requests": {"cpu": "2"}}),
     ['spec.containers[0].resources.requests: Invalid value: "2": must be less than or equal '
      'to cpu limit of 1']),
    ("resource name", pod(resources={"limits": {"gpu": "1"}}),
     ['spec.containers[0].resources.limits[gpu]: Invalid value: "gpu": must be a standard '
      'resource for containers',
      'spec.containers[0].resources.requests[gpu]: Invalid value: "gpu": must be a standard '
      'resource for containers']),
    ("lifecycle", pod(lifecycle={"preStop": {"exec": {}}}),
     ["spec.containers[0].lifecycle.preStop.exec.command: Required value"]),
    ("runAsUser", pod(securityContext={"runAsUser": -1}),
     ["spec.containers[0].securityContext.runAsUser: Invalid value: -1: must be between 0 and "
      "2147483647, inclusive"]),
]


@pytest.mark.parametrize("name, obj, expected", CASES, ids=[c[0] for c in CASES])
def test_container_validation(name: str, obj: dict[str, Any], expected: list[str]) -> None:
    assert texts(obj) == expected


def test_init_container_rules() -> None:
    p = pod()
    p["spec"]["initContainers"] = [{"name": "init", "image": "b", "imagePullPolicy": "Never",
                                    "readinessProbe": {"exec": {"command": ["x"]}},
                                    "lifecycle": {"postStart": {"exec": {"command": ["x"]}}}}]
    assert texts(p) == [
        "spec.initContainers[0].lifecycle: Forbidden: may not be set for init containers "
        "without restartPolicy=Always",
        "spec.initContainers[0].readinessProbe: Forbidden: may not be set for init containers"]


def test_host_namespaces_allowed_and_other_node_refused() -> None:
    p = pod()
    p["spec"].update(hostNetwork=True, hostPID=True, hostIPC=True, nodeName="elsewhere")
    assert [str(e) for e in validation.unsupported_pod_fields(p, "here")] == [
        'spec.nodeName: Forbidden: podhost runs only the Pods of its own node "here", not of '
        'node "elsewhere"']
    p["spec"].pop("nodeName")
    generic.validate("pods", p)
    p["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "hostPort": 81,
                                            "protocol": "TCP"}]
    assert texts(p) == ["spec.containers[0].ports[0].containerPort: Invalid value: 80: must "
                        "match `hostPort` when `hostNetwork` is true"]


def test_host_ports_used_twice_in_a_pod() -> None:
    p = pod()
    c0 = p["spec"]["containers"][0]
    c0["ports"] = [{"containerPort": 80, "hostPort": 8080, "protocol": "TCP"},
                   {"containerPort": 81, "hostPort": 8080, "protocol": "UDP"}]
    p["spec"]["containers"].append({**c0, "name": "other", "ports": [
        {"containerPort": 82, "hostPort": 8080, "protocol": "TCP"},
        {"containerPort": 83, "hostPort": 8080, "hostIP": "127.0.0.1", "protocol": "TCP"}]})
    with pytest.raises(errors.InvalidError) as e:
        generic.validate("pods", p)
    assert [str(c) for c in e.value.errors] == [
        'spec.containers[1].ports[0].hostPort: Duplicate value: "TCP//8080"']


def test_update_may_change_image_only() -> None:
    old = pod()
    new = copy.deepcopy(old)
    new["spec"]["containers"][0]["image"] = "busybox:1.37"
    generic.validate("pods", new, old)
    new["spec"]["containers"][0]["command"] = ["sh"]
    with pytest.raises(errors.InvalidError) as e:
        generic.validate("pods", new, old)
    (cause,) = e.value.details()["causes"]
    assert cause["field"] == "spec"
    assert cause["message"].split("\n")[0] == (
        "Forbidden: pod updates may not change fields other than `spec.containers[*].image`,"
        "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only "
        "additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to "
        "be set to 1 if it was previously negative)")
    assert '+  spec.containers[0].command[0]: "sh"' in cause["message"]


def test_update_rules_for_deadline_and_containers() -> None:
    old = pod()
    new = copy.deepcopy(old)
    new["spec"]["containers"].append({"name": "b", "image": "x"})
    assert [str(e) for e in podupdate.pod_spec_update_errors(new["spec"], old["spec"])] == [
        "spec.containers: Forbidden: pod updates may not add or remove containers"]
    new = copy.deepcopy(old)
    new["spec"]["activeDeadlineSeconds"] = 30
    assert podupdate.pod_spec_update_errors(new["spec"], old["spec"]) == []
    newer = copy.deepcopy(new)
    newer["spec"]["activeDeadlineSeconds"] = 60
    assert [str(e) for e in podupdate.pod_spec_update_errors(newer["spec"], new["spec"])] == [
        "spec.activeDeadlineSeconds: Invalid value: 60: must be less than or equal to previous "
        "value"]


def test_security_context_cross_field_rules() -> None:
    p = pod()
    c = p["spec"]["containers"][0]
    c["securityContext"] = {"allowPrivilegeEscalation": False, "privileged": True,
                            "capabilities": {"add": ["CAP_SYS_ADMIN"]}, "procMount": "Unmasked",
                            "seccompProfile": {"type": "Localhost"},
                            "appArmorProfile": {"type": "RuntimeDefault",
                                                "localhostProfile": "x"}}
    p["spec"]["securityContext"] = {"seccompProfile": {"type": "Strict",
                                                       "localhostProfile": "p.json"}}
    with pytest.raises(errors.InvalidError) as e:
        generic.validate("pods", p)
    got = [str(err) for err in e.value.errors]
    sc = "spec.containers[0].securityContext"
    for expected in [
            f"{sc}.seccompProfile.localhostProfile: Required value: must be set when seccomp "
            "type is Localhost",
            f"{sc}.appArmorProfile.localhostProfile: Invalid value: \"x\": can only be set when "
            "AppArmor type is Localhost",
            f'{sc}.procMount: Invalid value: "Unmasked": `hostUsers` must be false to use '
            "`Unmasked`",
            'spec.securityContext.seccompProfile.type: Unsupported value: "Strict": supported '
            'values: "Localhost", "RuntimeDefault", "Unconfined"']:
        assert expected in got, got
    assert any(g.startswith(f"{sc}: Invalid value:") and g.endswith(
        "cannot set `allowPrivilegeEscalation` to false and `privileged` to true") for g in got)
    assert any(g.endswith("cannot set `allowPrivilegeEscalation` to false and "
                          "`capabilities.Add` CAP_SYS_ADMIN") for g in got)


def test_user_namespaces_and_apparmor_localhost_are_refused() -> None:
    p = pod()
    p["spec"]["hostUsers"] = False
    p["spec"]["containers"][0]["securityContext"] = {
        "appArmorProfile": {"type": "Localhost", "localhostProfile": "k8s-x"}}
    assert [str(e) for e in validation.unsupported_pod_fields(p)] == [
        "spec.hostUsers: Forbidden: podhost does not support user namespaces yet",
        "spec.containers[0].securityContext.appArmorProfile.type: Forbidden: podhost does not "
        "load AppArmor profiles"]


def test_host_ip_must_be_an_ip() -> None:
    p = pod()
    p["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "hostPort": 8080,
                                            "protocol": "TCP", "hostIP": "x } flush ruleset"}]
    with pytest.raises(errors.InvalidError) as e:
        generic.validate("pods", p)
    assert [str(c) for c in e.value.errors] == [
        'spec.containers[0].ports[0].hostIP: Invalid value: "x } flush ruleset": must be a '
        "valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"]
