"""From a proposed replica count to the one the HorizontalPodAutoscaler writes, pure
(pkg/controller/podautoscaler/horizontal.go): the stabilization windows over past
recommendations and the scaling policies of `behavior`, or without one the downscale
stabilization window and the default rate (double, or +4); then minReplicas and maxReplicas.
The AbleToScale and ScalingLimited reasons it gives are upstream's."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from podhost.api.types import Obj

READY = ("ReadyForNewScale", "recommended size matches current size")
UP_STABILIZED = ("ScaleUpStabilized", "recent recommendations were lower than current one, "
                 "applying the lowest recent recommendation")
DOWN_STABILIZED = ("ScaleDownStabilized", "recent recommendations were higher than current "
                   "one, applying the highest recent recommendation")
WITHIN = ("DesiredWithinRange", "the desired count is within the acceptable range")
TOO_FEW = ("TooFewReplicas", "the desired replica count is less than the minimum replica count")
TOO_MANY = ("TooManyReplicas", "the desired replica count is more than the maximum replica "
            "count")
UP_LIMIT = ("ScaleUpLimit", "the desired replica count is increasing faster than the maximum "
            "scale rate")
DOWN_LIMIT = ("ScaleDownLimit", "the desired replica count is decreasing faster than the "
              "maximum scale rate")


@dataclass
class History:
    """What the controller remembers of one autoscaler between syncs."""
    recommendations: list[tuple[datetime, int]] = field(default_factory=list)
    scale_ups: list[tuple[datetime, int]] = field(default_factory=list)
    scale_downs: list[tuple[datetime, int]] = field(default_factory=list)

    def record_scale(self, old: int, new: int, now: datetime) -> None:
        events = self.scale_ups if new > old else self.scale_downs
        events.append((now, abs(new - old)))


@dataclass(frozen=True)
class Outcome:
    replicas: int
    able: tuple[str, str]  # the AbleToScale reason and message
    limited: bool
    limit: tuple[str, str]  # the ScalingLimited reason and message


def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _stabilize(history: History, proposal: int, current: int, now: datetime,
               up_window: float, down_window: float) -> int:
    """The lowest recommendation of the scale-up window and the highest of the scale-down
    window bound the proposal (stabilizeRecommendationWithBehaviors)."""
    up = down = proposal
    for at, replicas in history.recommendations:
        if at > now - timedelta(seconds=up_window):
            up = min(up, replicas)
        if at > now - timedelta(seconds=down_window):
            down = max(down, replicas)
    longest = max(up_window, down_window)
    history.recommendations = [r for r in history.recommendations
                               if r[0] > now - timedelta(seconds=longest)]
    history.recommendations.append((now, proposal))
    result = current
    if result < up:
        result = up
    if result > down:
        result = down
    return result


def _highest(history: History, proposal: int, now: datetime, window: float) -> int:
    cutoff = now - timedelta(seconds=window)
    history.recommendations = [r for r in history.recommendations if r[0] > cutoff]
    highest = max([proposal, *(r for _, r in history.recommendations)])
    history.recommendations.append((now, proposal))
    return highest


def _changed_in(events: list[tuple[datetime, int]], period: int, now: datetime) -> int:
    return sum(change for at, change in events if at > now - timedelta(seconds=period))


def _limit(rules: Obj, history: History, current: int, now: datetime, up: bool) -> int:
    """calculateScaleUpLimitWithScalingRules / calculateScaleDownLimitWithBehaviors."""
    select = rules.get("selectPolicy") or "Max"
    if select == "Disabled":
        return current
    # scaling down, the least change (Min) is the largest count
    pick = (min if select == "Min" else max) if up else (max if select == "Min" else min)
    proposals = []
    for policy in rules.get("policies") or []:
        period = int(policy.get("periodSeconds") or 0)
        start = current - _changed_in(history.scale_ups, period, now) + \
            _changed_in(history.scale_downs, period, now)
        value = int(policy.get("value") or 0)
        if policy.get("type") == "Pods":
            proposals.append(start + value if up else start - value)
        elif up:
            proposals.append(math.ceil(start * (1 + value / 100)))
        else:
            proposals.append(int(start * (1 - value / 100)))
    return pick(proposals) if proposals else current


def _with_rates(behavior: Obj, history: History, current: int, desired: int, low: int,
                high: int, now: datetime) -> tuple[int, tuple[str, str]]:
    """convertDesiredReplicasWithBehaviorRate."""
    if desired > current:
        limit = max(_limit(_dict(behavior.get("scaleUp")), history, current, now, True),
                    current)
        allowed, reason = (limit, UP_LIMIT) if high > limit else (high, TOO_MANY)
        if desired > allowed:
            return allowed, reason
    elif desired < current:
        limit = min(_limit(_dict(behavior.get("scaleDown")), history, current, now, False),
                    current)
        allowed, reason = (limit, DOWN_LIMIT) if low < limit else (low, TOO_FEW)
        if desired < allowed:
            return allowed, reason
    return desired, WITHIN


def _with_rules(current: int, desired: int, low: int, high: int) -> tuple[int, tuple[str, str]]:
    """convertDesiredReplicasWithRules: no behavior, at most double (or 4) at once."""
    up_limit = max(2 * current, 4)
    allowed, reason = (up_limit, UP_LIMIT) if high > up_limit else (high, TOO_MANY)
    if desired < low:
        return low, TOO_FEW
    if desired > allowed:
        return allowed, reason
    return desired, WITHIN


def normalize(spec: Obj, history: History, current: int, proposal: int, now: datetime,
              downscale_window: float) -> Outcome:
    """normalizeDesiredReplicas(WithBehaviors): the replicas to write and why."""
    low, high = int(spec.get("minReplicas") or 1), int(spec.get("maxReplicas") or 1)
    behavior = spec.get("behavior")
    if isinstance(behavior, dict):
        up = _dict(behavior.get("scaleUp"))
        down = _dict(behavior.get("scaleDown"))
        up_window = float(up.get("stabilizationWindowSeconds") or 0)
        window = down.get("stabilizationWindowSeconds")
        down_window = float(window if window is not None else downscale_window)
        stabilized = _stabilize(history, proposal, current, now, up_window, down_window)
    else:  # stabilizeRecommendation: the highest recommendation of the downscale window
        stabilized = _highest(history, proposal, now, downscale_window)
    able = READY if stabilized == proposal else \
        (UP_STABILIZED if stabilized < proposal else DOWN_STABILIZED)
    if isinstance(behavior, dict):
        desired, limit = _with_rates(behavior, history, current, stabilized, low, high, now)
    else:
        desired, limit = _with_rules(current, stabilized, low, high)
    return Outcome(desired, able, desired != stabilized, limit)
