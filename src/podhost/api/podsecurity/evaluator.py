"""The check registry and evaluation of k8s.io/pod-security-admission/policy: which checks a
level:version runs (baseline's, or restricted's with the baseline checks it does not override),
in upstream's order (baseline check IDs sorted, then restricted's), and the aggregated
reason/detail texts of the failures."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from podhost.api.podsecurity import baseline, restricted
from podhost.api.podsecurity.checks import Check, CheckFn, Forbidden, Version
from podhost.api.podsecurity.levels import BASELINE, PRIVILEGED, LevelVersion
from podhost.api.types import Obj

CHECKS: list[Check] = [*baseline.CHECKS, *restricted.CHECKS]
MAX_VERSION = max(v.minimum for c in CHECKS for v in c.versions)  # (1, 32)
_ORDER = sorted(c.id for c in CHECKS if c.level == BASELINE) + \
    sorted(c.id for c in CHECKS if c.level != BASELINE)
_BY_ID = {c.id: c for c in CHECKS}


@dataclass(frozen=True)
class Aggregate:
    """AggregateCheckResult: the failed checks' reasons and details, in check order."""

    failures: tuple[Forbidden, ...] = ()

    @property
    def allowed(self) -> bool:
        return not self.failures

    def forbidden_reason(self) -> str:
        return ", ".join(f.reason or "unknown forbidden reason" for f in self.failures)

    @functools.cached_property
    def detail(self) -> str:
        return ", ".join((f.reason or "unknown forbidden reason")
                         + (f" ({f.detail})" if f.detail else "") for f in self.failures)

    def forbidden_detail(self) -> str:
        """`host namespaces (hostPID=true), privileged (container "c" must not set …)`."""
        return self.detail


def _applicable(check: Check, version: tuple[int, int]) -> Version | None:
    found = None
    for v in check.versions:
        if v.minimum <= version:
            found = v
    return found


_CACHE: dict[LevelVersion, list[CheckFn]] = {}


def checks_for(lv: LevelVersion) -> list[CheckFn]:
    """The check functions a level:version runs, in order."""
    if lv.level == PRIVILEGED:
        return []
    version = min(lv.version, MAX_VERSION)
    key = LevelVersion(lv.level, version)
    if key not in _CACHE:
        chosen = {cid: v for cid in _ORDER
                  if (lv.level != BASELINE or _BY_ID[cid].level == BASELINE)
                  and (v := _applicable(_BY_ID[cid], version)) is not None}
        overridden = {o for v in chosen.values() for o in v.overrides}
        _CACHE[key] = [v.check for cid, v in chosen.items() if cid not in overridden]
    return _CACHE[key]


def evaluate(lv: LevelVersion, meta: Obj, spec: Obj) -> Aggregate:
    """The pod (or pod template) metadata and spec against level:version."""
    return Aggregate(tuple(r for check in checks_for(lv) if (r := check(meta, spec)) is not None))
