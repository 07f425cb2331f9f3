"""Validating and mutating webhook configurations: defaults, validation, WEBHOOKS column."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podhost.api import admissionregistration, extensiontables
from podhost.api.errors import FieldError
from podhost.api.types import Obj
from podhost.registry.strategy import Strategy


class WebhookConfigurationStrategy(Strategy):
    columns = extensiontables.WEBHOOK_COLUMNS
    admission_exempt = True

    def __init__(self, mutating: bool) -> None:
        self.mutating = mutating

    def prepare_for_create(self, obj: Obj) -> None:
        admissionregistration.default_webhooks(obj, self.mutating)

    def prepare_for_update(self, new: Obj, old: Obj) -> None:
        admissionregistration.default_webhooks(new, self.mutating)

    def validate(self, obj: Obj) -> list[FieldError]:
        return admissionregistration.validate_webhooks(obj)

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return extensiontables.webhook_cells(obj, now)
