"""The PodSecurity plugin's configuration: PodSecurityConfiguration
(pod-security.admission.config.k8s.io/v1, v1beta1) with its defaults and exemptions, read from
an AdmissionConfiguration file (`podhost serve --admission-control-config-file`, inline or
through `path`) or made from `--pod-security-default LEVEL`."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podhost import yamljson
from podhost.api.podsecurity.levels import LevelVersion, Policy, parse_level, parse_version

GROUP = "pod-security.admission.config.k8s.io"
VERSIONS = (f"{GROUP}/v1", f"{GROUP}/v1beta1")
ADMISSION_VERSIONS = ("apiserver.config.k8s.io/v1", "apiserver.config.k8s.io/v1alpha1",
                      "apiserver.k8s.io/v1alpha1")


class ConfigError(ValueError):
    """A configuration kube-apiserver would refuse to start with."""


@dataclass(frozen=True)
class Config:
    defaults: Policy = Policy()
    usernames: frozenset[str] = frozenset()
    namespaces: frozenset[str] = frozenset()
    runtime_classes: frozenset[str] = frozenset()
    source: str = field(default="default", compare=False)


def from_level(level: str) -> Config:
    """`--pod-security-default LEVEL`: every mode at LEVEL:latest."""
    try:
        lv = LevelVersion(parse_level(level))
    except ValueError as e:
        raise ConfigError(f'--pod-security-default "{level}": {e}') from None
    return Config(Policy(lv, lv, lv), source=f"--pod-security-default {level}")


def from_file(path: Path) -> Config:
    """The PodSecurity plugin's configuration in an AdmissionConfiguration file (or a
    PodSecurityConfiguration file itself)."""
    try:
        doc = yamljson.load(path.read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: {e}") from None
    if isinstance(doc, dict) and doc.get("kind") == "AdmissionConfiguration":
        if doc.get("apiVersion") not in ADMISSION_VERSIONS:
            raise ConfigError(f'{path}: no kind "AdmissionConfiguration" is registered for '
                              f'version "{doc.get("apiVersion")}"')
        plugin = next((p for p in doc.get("plugins") or []
                       if isinstance(p, dict) and p.get("name") == "PodSecurity"), None)
        if plugin is None:
            return Config(source=str(path))
        if plugin.get("path"):
            target = Path(plugin["path"])
            return from_file(target if target.is_absolute() else path.parent / target)
        doc = plugin.get("configuration")
    return from_object(doc, str(path))


def from_object(doc: Any, source: str) -> Config:
    if not isinstance(doc, dict) or doc.get("kind") != "PodSecurityConfiguration" or \
            doc.get("apiVersion") not in VERSIONS:
        raise ConfigError(f"{source}: the PodSecurity configuration must be a "
                          f"PodSecurityConfiguration of {' or '.join(VERSIONS)}")
    defaults, exemptions = doc.get("defaults") or {}, doc.get("exemptions") or {}
    errs, modes = [], {}
    for mode in ("enforce", "warn", "audit"):
        level, version = defaults.get(mode) or "privileged", \
            defaults.get(f"{mode}-version") or "latest"
        try:
            lv_level = parse_level(str(level))
        except ValueError as e:
            errs.append(f'defaults.{mode}: Invalid value: "{level}": {e}')
            continue
        try:
            modes[mode] = LevelVersion(lv_level, parse_version(str(version)))
        except ValueError as e:
            errs.append(f'defaults.{mode}-version: Invalid value: "{version}": {e}')
    lists = {}
    for key in ("usernames", "namespaces", "runtimeClasses"):
        values = exemptions.get(key) or []
        for i, value in enumerate(values):
            if not isinstance(value, str) or not value:
                errs.append(f"exemptions.{key}[{i}]: Invalid value: {value!r}: must be a "
                            "non-empty string")
            elif values.index(value) != i:
                errs.append(f'exemptions.{key}[{i}]: Duplicate value: "{value}"')
        lists[key] = frozenset(v for v in values if isinstance(v, str))
    if errs:
        raise ConfigError(f"{source}: invalid PodSecurity configuration: " + ", ".join(errs))
    return Config(Policy(**modes), lists["usernames"], lists["namespaces"],
                  lists["runtimeClasses"], source)
