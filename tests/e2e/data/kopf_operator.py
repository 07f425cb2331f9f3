"""A kopf operator for tests/e2e/test_crd_kopf.py: a Pet gets a ConfigMap and a status."""

import kopf
import kubernetes


@kopf.on.startup()
def configure(settings: kopf.OperatorSettings, **_: object) -> None:
    settings.watching.server_timeout = 30
    kubernetes.config.load_kube_config()


@kopf.on.create("kopf.example.com", "v1", "pets")
def create_fn(spec: dict, name: str, namespace: str, body: dict, **_: object) -> dict:
    config_map = {"apiVersion": "v1", "kind": "ConfigMap",
                  "metadata": {"name": f"{name}-pet"}, "data": {"sound": spec["sound"]}}
    kopf.adopt(config_map, owner=body)
    kubernetes.client.CoreV1Api().create_namespaced_config_map(namespace, config_map)
    return {"configMap": f"{name}-pet"}


@kopf.on.field("kopf.example.com", "v1", "pets", field="spec.sound")
def sound_changed(new: str, name: str, namespace: str, patch: kopf.Patch, **_: object) -> None:
    kubernetes.client.CoreV1Api().patch_namespaced_config_map(
        f"{name}-pet", namespace, {"data": {"sound": new}})
    patch.status["sound"] = new
