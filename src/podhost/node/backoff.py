"""Crash-loop back-off as kubelet keys it per container: 10 s doubling to 5 min, reset after
10 min of running. Pure; time is passed in."""

from __future__ import annotations

from dataclasses import dataclass, field

INITIAL = 10.0
MAXIMUM = 300.0
RESET_AFTER = 600.0


@dataclass
class BackOff:
    initial: float = INITIAL
    maximum: float = MAXIMUM
    entries: dict[str, tuple[float, float]] = field(default_factory=dict)  # key -> (delay, last)

    def in_backoff(self, key: str, now: float) -> float:
        """Seconds left to wait before the next restart of key (0: may restart now)."""
        entry = self.entries.get(key)
        if entry is None:
            return 0.0
        delay, last = entry
        return max(0.0, last + delay - now)

    def next(self, key: str, now: float, ran_for: float = 0.0) -> None:
        """Record a restart at `now`: the first one is free, each later one doubles the wait."""
        entry = self.entries.get(key)
        if entry is None or ran_for >= RESET_AFTER:
            self.entries[key] = (self.initial, now)
        else:
            self.entries[key] = (min(entry[0] * 2, self.maximum), now)

    def delay(self, key: str) -> float:
        entry = self.entries.get(key)
        return entry[0] if entry else 0.0

    def forget(self, prefix: str) -> None:
        for key in [k for k in self.entries if k.startswith(prefix)]:
            del self.entries[key]
