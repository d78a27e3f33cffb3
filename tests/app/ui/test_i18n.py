"""The catalogue is whole: every key has Hebrew, one area owns each key, and both texts
take the same parameters (a Hebrew text naming ``{count}`` where English has ``{n}``
would fall back silently)."""

from __future__ import annotations

import string

import pytest
from zariz.ui import i18n
from zariz.ui.locales import AREAS


def _fields(text: str) -> set[str]:
    return {name for _lit, name, _spec, _conv in string.Formatter().parse(text) if name}


def test_every_key_has_hebrew() -> None:
    missing = set(i18n.untranslated("he"))
    assert [key for area in AREAS for key in area.STRINGS if key in missing] == []


def test_each_key_belongs_to_one_area() -> None:
    seen: dict[str, str] = {}
    for area in AREAS:
        for key in area.STRINGS:
            assert key not in seen, f"{key} is in {seen[key]} and {area.__name__}"
            seen[key] = area.__name__


@pytest.mark.parametrize("area", AREAS, ids=lambda a: a.__name__.rsplit(".", 1)[-1])
def test_both_texts_take_the_same_parameters(area: object) -> None:
    for key, (en, he) in area.STRINGS.items():  # type: ignore[attr-defined]
        assert _fields(en) == _fields(he), key
        assert he.strip(), f"{key}: empty Hebrew"


def test_a_missing_key_is_recorded_and_shown_in_english() -> None:
    i18n.define({"test.only.en": ("Only English", "")})
    i18n.clear_missing()
    with i18n.locale_as("he"):
        assert i18n.t("test.only.en") == "Only English"
    assert ("he", "test.only.en") in i18n.MISSING
    assert i18n.t("no.such.key") == "no.such.key"


def test_locale_choice_and_direction() -> None:
    assert i18n.pick_locale(None, "", "fr-FR", "he-IL") == "he"
    assert i18n.pick_locale("iw") == "he" and i18n.pick_locale("de") == "en"
    assert i18n.direction("he") == "rtl" and i18n.direction("en") == "ltr"


def test_a_bad_parameter_never_breaks_a_render() -> None:
    i18n.define({"test.params": ("{n} orders", "{n} הזמנות")})
    assert i18n.t("test.params") == "{n} orders"
    assert i18n.t("test.params", m=1) == "{n} orders"
