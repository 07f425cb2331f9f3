"""Pod Security levels, versions and the namespace policy read from its labels, as
k8s.io/pod-security-admission/api: `pod-security.kubernetes.io/<mode>` and `<mode>-version`
for the modes enforce, audit and warn."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, replace

from podhost.api import errors

PRIVILEGED, BASELINE, RESTRICTED = "privileged", "baseline", "restricted"
LEVELS = (PRIVILEGED, BASELINE, RESTRICTED)
PREFIX = "pod-security.kubernetes.io/"
MODES = ("enforce", "audit", "warn")
LATEST = (1 << 30, 0)  # newer than any release
_VERSION = re.compile(r"^v1\.([0-9]|[1-9][0-9]*)$")


@dataclass(frozen=True, slots=True)
class LevelVersion:
    level: str = PRIVILEGED
    version: tuple[int, int] = LATEST

    def __str__(self) -> str:
        version = "latest" if self.version == LATEST else f"v{self.version[0]}.{self.version[1]}"
        return f"{self.level}:{version}"

    def equivalent(self, other: LevelVersion) -> bool:
        return (self.level == PRIVILEGED and other.level == PRIVILEGED) or self == other


@dataclass(frozen=True, slots=True)
class Policy:
    enforce: LevelVersion = LevelVersion()
    audit: LevelVersion = LevelVersion()
    warn: LevelVersion = LevelVersion()

    def fully_privileged(self) -> bool:
        return all(lv.level == PRIVILEGED for lv in (self.enforce, self.audit, self.warn))

    def equivalent(self, other: Policy) -> bool:
        return all(getattr(self, m).equivalent(getattr(other, m)) for m in MODES)


def compare_levels(a: str, b: str) -> int:
    return LEVELS.index(a) - LEVELS.index(b) if a != b else 0


def parse_level(level: str) -> str:
    if level not in LEVELS:
        raise ValueError(f"must be one of {', '.join(LEVELS)}")
    return level


def parse_version(version: str) -> tuple[int, int]:
    if version == "latest":
        return LATEST
    m = _VERSION.match(version)
    if m is None:
        raise ValueError('must be "latest" or "v1.x"')
    return (1, int(m.group(1)))


def policy_from_labels(labels: dict[str, str] | None, defaults: Policy
                       ) -> tuple[Policy, list[errors.FieldError]]:
    """PolicyToEvaluate: the namespace's policy over the defaults, and the labels' errors.
    A bad enforce level enforces restricted; bad audit and warn levels fail open; warn follows
    a stricter enforce level when it is not set itself."""
    ours = tuple(sorted((k, v) for k, v in (labels or {}).items() if k.startswith(PREFIX)))
    if not ours:
        return defaults, []
    policy, errs = _policy(ours, defaults)
    return policy, list(errs)


@functools.lru_cache(maxsize=1024)
def _policy(items: tuple[tuple[str, str], ...], defaults: Policy
            ) -> tuple[Policy, tuple[errors.FieldError, ...]]:
    labels = dict(items)
    errs: list[errors.FieldError] = []
    modes = {m: getattr(defaults, m) for m in MODES}
    for mode in MODES:
        level_key, version_key = PREFIX + mode, f"{PREFIX}{mode}-version"
        if level_key in labels:
            try:
                modes[mode] = replace(modes[mode], level=parse_level(labels[level_key]))
            except ValueError as e:
                errs.append(_invalid(level_key, labels[level_key], e))
                modes[mode] = replace(modes[mode],
                                      level=RESTRICTED if mode == "enforce" else PRIVILEGED)
        if version_key in labels:
            try:
                modes[mode] = replace(modes[mode], version=parse_version(labels[version_key]))
            except ValueError as e:
                errs.append(_invalid(version_key, labels[version_key], e))
                modes[mode] = replace(modes[mode], version=LATEST)
    enforce_set = PREFIX + "enforce" in labels and not any(
        e.field == f"metadata.labels[{PREFIX}enforce]" for e in errs)
    if PREFIX + "warn" not in labels and enforce_set and \
            compare_levels(modes["enforce"].level, modes["warn"].level) > 0:
        version = modes["warn"].version if f"{PREFIX}warn-version" in labels \
            else modes["enforce"].version
        modes["warn"] = LevelVersion(modes["enforce"].level, version)
    return Policy(**modes), tuple(errs)


def _invalid(key: str, value: str, e: ValueError) -> errors.FieldError:
    return errors.invalid(f"metadata.labels[{key}]", value, str(e))
