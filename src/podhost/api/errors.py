"""The one error hierarchy of the API, each error knowing its metav1.Status.

    ApiError                    500 InternalError (base)
    ├── BadRequestError         400 BadRequest
    ├── UnauthorizedError       401 Unauthorized
    ├── ForbiddenError          403 Forbidden
    ├── NotFoundError           404 NotFound
    ├── MethodNotAllowedError   405 MethodNotAllowed
    ├── AlreadyExistsError      409 AlreadyExists
    ├── ConflictError           409 Conflict
    ├── GoneError               410 Expired
    ├── RequestTooLargeError    413 RequestEntityTooLarge
    ├── UnsupportedMediaError   415 UnsupportedMediaType
    ├── InvalidError            422 Invalid (carries field errors)
    └── InternalError           500 InternalError

Inner layers raise these; the HTTP edge renders them with `to_status()` exactly once.
The constructors named `of` take a resource (or, for Invalid, a kind) and qualify it with its
API group from the registry, as apimachinery's NewNotFound(schema.GroupResource, …) does:
`deployments.apps "web" not found` with `details: {name, group: apps, kind: deployments}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from podhost.api import registry


@dataclass(frozen=True, slots=True)
class FieldError:
    """One validation failure, as apimachinery's field.Error."""

    type: str  # FieldValueRequired, FieldValueInvalid, FieldValueNotFound, ...
    field: str
    detail: str = ""
    value: Any = None
    has_value: bool = False

    _BODIES: ClassVar[dict[str, str]] = {
        "FieldValueRequired": "Required value",
        "FieldValueNotFound": "Not found",
        "FieldValueDuplicate": "Duplicate value",
        "FieldValueInvalid": "Invalid value",
        "FieldValueNotSupported": "Unsupported value",
        "FieldValueForbidden": "Forbidden",
        "FieldValueTooLong": "Too long",
        "FieldValueTooMany": "Too many",
        "InternalError": "Internal error",
        "FieldValueTypeInvalid": "Invalid value",
    }

    def body(self) -> str:
        """The message after `field: `, as field.Error.ErrorBody() renders it."""
        text = self._BODIES.get(self.type, self.type)
        if self.has_value and self.type not in ("FieldValueRequired", "FieldValueForbidden",
                                                "FieldValueTooLong", "InternalError"):
            text += ": " + _render_value(self.value)
        if self.detail:
            text += ": " + self.detail
        return text

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"


def _render_value(value: Any) -> str:
    """Values print as Go's %#v for strings (quoted) and %v for numbers and booleans."""
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def required(field: str, detail: str = "") -> FieldError:
    return FieldError("FieldValueRequired", field, detail)


def invalid(field: str, value: Any, detail: str = "") -> FieldError:
    return FieldError("FieldValueInvalid", field, detail, value, True)


def not_found(field: str, value: Any) -> FieldError:
    return FieldError("FieldValueNotFound", field, "", value, True)


def duplicate(field: str, value: Any) -> FieldError:
    return FieldError("FieldValueDuplicate", field, "", value, True)


def not_supported(field: str, value: Any, valid: list[str]) -> FieldError:
    detail = "supported values: " + ", ".join(f'"{v}"' for v in valid) if valid else ""
    return FieldError("FieldValueNotSupported", field, detail, value, True)


def forbidden(field: str, detail: str) -> FieldError:
    return FieldError("FieldValueForbidden", field, detail)


class ApiError(Exception):
    """Base of every error the API returns; renders as a metav1.Status."""

    code: ClassVar[int] = 500
    reason: ClassVar[str] = "InternalError"

    def __init__(self, message: str, *, kind: str = "", name: str = "", group: str = "",
                 details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.name = name
        self.group = group or (details or {}).get("group", "")
        self.extra_details = {k: v for k, v in (details or {}).items() if k != "group"}

    def details(self) -> dict[str, Any] | None:
        """metav1.StatusDetails, its fields in the API's order (name, group, kind, causes)."""
        details: dict[str, Any] = {}
        if self.name:
            details["name"] = self.name
        if self.group:
            details["group"] = self.group
        if self.kind:
            details["kind"] = self.kind
        details.update(self.extra_details)
        return details or None

    def to_status(self) -> dict[str, Any]:
        status: dict[str, Any] = {"kind": "Status", "apiVersion": "v1", "metadata": {},
                                  "status": "Failure", "message": self.message,
                                  "reason": self.reason}
        details = self.details()
        if details is not None or self.code == 404:  # a bare 404 still has `details: {}`
            status["details"] = details or {}  # (kubectl debug reads its name)
        status["code"] = self.code
        return status


class BadRequestError(ApiError):
    code, reason = 400, "BadRequest"


class UnauthorizedError(ApiError):
    code, reason = 401, "Unauthorized"


class ForbiddenError(ApiError):
    code, reason = 403, "Forbidden"

    @classmethod
    def of(cls, resource: str, name: str, cause: str,
           details: dict[str, Any] | None = None) -> ForbiddenError:
        """NewForbidden: `deployments.apps "x" is forbidden: <cause>` (no name: without it)."""
        group, qualified = qualify_resource(resource)
        what = f'{qualified} "{name}"' if name else qualified
        return cls(f"{what} is forbidden: {cause}", kind=resource, name=name, group=group,
                   details=details)


class NotFoundError(ApiError):
    code, reason = 404, "NotFound"

    @classmethod
    def of(cls, resource: str, name: str) -> NotFoundError:
        group, qualified = qualify_resource(resource)
        return cls(f'{qualified} "{name}" not found', kind=resource, name=name, group=group)


class MethodNotAllowedError(ApiError):
    code, reason = 405, "MethodNotAllowed"


class AlreadyExistsError(ApiError):
    code, reason = 409, "AlreadyExists"

    @classmethod
    def of(cls, resource: str, name: str) -> AlreadyExistsError:
        group, qualified = qualify_resource(resource)
        return cls(f'{qualified} "{name}" already exists', kind=resource, name=name,
                   group=group)


class ConflictError(ApiError):
    code, reason = 409, "Conflict"

    @classmethod
    def of(cls, resource: str, name: str, cause: str) -> ConflictError:
        """NewConflict: `Operation cannot be fulfilled on deployments.apps "x": <cause>`."""
        group, qualified = qualify_resource(resource)
        return cls(f'Operation cannot be fulfilled on {qualified} "{name}": {cause}',
                   kind=resource, name=name, group=group)

    @classmethod
    def modified(cls, resource: str, name: str) -> ConflictError:
        """The optimistic-concurrency conflict of a stale resourceVersion."""
        return cls.of(resource, name, "the object has been modified; please apply your "
                      "changes to the latest version and try again")


class GoneError(ApiError):
    code, reason = 410, "Expired"


class RequestTooLargeError(ApiError):
    code, reason = 413, "RequestEntityTooLarge"


class UnsupportedMediaError(ApiError):
    code, reason = 415, "UnsupportedMediaType"


class RejectedError(ApiError):
    """422 as apierrors.NewGenericServerResponse(422, ...) (a JSON patch that cannot be
    applied): the fixed message, the reason in details.causes."""

    code, reason = 422, "Invalid"

    def __init__(self, cause: str) -> None:
        super().__init__("the server rejected our request due to an error in our request",
                         details={"causes": [{"message": cause}]})


class TooManyRequestsError(ApiError):
    """429, as apierrors.NewTooManyRequests: the client retries after `retry_after` seconds
    (details.retryAfterSeconds and the Retry-After header)."""

    code, reason = 429, "TooManyRequests"

    def __init__(self, message: str, retry_after: int = 1) -> None:
        super().__init__(message, details={"retryAfterSeconds": retry_after})
        self.retry_after = retry_after


class RequestTimeoutError(ApiError):
    """504, as apierrors.NewTimeoutError: the request did not finish in its time."""

    code, reason = 504, "Timeout"


class InternalError(ApiError):
    code, reason = 500, "InternalError"


class InvalidError(ApiError):
    """422: the object failed validation; kubectl rebuilds its text from details.causes."""

    code, reason = 422, "Invalid"

    def __init__(self, kind: str, name: str, errors: list[FieldError]) -> None:
        """kind: a served kind (`Deployment`, qualified here as `Deployment.apps`) or a kind
        already qualified with its group (`PatchOptions.meta.k8s.io`)."""
        self.errors = errors
        kind, _, group = kind.partition(".")
        if not group:
            served = registry.by_kind(kind)
            group = served.group if served is not None else ""
        qualified = f"{kind}.{group}" if group else kind
        super().__init__(f'{qualified} "{name}" is invalid: {_aggregate(errors)}', kind=kind,
                         name=name, group=group)

    def details(self) -> dict[str, Any]:
        causes = [{"reason": e.type, "message": e.body(), "field": e.field} for e in self.errors]
        details: dict[str, Any] = {"name": self.name}
        if self.group:
            details["group"] = self.group
        return {**details, "kind": self.kind, "causes": causes}


def qualify_resource(resource: str) -> tuple[str, str]:
    """(group, `resource.group`) of a served resource, as schema.GroupResource.String()."""
    served = registry.get(resource)
    return (served.group if served is not None else ""), registry.qualified(resource)


def _aggregate(errors: list[FieldError]) -> str:
    """utilerrors.NewAggregate(...).Error(): one error plain, several in brackets."""
    texts = [str(e) for e in errors]
    return texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
