"""Names for the shapes every layer passes around."""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]
"""A Kubernetes object (or any part of one) as decoded JSON."""
