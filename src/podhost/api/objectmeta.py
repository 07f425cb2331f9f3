"""ObjectMeta validation for every kind, once: apimachinery's ValidateObjectMeta (name or
generateName, namespace, generation, labels, annotations, ownerReferences, finalizers) and
ValidateObjectMetaUpdate, with the API server's messages and field paths.

Pure; a kind chooses only how its name is checked (`NameFn`: NameIsDNSSubdomain,
NameIsDNSLabel, path segments) and whether the core group's finalizer-name rule applies.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from podhost.api import errors, meta
from podhost.api.errors import FieldError
from podhost.api.types import Obj

NameFn = Callable[[str, bool], list[str]]  # (name, prefix) -> messages
TOTAL_ANNOTATION_SIZE = 256 * 1024  # TotalAnnotationSizeLimitB
_QNAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_QNAME_RE = re.compile(f"^{_QNAME_FMT}$")
_QNAME_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', and must start and "
              "end with an alphanumeric character")
_LABEL_VALUE_FMT = f"({_QNAME_FMT})?"
_LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric "
                    "characters, '-', '_' or '.', and must start and end with an alphanumeric "
                    "character")
STANDARD_FINALIZERS = frozenset({"kubernetes", "orphan", "foregroundDeletion"})
BANNED_OWNERS = frozenset({("events.k8s.io", "Event"), ("", "Event")})


def regex_error(msg: str, fmt: str, *examples: str) -> str:
    """validation.RegexError: the message, its examples and the regex."""
    if not examples:
        return f"{msg} (regex used for validation is '{fmt}')"
    shown = " or ".join(f"'{e}', " for e in examples)
    return f"{msg} (e.g. {shown}regex used for validation is '{fmt}')"


def qualified_name_errors(value: str) -> list[str]:
    """IsQualifiedName: `[prefix/]name`, the prefix a DNS subdomain."""
    errs: list[str] = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs += ["prefix part " + m for m in meta.dns1123_subdomain_errors(prefix)]
    else:
        return ["a qualified name " + regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name",
                                                  "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > 63:
        errs.append("name part must be no more than 63 characters")
    if not _QNAME_RE.match(name):
        errs.append("name part " + regex_error(_QNAME_MSG, _QNAME_FMT, "MyName", "my.name",
                                               "123-abc"))
    return errs


def label_value_errors(value: str) -> list[str]:
    """IsValidLabelValue."""
    errs = []
    if len(value) > 63:
        errs.append("must be no more than 63 characters")
    if not re.match(f"^{_LABEL_VALUE_FMT}$", value):
        errs.append(regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value",
                                "12345"))
    return errs


def _mask_trailing_dash(name: str, prefix: bool) -> str:
    return name[:-1] + "a" if prefix and len(name) > 1 and name.endswith("-") else name


def dns_subdomain(name: str, prefix: bool) -> list[str]:
    """NameIsDNSSubdomain."""
    return meta.dns1123_subdomain_errors(_mask_trailing_dash(name, prefix))


def dns_label(name: str, prefix: bool) -> list[str]:
    """NameIsDNSLabel."""
    return meta.dns1123_label_errors(_mask_trailing_dash(name, prefix))


def path_segment(name: str, prefix: bool) -> list[str]:
    """path.ValidatePathSegmentName (RBAC objects)."""
    if not prefix and name in (".", ".."):
        return [f"may not be '{name}'"]
    return [f"may not contain '{c}'" for c in "/%" if c in name]


def labels_errors(labels: Any, path: str) -> list[FieldError]:
    """ValidateLabels."""
    errs: list[FieldError] = []
    if not isinstance(labels, dict):
        return errs
    for key, value in labels.items():
        errs += [errors.invalid(path, key, m) for m in qualified_name_errors(str(key))]
        errs += [errors.invalid(path, value, m) for m in label_value_errors(str(value))]
    return errs


def annotations_errors(annotations: Any, path: str) -> list[FieldError]:
    """ValidateAnnotations: qualified keys, 256 KiB in all."""
    errs: list[FieldError] = []
    if not isinstance(annotations, dict):
        return errs
    size = 0
    for key, value in annotations.items():
        errs += [errors.invalid(path, key, m) for m in qualified_name_errors(str(key).lower())]
        size += len(str(key).encode()) + len(str(value).encode())
    if size > TOTAL_ANNOTATION_SIZE:
        errs.append(errors.FieldError("FieldValueTooLong", path,
                                      f"may not be more than {TOTAL_ANNOTATION_SIZE} bytes",
                                      "", True))
    return errs


def finalizers_errors(finalizers: Any, path: str, core: bool) -> list[FieldError]:
    """ValidateFinalizers (and, for the built-in kinds, validateKubeFinalizerName)."""
    errs: list[FieldError] = []
    if not isinstance(finalizers, list):
        return errs
    for i, f in enumerate(finalizers):
        value = str(f)
        errs += [errors.invalid(path, value, m) for m in qualified_name_errors(value)]
        if core and "/" not in value and value not in STANDARD_FINALIZERS:
            errs.append(errors.invalid(f"{path}[{i}]", value, "name is neither a standard "
                                       "finalizer name nor is it fully qualified"))
    if "orphan" in finalizers and "foregroundDeletion" in finalizers:
        errs.append(errors.invalid(path, _go_strings(finalizers), "finalizer orphan and "
                                   "foregroundDeletion cannot be both set"))
    return errs


def _go_strings(values: list[Any]) -> str:
    return "[]string{" + ", ".join(json.dumps(str(v)) for v in values) + "}"


def owner_references_errors(refs: Any, path: str) -> list[FieldError]:
    """ValidateOwnerReferences: each complete, no banned owner, at most one controller."""
    errs: list[FieldError] = []
    if not isinstance(refs, list):
        return errs
    controllers = []
    for ref in refs:
        if not isinstance(ref, dict):
            continue
        api_version = str(ref.get("apiVersion") or "")
        group, _, version = api_version.rpartition("/")
        if not version:
            errs.append(errors.invalid(f"{path}.apiVersion", api_version,
                                       "version must not be empty"))
        if not ref.get("kind"):
            errs.append(errors.invalid(f"{path}.kind", ref.get("kind") or "",
                                       "kind must not be empty"))
        if not ref.get("name"):
            errs.append(errors.invalid(f"{path}.name", ref.get("name") or "",
                                       "name must not be empty"))
        if not ref.get("uid"):
            errs.append(errors.invalid(f"{path}.uid", ref.get("uid") or "",
                                       "uid must not be empty"))
        if (group, ref.get("kind")) in BANNED_OWNERS and version:
            errs.append(errors.invalid(path, ref, f"{api_version}, Kind={ref.get('kind')} is "
                                       "disallowed from being an owner"))
        if ref.get("controller") is True:
            controllers.append(f"{ref.get('kind')}/{ref.get('name')}")
    if len(controllers) > 1:
        errs.append(errors.invalid(path, refs, "Only one reference can have Controller set to "
                                   "true. Found \"true\" in references for "
                                   + " and ".join(controllers)))
    return errs


def validate(m: Obj, namespaced: bool, name_fn: NameFn = dns_subdomain,
             core: bool = True) -> list[FieldError]:
    """ValidateObjectMeta of a new (or updated) object's metadata."""
    errs: list[FieldError] = []
    generate = m.get("generateName") or ""
    if generate:
        errs += [errors.invalid("metadata.generateName", generate, msg)
                 for msg in name_fn(str(generate), True)]
    name = m.get("name") or ""
    if not name:
        errs.append(errors.required("metadata.name", "name or generateName is required"))
    else:
        errs += [errors.invalid("metadata.name", name, msg) for msg in name_fn(str(name), False)]
    ns = m.get("namespace") or ""
    if namespaced:
        if not ns:
            errs.append(errors.required("metadata.namespace"))
        else:
            errs += [errors.invalid("metadata.namespace", ns, msg)
                     for msg in meta.dns1123_label_errors(str(ns))]
    elif ns:
        errs.append(errors.forbidden("metadata.namespace", "not allowed on this type"))
    generation = m.get("generation")
    if isinstance(generation, int) and generation < 0:
        errs.append(errors.invalid("metadata.generation", generation,
                                   "must be greater than or equal to 0"))
    errs += labels_errors(m.get("labels"), "metadata.labels")
    errs += annotations_errors(m.get("annotations"), "metadata.annotations")
    errs += owner_references_errors(m.get("ownerReferences"), "metadata.ownerReferences")
    errs += finalizers_errors(m.get("finalizers"), "metadata.finalizers", core)
    return errs


def update_errors(new_m: Obj, old_m: Obj) -> list[FieldError]:
    """ValidateObjectMetaUpdate's checks on what may not change, after BeforeUpdate kept the
    identity (an empty uid keeps the stored one; timestamps are kept by the strategy)."""
    errs = []
    uid = new_m.get("uid")
    if uid and uid != old_m.get("uid"):
        errs.append(errors.invalid("metadata.uid", uid, "field is immutable"))
    if old_m.get("deletionTimestamp"):
        added = [f for f in new_m.get("finalizers") or [] if f not in
                 (old_m.get("finalizers") or [])]
        if added:
            found = ", ".join(f'"{f}"' for f in added)
            errs.append(errors.forbidden("metadata.finalizers", "no new finalizers can be added "
                                         "if the object is being deleted, found new "
                                         f"finalizers []string{{{found}}}"))
    return errs
