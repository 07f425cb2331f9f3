"""PodTemplates (pkg/registry/core/podtemplate): the template's defaults, ValidatePodTemplate,
kubectl's columns (NAME CONTAINERS IMAGES POD LABELS)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podhost.api import columns as cols
from podhost.api import workloads
from podhost.api.errors import FieldError
from podhost.api.types import Obj
from podhost.api.workload_validation import validate_template
from podhost.registry.strategy import Strategy

COLUMNS = (cols.NAME,
           ("Containers", "string", "", 0, "Names of each container in the template."),
           ("Images", "string", "", 0, "Images referenced by each container in the template."),
           ("Pod Labels", "string", "", 0, "The labels for the pod template."))


class PodTemplateStrategy(Strategy):
    columns = COLUMNS

    def prepare_for_create(self, obj: Obj) -> None:
        workloads.default_template(obj.get("template"))

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        workloads.default_template(new.get("template"))

    def validate(self, obj: Obj) -> list[FieldError]:
        return validate_template(obj.get("template"), "template", ["Always", "OnFailure",
                                                                   "Never"])

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        template = obj.get("template") or {}
        containers = (template.get("spec") or {}).get("containers") or []
        labels = (template.get("metadata") or {}).get("labels") or {}
        return [obj["metadata"]["name"], ",".join(c.get("name", "") for c in containers),
                ",".join(c.get("image", "") for c in containers),
                ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "<none>"]


strategy = PodTemplateStrategy()
