"""Admission of Ingresses and IngressClasses, in the order kube-apiserver runs it: the mutating
DefaultIngressClass plugin (an Ingress created without a class gets the default one), then
validation (api/ingress.py). Nothing is stored when anything fails."""

from __future__ import annotations

import contextlib

from podhost.api import errors, ingress, meta, registry, strategy
from podhost.api.errors import FieldError
from podhost.api.types import Obj
from podhost.store.sqlite import Store


def admit(store: Store, resource: str, obj: Obj, old: Obj | None) -> None:
    """Mutate, validate `obj` (a create when `old` is None)."""
    if resource == "ingresses" and old is None:
        ingress.admit_default_class(obj, store.list("ingressclasses")[0])
    name = obj["metadata"].get("name", "")
    errs: list[FieldError] = []
    if not name:
        errs.append(errors.required("metadata.name", "name or generateName is required"))
    else:
        errs += [errors.invalid("metadata.name", name, m)
                 for m in meta.dns1123_subdomain_errors(name)]
    if resource == "ingresses":
        errs += ingress.validate_ingress(obj, old)
    else:
        errs += ingress.validate_class(obj, old)
    if errs:
        raise errors.InvalidError(f"{registry.kind_of(resource)}.networking.k8s.io", name, errs)


def seed_default_class(store: Store) -> None:
    """The IngressClass `podhost` of the built-in controller, marked default, made once (a
    user may unmark it or delete it; it comes back only when it is gone)."""
    obj = strategy.prepare_for_create("ingressclasses", ingress.podhost_class(), None)
    with contextlib.suppress(errors.AlreadyExistsError):
        store.create("ingressclasses", obj)
