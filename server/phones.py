"""Customers' phone numbers: which are accepted, and the one form they are stored in.

The rule (the browser's form shows the same one, ``app/zariz/phones.py``):

* an **Israeli** number: a mobile (``05X``), a landline (``02``, ``03``, ``04``, ``08``,
  ``09``) or a ``07X`` line (the VoIP numbers many homes and shops have), written the
  ways people write them: ``050-1234567``, ``0501234567``, ``050 123 4567``,
  ``+972-50-123-4567``, ``+972501234567``, ``00972…``, ``+972 (0)50…``;
* only digits, spaces, ``-``, ``.``, ``(``, ``)`` and one leading ``+``; invisible
  formatting characters (the LRM/RLM marks a number copied out of Hebrew text carries)
  and odd spaces are dropped first;
* foreign numbers are refused. The service delivers in Israel and couriers call from
  Israeli phones; a number that does not parse as Israeli is far more often a typo (a
  digit missing, a ``+`` too many) than a tourist's phone, and a wrong number costs a
  failed delivery. Allowing them later means storing E.164 (below).

``phonenumbers`` parses every written form (country code, trunk ``0``, separators) and
formats the result. Its validity check is *not* used as it stands: it knows the
allocated blocks, and refuses e.g. ``050-1xx-xxxx``, the example on every Israeli form,
and lags behind new allocations. A real customer refused at the form is a lost order; a
well-shaped number that does not exist is found by the courier's call. So the check is
the numbering plan's shape: prefix and length.

Stored form: the national one, ``050-123-4567`` / ``03-555-0101``. Operators and
couriers are in Israel and dial national numbers, and what is stored is what every
client (the table, events, exports) shows without a formatter of its own. It is still
canonical (one string per number; search keys are digits only anyway). With foreign
numbers allowed it would have to be E.164, since a national form then becomes
ambiguous. Rows written before this rule keep their phone as it was.

>>> canonical_phone("+972501234567")
'050-123-4567'
>>> canonical_phone("03 555 0101")
'03-555-0101'
"""

from __future__ import annotations

import re
import unicodedata

import phonenumbers
from pydantic_core import PydanticCustomError

REGION = "IL"
COUNTRY_CODE = 972
EXAMPLE = "050-123-4567"
RULE = f"Enter an Israeli mobile or landline number, such as {EXAMPLE} or 03-555-0101."

# After the cleanup: an optional leading "+", then digits and the usual separators.
_WRITTEN = re.compile(r"\+?[0-9 ().\-]+")
# The national significant number (no trunk 0): 05X and 07X have 9 digits,
# landlines 8 (02, 03, 04, 08, 09). 01/06 are service and special ranges.
_SHAPE = re.compile(r"[57][0-9]{8}|[2-489][0-9]{7}")


class PhoneError(ValueError):
    """Not an accepted phone number; ``reason`` says which part of the rule failed."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"{reason}: {RULE}")
        self.reason = reason


def clean(value: str) -> str:
    """Drop invisible formatting characters (Unicode category Cf: LRM, RLM, bidi
    embeddings, zero-width joiners, BOM, soft hyphen), make every kind of space a plain
    one, and trim."""
    kept = []
    for ch in value:
        if unicodedata.category(ch) == "Cf":
            continue
        kept.append(" " if ch.isspace() else ch)
    return "".join(kept).strip()


def _written_national(text: str, source: object) -> str | None:
    """The national number as written: the digits after the country code (if any) and
    one trunk 0. phonenumbers reads more into a number than this (extra zeros after the
    country code, a number with neither a country code nor a trunk 0 - "35550101" is
    not guessed into 03-555-0101); such a number is refused when the two disagree."""
    digits = "".join(ch for ch in text if "0" <= ch <= "9")
    cc = str(COUNTRY_CODE)
    sources = phonenumbers.CountryCodeSource
    if source == sources.FROM_DEFAULT_COUNTRY:
        rest = digits if digits.startswith("0") else None
    elif source == sources.FROM_NUMBER_WITH_IDD and digits.startswith("00" + cc):
        rest = digits[2 + len(cc):]
    elif digits.startswith(cc):  # +972..., or 972... without the plus
        rest = digits[len(cc):]
    else:
        rest = None
    if rest is None:
        return None
    return rest[1:] if rest.startswith("0") else rest


def canonical_phone(value: str) -> str:
    """``value`` in the stored form (``050-123-4567``), or :class:`PhoneError`."""
    text = clean(value)
    if not text:
        raise PhoneError("empty")
    if not _WRITTEN.fullmatch(text):
        raise PhoneError("characters")
    try:
        number = phonenumbers.parse(text, REGION, keep_raw_input=True)
    except phonenumbers.NumberParseException:
        raise PhoneError("unparsable") from None
    if number.country_code != COUNTRY_CODE:
        raise PhoneError("foreign")
    national = str(number.national_number)
    if (
        number.extension
        or _written_national(text, number.country_code_source) != national
        or not _SHAPE.fullmatch(national)
    ):
        raise PhoneError("shape")
    # format_number picks the separators from the numbering plan: 050-123-4567,
    # 03-555-0101, 077-456-7890.
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def validate_phone(value: str) -> str:
    """The pydantic validator: the stored form, or a 422 detail of type ``invalid_phone``
    whose message is the rule (never the input: errors do not echo what was sent)."""
    try:
        return canonical_phone(value)
    except PhoneError:
        raise PydanticCustomError("invalid_phone", RULE) from None


__all__ = ["EXAMPLE", "RULE", "PhoneError", "canonical_phone", "clean", "validate_phone"]
