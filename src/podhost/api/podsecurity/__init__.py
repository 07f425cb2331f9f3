"""Pod Security admission as k8s.io/pod-security-admission (1.32): the levels and the namespace
labels (levels.py), the baseline and restricted checks (baseline.py, restricted.py), their
registry and evaluation (evaluator.py), the admission decision (admission.py) and the plugin's
configuration (config.py). Pure: no store, no I/O but reading a configuration file."""

from __future__ import annotations

from podhost.api.podsecurity.config import Config

_current = Config()


def configure(config: Config) -> None:
    """The process's PodSecurity configuration (set by `podhost serve`; the default is a
    cluster's without one: privileged everywhere, no exemptions)."""
    global _current
    _current = config


def current() -> Config:
    return _current
