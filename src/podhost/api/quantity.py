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


_DECIMAL_SUFFIXES = {-9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T",
                     15: "P", 18: "E"}
_BINARY_SUFFIXES = {0: "", 10: "Ki", 20: "Mi", 30: "Gi", 40: "Ti", 50: "Pi", 60: "Ei"}
_NANO = Decimal("1e-9")


def _format_of(text: str) -> str:
    """BinarySI, DecimalExponent or DecimalSI, from the suffix the value was written with."""
    m = QUANTITY_RE.match(text.strip())
    if m is None:
        raise QuantityError(PARSE_ERROR)
    suffix = m.group(2)
    if suffix in _BINARY:
        return "BinarySI"
    return "DecimalExponent" if suffix[:1] in ("e", "E") else "DecimalSI"


def _decimal_parts(value: Decimal) -> tuple[int, int]:
    """(mantissa, exponent): trailing zeros moved into an exponent that is a multiple of 3."""
    sign, digits, exponent = value.normalize().as_tuple()
    if not isinstance(exponent, int):  # NaN or infinity: parse_decimal never makes one
        raise QuantityError(PARSE_ERROR)
    mantissa = int("".join(map(str, digits)) or "0")
    extra = exponent % 3
    return (-mantissa if sign else mantissa) * 10 ** extra, exponent - extra


def canonical(text: str | int | float) -> str:
    """resource.Quantity.String(): `1000m`→`1`, `0.5`→`500m`, `1024Mi`→`1Gi`, `1e3`→`1e3`.

    The format (binary, decimal SI or decimal exponent) is kept from the input, as Go does;
    precision below a nano unit is rounded up.
    """
    text = str(text)
    value = parse_decimal(text)
    if value == 0:
        return "0"
    value = (value / _NANO).to_integral_value(rounding="ROUND_UP") * _NANO
    fmt = _format_of(text)
    if fmt == "BinarySI" and (abs(value) < 1024 or value != value.to_integral_value()):
        fmt = "DecimalSI"
    if fmt == "BinarySI":
        number, exponent = int(value), 0
        while number % 1024 == 0 and exponent < 60:
            number, exponent = number // 1024, exponent + 10
        return f"{number}{_BINARY_SUFFIXES[exponent]}"
    number, exponent = _decimal_parts(value)
    if fmt == "DecimalSI" and exponent in _DECIMAL_SUFFIXES:
        return f"{number}{_DECIMAL_SUFFIXES[exponent]}"
    return f"{number}e{exponent}" if exponent else str(number)
