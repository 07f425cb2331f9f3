"""Ingresses (pkg/registry/networking/ingress), with the DefaultIngressClass admission plugin
kube-apiserver runs for them: an Ingress created with neither `ingressClassName` nor the
`kubernetes.io/ingress.class` annotation gets the default IngressClass."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podhost.api import ingress, ingresstable
from podhost.api.errors import FieldError
from podhost.api.types import Obj
from podhost.registry.strategy import Context, Strategy


class IngressStrategy(Strategy):
    columns = ingresstable.INGRESS_COLUMNS

    def prepare_for_create(self, obj: Obj) -> None:
        super().prepare_for_create(obj)
        ingress.prepare_create(obj)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        super().prepare_for_update(new, old)
        ingress.prepare_update(new, old)

    def mutate(self, ctx: Context, obj: Obj, old: Obj | None) -> None:
        if old is None:
            ingress.admit_default_class(obj, ctx.store.list("ingressclasses")[0])

    def validate(self, obj: Obj) -> list[FieldError]:
        return ingress.validate_ingress(obj)

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return ingress.validate_ingress(new, old)

    def validate_status_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return ingress.validate_status(new)

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return ingresstable.ingress_cells(obj, now)


strategy = IngressStrategy()
