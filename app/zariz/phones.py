"""Phone numbers as operators type them (pure; shared by search, forms and tests).

Israeli numbers are written many ways: ``050-1234567``, ``0501234567``,
``+972-50-123-4567``, ``+972501234567``. :func:`digits_key` maps all of them to one
national form (``0501234567``), so a search matches whatever form was stored or typed.
:func:`phone_problem` is the forms' rule (the server's, checked before sending) and
:func:`format_phone` the form the server stores (``050-123-4567``).

>>> digits_key("+972-50-123-4567") == digits_key("050-1234567") == "0501234567"
True
>>> digits_key("abc") is None
True
"""

from __future__ import annotations

import re
import unicodedata
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


# -- the form's rule ---------------------------------------------------------------------
#
# The server (server/phones.py, with the phonenumbers library) decides; this is the same
# rule, checked as the user types so a wrong number is said at once, next to the field,
# and nothing is sent. Israeli numbers only: a mobile (05X, 9 digits after the 0), a
# 07X line (9) or a landline (02/03/04/08/09, 8), written with digits, spaces, "-", ".",
# "(", ")" and one leading "+"; a national number starts with its trunk 0, or carries the
# country code (+972, 00972, 972), after which a "0" is dropped (+972 (0)50...).

PLACEHOLDER = "050-123-4567"
"""What the phone field shows while empty: the stored format."""

PROBLEMS = ("empty", "characters", "foreign", "shape")
"""What :func:`phone_problem` may answer (the form says each in the operator's words)."""

_WRITTEN = re.compile(r"\+?[0-9 ().\-]+")
_SHAPE = re.compile(r"[57][0-9]{8}|[2-489][0-9]{7}")


def clean(value: str) -> str:
    """Drop invisible formatting characters (Unicode Cf: the LRM/RLM marks a number copied
    out of Hebrew text carries, bidi embeddings, zero-width joiners), make every space a
    plain one, and trim (as the server does before it parses)."""
    return "".join(
        " " if ch.isspace() else ch for ch in value if unicodedata.category(ch) != "Cf"
    ).strip()


def _national(text: str) -> tuple[str | None, str | None]:
    """``(national significant number, None)`` or ``(None, problem)`` for cleaned text."""
    if not text:
        return None, "empty"
    if not _WRITTEN.fullmatch(text):
        return None, "characters"
    digits = "".join(ch for ch in text if "0" <= ch <= "9")
    if text.startswith("+"):
        if not digits.startswith(COUNTRY_CODE):
            return None, "foreign"
        national = digits[len(COUNTRY_CODE):]
    elif digits.startswith("00" + COUNTRY_CODE):
        national = digits[len(COUNTRY_CODE) + 2:]
    elif digits.startswith("00"):
        return None, "foreign"  # 00 is the international prefix: 0044... is British
    elif digits.startswith(COUNTRY_CODE):
        national = digits[len(COUNTRY_CODE):]
    elif digits.startswith("0"):
        national = "0" + digits[1:]
    else:
        return None, "shape"  # no trunk 0 and no country code: "35550101" is not guessed
    if national.startswith("0"):
        national = national[1:]  # the trunk 0, also after a country code: +972 (0)50...
    if not _SHAPE.fullmatch(national):
        return None, "shape"
    return national, None


def phone_problem(value: Any) -> str | None:
    """``None`` for a number the rule accepts, else which part failed (:data:`PROBLEMS`).

    >>> phone_problem("+972-50-123-4567") is None
    True
    >>> phone_problem("abc"), phone_problem("050-123"), phone_problem("+44 20 7946 0958")
    ('characters', 'shape', 'foreign')
    """
    if not isinstance(value, str):
        return "empty"
    return _national(clean(value))[1]


def format_phone(value: Any) -> str | None:
    """The number in the form the server stores (``050-123-4567``, ``03-555-0101``), or
    ``None`` when the rule refuses it.

    >>> format_phone("+972501234567"), format_phone("03 5550101")
    ('050-123-4567', '03-555-0101')
    """
    if not isinstance(value, str):
        return None
    national, _problem = _national(clean(value))
    if national is None:
        return None
    area = national[:2] if len(national) == 9 else national[:1]
    rest = national[len(area):]
    return f"0{area}-{rest[:3]}-{rest[3:]}"


__all__ = [
    "COUNTRY_CODE",
    "PLACEHOLDER",
    "PROBLEMS",
    "clean",
    "digits_key",
    "format_phone",
    "phone_problem",
]
