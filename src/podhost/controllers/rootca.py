"""kube-controller-manager's root-ca-cert-publisher: the ConfigMap kube-root-ca.crt, holding the
cluster's CA bundle, in every namespace that is not Terminating, made again when deleted."""

from __future__ import annotations

from collections.abc import Iterable

from podhost.api import errors
from podhost.api.storage import ObjectStore
from podhost.api.types import Obj
from podhost.controllers.controller import Controller, Watch
from podhost.registry import generic
from podhost.registry.client import Client
from podhost.store.watch import Event

CONFIGMAP = "kube-root-ca.crt"
DESCRIPTION = ("Contains a CA bundle that can be used to verify the kube-apiserver when "
               "using internal endpoints such as the internal service IP or "
               "kubernetes.default.svc. No other usage is guaranteed across "
               "distributions of Kubernetes clusters.")


def root_ca_configmap(ns: str, ca_bundle: str) -> Obj:
    """The ConfigMap the publisher puts in namespace `ns`."""
    obj: Obj = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": CONFIGMAP, "namespace": ns,
                             "annotations": {"kubernetes.io/description": DESCRIPTION}},
                "data": {"ca.crt": ca_bundle}}
    return obj


def _namespace(event: Event) -> Iterable[str]:
    if event.type != "DELETED" and not generic.namespace_terminating(event.object):
        yield event.object["metadata"]["name"]


def _deleted_configmap(event: Event) -> Iterable[str]:
    if event.type == "DELETED":
        yield event.object["metadata"]["namespace"]


def _is_root_ca(obj: Obj) -> bool:
    return bool(obj["metadata"].get("name") == CONFIGMAP)


class RootCAPublisher(Controller):
    name = "root-ca-cert-publisher"

    def __init__(self, store: ObjectStore | Client, ca_bundle: str) -> None:
        super().__init__(store)
        self.ca_bundle = ca_bundle

    def watches(self) -> list[Watch]:
        return [Watch("namespaces", _namespace),
                Watch("configmaps", _deleted_configmap, _is_root_ca)]

    def reconcile(self, key: str) -> float | None:
        try:
            ns = self.store.get("namespaces", "", key)
        except errors.NotFoundError:
            return None
        if generic.namespace_terminating(ns):
            return None
        try:
            self.store.get("configmaps", key, CONFIGMAP)
        except errors.NotFoundError:
            self.store.create("configmaps", root_ca_configmap(key, self.ca_bundle))
        return None
