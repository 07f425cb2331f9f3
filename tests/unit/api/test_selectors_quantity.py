from __future__ import annotations

import pytest

from podhost.api import errors, quantity, selectors


def obj(name, labels):
    return {"metadata": {"name": name, "labels": labels}, "status": {"phase": "Running"}}


def test_label_and_field_selectors() -> None:
    match = selectors.matcher("app=web,tier in (a, b),!legacy", "metadata.name=x")
    assert match(obj("x", {"app": "web", "tier": "a"}))
    assert not match(obj("x", {"app": "web", "tier": "c"}))
    assert not match(obj("y", {"app": "web", "tier": "a"}))
    assert not match(obj("x", {"app": "web", "tier": "a", "legacy": "1"}))
    assert selectors.matcher("env", None)(obj("x", {"env": ""}))
    assert selectors.matcher(None, "status.phase!=Pending")(obj("x", {}))


def test_unknown_field_selector_is_refused() -> None:
    with pytest.raises(errors.BadRequestError):
        selectors.matcher(None, "spec.bogus=1", frozenset({"metadata.name"}))


@pytest.mark.parametrize("text,value", [("40Mi", 40 * 2**20), ("1e3", 1000), ("0.5", 0.5),
                                        ("500m", 0.5), ("1Gi", 2**30), ("2k", 2000)])
def test_quantities(text: str, value: float) -> None:
    assert quantity.parse(text) == value


def test_bad_quantity() -> None:
    with pytest.raises(quantity.QuantityError):
        quantity.parse_decimal("abc")
