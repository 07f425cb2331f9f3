"""The list and watch options of a collection GET: resourceVersion, resourceVersionMatch and
the watch-list stream (`sendInitialEvents=true`), validated as the API server does
(apimachinery's ValidateListOptions, WatchList enabled as in 1.32).

A watch-list sends the current state as ADDED events, then, when the client allows bookmarks,
a BOOKMARK whose object carries the annotation `k8s.io/initial-events-end: "true"`: client-go's
reflector (Helm 4's `--wait`) takes the list as complete only when it sees it.
"""

from __future__ import annotations

from dataclasses import dataclass

from podhost.api import errors
from podhost.apiserver.http import Request

INITIAL_EVENTS_END = "k8s.io/initial-events-end"
NOT_OLDER_THAN = "NotOlderThan"
EXACT = "Exact"


@dataclass(frozen=True)
class WatchOptions:
    since: int | None  # events after this resourceVersion; None: from now
    initial: bool  # the current objects first, as ADDED events
    end_bookmark: bool  # then the annotated bookmark


def _flag(value: str | None) -> bool | None:
    """A boolean query parameter as Go's strconv.ParseBool reads it; None when absent."""
    if value is None:
        return None
    if value in ("1", "t", "T", "true", "TRUE", "True"):
        return True
    if value in ("0", "f", "F", "false", "FALSE", "False", ""):
        return False
    raise errors.BadRequestError(f'sendInitialEvents: Invalid value: "{value}": '
                                 f'strconv.ParseBool: parsing "{value}": invalid syntax')


def _resource_version(request: Request) -> int | None:
    """The resourceVersion parameter: None (and "0") mean "any", else a non-negative integer."""
    rv_arg = request.arg("resourceVersion") or ""
    if rv_arg not in ("", "0") and not rv_arg.isdigit():
        raise errors.BadRequestError(f'resourceVersion: Invalid value: "{rv_arg}": '
                                     "must be a non-negative integer")
    return int(rv_arg) if rv_arg not in ("", "0") else None


def validate(request: Request, watch: bool) -> None:
    """422 `ListOptions.meta.k8s.io "" is invalid` for inconsistent list/watch options."""
    match = request.arg("resourceVersionMatch") or ""
    send_initial = _flag(request.arg("sendInitialEvents"))
    has_continue = bool(request.arg("continue"))
    errs: list[errors.FieldError] = []
    if watch:
        if send_initial is not None and match != NOT_OLDER_THAN:
            errs.append(errors.forbidden("resourceVersionMatch", "sendInitialEvents requires "
                                         f"setting resourceVersionMatch to {NOT_OLDER_THAN}"))
        if match:
            if send_initial is None:
                errs.append(errors.forbidden("resourceVersionMatch", "resourceVersionMatch is "
                                             "forbidden for watch unless sendInitialEvents is "
                                             "provided"))
            if match != NOT_OLDER_THAN:
                errs.append(errors.not_supported("resourceVersionMatch", match,
                                                 [NOT_OLDER_THAN]))
            if has_continue:
                errs.append(_forbidden_with_continue())
    else:
        if match:
            if not request.arg("resourceVersion"):
                errs.append(errors.forbidden("resourceVersionMatch", "resourceVersionMatch is "
                                             "forbidden unless resourceVersion is provided"))
            if has_continue:
                errs.append(_forbidden_with_continue())
            if match not in (EXACT, NOT_OLDER_THAN):
                errs.append(errors.not_supported("resourceVersionMatch", match,
                                                 [EXACT, NOT_OLDER_THAN, ""]))
            if match == EXACT and request.arg("resourceVersion") == "0":
                errs.append(errors.forbidden("resourceVersionMatch", 'resourceVersionMatch '
                                             '"exact" is forbidden for resourceVersion "0"'))
        if send_initial is not None:
            errs.append(errors.forbidden("sendInitialEvents",
                                         "sendInitialEvents is forbidden for list"))
    if errs:
        raise errors.InvalidError("ListOptions.meta.k8s.io", "", errs)


def _forbidden_with_continue() -> errors.FieldError:
    return errors.forbidden("resourceVersionMatch",
                            "resourceVersionMatch is forbidden when continue is provided")


def watch_options(request: Request) -> WatchOptions:
    """What a (valid) watch request asks for.

    sendInitialEvents=true: the current state (which is never older than any resourceVersion
    asked for), then the annotated bookmark when bookmarks are allowed. sendInitialEvents=false:
    the events after resourceVersion, or from now. Without it (the legacy watch): with no
    resourceVersion (or "0") the current state first, else the events after it.
    """
    validate(request, watch=True)
    since = _resource_version(request)
    send_initial = _flag(request.arg("sendInitialEvents"))
    if send_initial:
        return WatchOptions(None, True, request.flag("allowWatchBookmarks"))
    if send_initial is False:
        return WatchOptions(since, False, False)
    return WatchOptions(since, since is None, False)


def bookmark_object(kind: str, api_version: str, rv: int,
                    initial_events_end: bool) -> dict[str, object]:
    """The object of a BOOKMARK event: an empty object of the kind with its resourceVersion."""
    metadata: dict[str, object] = {"resourceVersion": str(rv)}
    if initial_events_end:
        metadata["annotations"] = {INITIAL_EVENTS_END: "true"}
    return {"kind": kind, "apiVersion": api_version, "metadata": metadata}
