"""`kubectl get roles,rolebindings,clusterroles,clusterrolebindings` columns, as the API
server's table printers make them (pkg/printers/internalversion: printRole, printRoleBinding,
printClusterRole, printClusterRoleBinding)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from podhost.api.columns import AGE, NAME, Column, age
from podhost.api.types import Obj

ROLE_COLUMNS: list[Column] = [
    NAME,
    ("Created At", "date", "", 0, "CreationTimestamp is a timestamp representing the server "
     "time when this object was created."),
]
BINDING_COLUMNS: list[Column] = [
    NAME,
    ("Role", "string", "", 0, "RoleRef can reference a Role in the current namespace or a "
     "ClusterRole in the global namespace."),
    AGE,
    ("Users", "string", "", 1, "Users in the roleBinding"),
    ("Groups", "string", "", 1, "Groups in the roleBinding"),
    ("ServiceAccounts", "string", "", 1, "ServiceAccounts in the roleBinding"),
]


def role_cells(o: Obj, now: datetime) -> list[Any]:
    return [o["metadata"]["name"], o["metadata"].get("creationTimestamp", "")]


def binding_cells(o: Obj, now: datetime) -> list[Any]:
    ref = o.get("roleRef") or {}
    subjects = o.get("subjects") or []

    def names(kind: str) -> str:
        return ", ".join(
            (f"{s.get('namespace', '')}/{s.get('name', '')}" if kind == "ServiceAccount"
             else str(s.get("name", ""))) for s in subjects if s.get("kind") == kind)
    return [o["metadata"]["name"], f"{ref.get('kind', '')}/{ref.get('name', '')}", age(o, now),
            names("User"), names("Group"), names("ServiceAccount")]


