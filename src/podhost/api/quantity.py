"""resource.Quantity: parsing and canonical printing as Kubernetes does it."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from podhost.api import errors

QUANTITY_RE = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
            "k": Decimal("1e3"), "M": Decimal("1e6"), "G": Decimal("1e9"), "T": Decimal("1e12"),
            "P": Decimal("1e15"), "E": Decimal("1e18")}
PARSE_ERROR = ("quantities must match the regular expression "
               "'^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'")


class QuantityError(ValueError):
    pass


def parse_decimal(text: str) -> Decimal:
    """The exact value of a quantity string; raises QuantityError like ParseQuantity."""
    m = QUANTITY_RE.match(text.strip()) if isinstance(text, str) else None
    if not m or text.strip() in ("", "."):
        raise QuantityError(PARSE_ERROR)
    number, suffix = m.groups()
    try:
        value = Decimal(number)
    except InvalidOperation as e:
        raise QuantityError(PARSE_ERROR) from e
    if suffix in _BINARY:
        return value * _BINARY[suffix]
    if suffix in _DECIMAL:
        return value * _DECIMAL[suffix]
    if suffix[:1] in "eE" and re.fullmatch(r"[eE][-+]?[0-9]+", suffix):
        return value * (Decimal(10) ** int(suffix[1:]))
    raise QuantityError("unable to parse quantity's suffix")


def parse(text: str) -> float:
    return float(parse_decimal(text))


def parse_bytes(text: str | int) -> int:
    """A quantity as a whole number of bytes (rounded up, as Value() does)."""
    if isinstance(text, int):
        return text
    value = parse_decimal(text)
    return int(value) if value == int(value) else int(value) + 1


def check(text: object, field: str, kind: str = "Pod") -> None:
    """Raise the decode-time BadRequest a bad quantity gives on a real API server."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return
    try:
        parse_decimal(str(text))
    except QuantityError as e:
        raise errors.BadRequestError(
            f'{kind} in version "v1" cannot be handled as a {kind}: {e}') from None
