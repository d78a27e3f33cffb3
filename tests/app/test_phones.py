"""The forms' phone rule and format (zariz.phones): the written forms people use, what is
refused and why, hostile values. tests/server/test_phones.py checks the server agrees."""

from __future__ import annotations

from typing import Any

import pytest
from zariz.phones import PLACEHOLDER, PROBLEMS, clean, digits_key, format_phone, phone_problem

ACCEPTED = [
    # The four forms every Israeli form sees.
    ("050-1234567", "050-123-4567"),
    ("0501234567", "050-123-4567"),
    ("+972-50-123-4567", "050-123-4567"),
    ("+972501234567", "050-123-4567"),
    # Other common ways to write them.
    ("050-123-4567", "050-123-4567"),
    ("050 123 4567", "050-123-4567"),
    ("(050) 123-4567", "050-123-4567"),
    ("050.123.4567", "050-123-4567"),
    ("+972 50 123 4567", "050-123-4567"),
    ("+972 (0)50-123-4567", "050-123-4567"),
    ("+972-050-1234567", "050-123-4567"),
    ("00972501234567", "050-123-4567"),
    ("972501234567", "050-123-4567"),
    ("  054-7654321 ", "054-765-4321"),
    # Landlines (8 digits after the trunk 0) and 07X lines.
    ("03-5550101", "03-555-0101"),
    ("+972-3-555-0101", "03-555-0101"),
    ("02 623 4567", "02-623-4567"),
    ("04-8123456", "04-812-3456"),
    ("08-9123456", "08-912-3456"),
    ("09-7654321", "09-765-4321"),
    ("077-4567890", "077-456-7890"),
    ("+972 73 234 5678", "073-234-5678"),
    # Copied out of Hebrew text: direction marks, a no-break space, a tab.
    ("\u200f050-1234567\u200e", "050-123-4567"),
    ("\u202a+972-50-123-4567\u202c", "050-123-4567"),
    ("050\u00a0123\u00a04567", "050-123-4567"),
    ("050\t1234567", "050-123-4567"),
]

REFUSED = [
    ("", "empty"),
    ("   ", "empty"),
    ("\u200e", "empty"),
    ("abc", "characters"),
    ("05O-1234567", "characters"),  # a letter O
    ("050-1234567 ext 5", "characters"),
    ("tel:+972501234567", "characters"),
    ("050-1234567;", "characters"),
    ("++972501234567", "characters"),
    ("050+1234567", "characters"),
    ("\u0660\u0665\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667", "characters"),  # ٠٥٠...
    ("０５０１２３４５６７", "characters"),  # full-width digits
    ("050\x001234567", "characters"),
    ("<script>", "characters"),
    ("050", "shape"),
    ("050-123", "shape"),
    ("050-123-456", "shape"),
    ("050-123-45678", "shape"),
    ("0501234567890", "shape"),
    ("03-555-010", "shape"),
    ("1-800-123-456", "shape"),  # toll-free: no customer's phone
    ("*2345", "characters"),
    ("06-1234567", "shape"),
    ("501234567", "shape"),  # no trunk 0, no country code: not guessed
    ("35550101", "shape"),
    ("+972 00 50 123 4567", "shape"),
    ("0", "shape"),
    ("+", "characters"),
    ("+44 20 7946 0958", "foreign"),
    ("+1 212 555 0100", "foreign"),
    ("0044 20 7946 0958", "foreign"),
    ("+0501234567", "foreign"),
]


@pytest.mark.parametrize(("text", "stored"), ACCEPTED)
def test_common_forms_are_accepted_and_formatted_as_stored(text: str, stored: str) -> None:
    assert phone_problem(text) is None
    assert format_phone(text) == stored
    assert format_phone(stored) == stored  # the stored form is a fixed point
    assert digits_key(stored) == digits_key(text.replace("(0)", ""))


@pytest.mark.parametrize(("text", "problem"), REFUSED)
def test_other_values_are_refused_with_the_reason(text: str, problem: str) -> None:
    assert problem in PROBLEMS
    assert phone_problem(text) == problem
    assert format_phone(text) is None


@pytest.mark.parametrize("value", [None, 501234567, 5.0, ["050-1234567"], {"a": 1}, b"050"])
def test_values_that_are_not_text_are_refused_without_raising(value: Any) -> None:
    assert phone_problem(value) == "empty"
    assert format_phone(value) is None


def test_huge_values_are_refused_quickly() -> None:
    assert phone_problem("0" * 100_000) == "foreign"  # 00: an international prefix
    assert phone_problem("5" * 100_000) == "shape"
    assert phone_problem("(" * 100_000) == "shape"
    assert phone_problem("a" * 100_000) == "characters"


def test_the_placeholder_is_a_number_in_the_stored_format() -> None:
    assert format_phone(PLACEHOLDER) == PLACEHOLDER


def test_clean_drops_invisible_marks_and_odd_spaces() -> None:
    assert clean("\u200f 050\u2009123\u00a04567 \u200e") == "050 123 4567"
    assert clean("\ufeff\u2066+972\u2069") == "+972"


def test_digits_key_is_unchanged() -> None:
    # The search helper's contract (another module relies on it as it is).
    assert digits_key("050-1234567") == digits_key("+972-50-123-4567") == "0501234567"
    assert digits_key("+972501234567") == digits_key("0501234567") == "0501234567"
    assert digits_key("abc") is None and digits_key(None) is None
