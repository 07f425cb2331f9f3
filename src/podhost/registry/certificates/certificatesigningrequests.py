"""CertificateSigningRequests (pkg/registry/certificates/certificates): the requester's
identity filled in on create, an immutable spec, conditions through `/approval` (kubectl
certificate approve|deny), the certificate through `/status` (the signer's), kubectl's
columns."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from podhost.api import csr
from podhost.api.errors import FieldError
from podhost.api.types import Obj
from podhost.registry.strategy import Context, Strategy


class CertificateSigningRequestStrategy(Strategy):
    columns = csr.COLUMNS

    def prepare_for_create(self, obj: Obj) -> None:
        obj["status"] = {}

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        new["spec"] = copy.deepcopy(old.get("spec", {}))
        new["status"] = copy.deepcopy(old.get("status", {}))

    def mutate(self, ctx: Context, obj: Obj, old: Obj | None) -> None:
        if old is None and ctx.user is not None:
            csr.set_requester(obj, ctx.user.name, list(ctx.user.groups), ctx.user.uid)

    def prepare_for_subresource_update(self, subresource: str, new: Obj, old: Obj) -> Obj:
        if subresource != "approval":
            result = super().prepare_for_subresource_update(subresource, new, old)
            conditions = (old.get("status") or {}).get("conditions")
            if conditions is not None and "conditions" not in result["status"]:
                result["status"]["conditions"] = conditions
            return result
        result = copy.deepcopy(old)  # only the conditions change
        result.setdefault("status", {})["conditions"] = \
            (new.get("status") or {}).get("conditions") or []
        return result

    def validate(self, obj: Obj) -> list[FieldError]:
        return csr.validate(obj)

    def validate_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return []  # the spec and status are the stored ones

    def validate_status_update(self, new: Obj, old: Obj) -> list[FieldError]:
        return csr.approval_errors(new, old)

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return csr.cells(obj, now)


strategy = CertificateSigningRequestStrategy()
