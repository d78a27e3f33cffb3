"""Phone numbers as operators type them (pure; shared by search, forms and tests).

Israeli numbers are written many ways: ``050-1234567``, ``0501234567``,
``+972-50-123-4567``, ``+972501234567``. :func:`digits_key` maps all of them to one
national form (``0501234567``), so a search matches whatever form was stored or typed.

>>> digits_key("+972-50-123-4567") == digits_key("050-1234567") == "0501234567"
True
>>> digits_key("abc") is None
True
"""

from __future__ import annotations

from typing import Any

COUNTRY_CODE = "972"


def digits_key(value: Any) -> str | None:
    """The number's digits in national form (``+972``/``972``/``00972`` -> ``0``), or
    ``None`` when the value has no digits. Only ASCII digits count (``"٣"`` does not)."""
    if not isinstance(value, str):
        return None
    digits = "".join(ch for ch in value if "0" <= ch <= "9")
    if not digits:
        return None
    for prefix in ("00" + COUNTRY_CODE, COUNTRY_CODE):
        if digits.startswith(prefix) and len(digits) > len(prefix) + 6:
            return "0" + digits[len(prefix):].lstrip("0")
    return digits


__all__ = ["COUNTRY_CODE", "digits_key"]
