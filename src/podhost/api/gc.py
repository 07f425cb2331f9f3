"""Garbage-collection rules of a delete (DeleteOptions.propagationPolicy), as the generic
registry store applies them before the garbage collector takes over:

* Background: the object goes (or is marked) as usual; the collector deletes its dependents
  once it is gone.
* Foreground: the object is kept with the `foregroundDeletion` finalizer until the collector
  has deleted its dependents (those with `blockOwnerDeletion` first).
* Orphan: the object is kept with the `orphan` finalizer until the collector has removed the
  object from its dependents' ownerReferences.

Pure functions over wire dicts.
"""

from __future__ import annotations

from typing import Any

from podhost.api import errors
from podhost.api.types import Obj

ORPHAN = "orphan"
FOREGROUND = "foregroundDeletion"
POLICIES = ["Foreground", "Background", "Orphan"]
def propagation_policy(options: Obj, default: str = "Background") -> str:
    """The policy a delete asks for, or the resource's DefaultGarbageCollectionPolicy."""
    policy: Any = options.get("propagationPolicy")
    orphan = options.get("orphanDependents")
    if policy is not None and orphan is not None:
        raise errors.InvalidError("DeleteOptions", "", [errors.invalid(
            "propagationPolicy", policy, "orphanDependents and deletionPropagation cannot be "
            "both set")])
    if policy is not None:
        if policy not in POLICIES:
            raise errors.InvalidError("DeleteOptions", "", [errors.not_supported(
                "propagationPolicy", policy, POLICIES)])
        return str(policy)
    if orphan is not None:
        return "Orphan" if orphan else "Background"
    return default


def add_finalizer(obj: Obj, policy: str) -> None:
    """Mark an object being deleted for the collector (not one already being deleted)."""
    m = obj["metadata"]
    if policy == "Background" or m.get("deletionTimestamp"):
        return
    wanted, other = (ORPHAN, FOREGROUND) if policy == "Orphan" else (FOREGROUND, ORPHAN)
    finalizers = [f for f in m.get("finalizers") or [] if f != other]
    if wanted not in finalizers:
        finalizers.append(wanted)
    m["finalizers"] = finalizers


def controller_ref(obj: Obj) -> Obj | None:
    """The ownerReference with controller: true, if any."""
    for ref in obj.get("metadata", {}).get("ownerReferences") or []:
        if isinstance(ref, dict) and ref.get("controller"):
            return ref
    return None
