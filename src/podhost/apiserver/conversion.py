"""CRD conversion webhooks (strategy `Webhook`): a ConversionReview POSTed over HTTPS with the
admission webhooks' client (apiserver/webhooks.py: caBundle, URL or Service target, kept-alive
connections). apiserver/crds.py gives each served custom resource with that strategy a
`Converter.convert` bound to its CRD; reads convert stored objects to the request's version,
writes convert the request's object to the storage version before it is stored."""

from __future__ import annotations

import uuid

from podhost.api import errors
from podhost.api.apiextensions import conversion
from podhost.api.apiextensions import strategy as custom
from podhost.api.types import Obj
from podhost.apiserver import webhooks
from podhost.apiserver.http import Request
from podhost.store.sqlite import Store

TIMEOUT_SECONDS = 30  # the conversion client has no per-CRD timeout


class Converter:
    def __init__(self, store: Store) -> None:
        self.client = webhooks.Webhooks(store)

    def convert(self, crd: Obj, objects: list[Obj], desired: str,
                listed: bool = False) -> list[Obj]:
        """`objects` (a list's items when `listed`) at apiVersion `desired` (those already
        there are kept as they are)."""
        todo = [o for o in objects if o.get("apiVersion") != desired]
        if not todo:
            return objects
        uid = str(uuid.uuid4())
        webhook = crd["spec"]["conversion"].get("webhook") or {}
        hook = {"clientConfig": webhook.get("clientConfig") or {},
                "timeoutSeconds": TIMEOUT_SECONDS}
        try:
            answer = self.client.post(hook, conversion.review(crd, todo, desired, uid))
            done = iter(conversion.converted(crd, todo, desired, uid, answer, listed))
        except ValueError as e:
            reason = str(e).removeprefix("failed to call webhook: ")
            raise errors.InternalError(f"conversion webhook for {conversion.gvk(todo[0])} "
                                       f"failed: {reason}") from None
        except conversion.ConversionError as e:
            raise errors.InternalError(str(e)) from None
        return [o if o.get("apiVersion") == desired else next(done) for o in objects]


def _request_api_version(resource: str, request: Request) -> str:
    """The apiVersion of the URL (/apis/GROUP/VERSION/...)."""
    served = custom.get(resource)
    parts = request.path.split("/")
    version = parts[3] if len(parts) > 3 and parts[1] == "apis" else ""
    return f"{served.group}/{version}" if served is not None and version else ""


def to_storage(resource: str, obj: Obj, request: Request) -> Obj:
    """A written object (at its apiVersion, else the URL's) at the storage version: a
    webhook-converted custom resource's; any other object as it is."""
    served = custom.get(resource)
    if served is None or served.converter is None or not isinstance(obj.get("metadata"), dict):
        return obj
    at = obj.get("apiVersion") or _request_api_version(resource, request)
    return served.converter([{**obj, "kind": served.kind, "apiVersion": at}],
                            f"{served.group}/{served.version['name']}")[0]


def at_request_version(resource: str, obj: Obj | None, request: Request) -> Obj | None:
    """A stored object at the URL's version (what a patch there applies to)."""
    served = custom.get(resource)
    if served is None or served.converter is None or obj is None:
        return obj
    return served.converter([obj], _request_api_version(resource, request) or
                            str(obj.get("apiVersion")))[0]
