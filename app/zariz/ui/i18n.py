"""One catalogue for every string the UI shows, in English and Hebrew.

Views never hold UI text: they call :func:`t` with a key (``"orders.title"``) and
parameters, and the catalogue (``zariz.ui.locales``: one file per area, each a mapping
``key -> (english, hebrew)``) says what the key reads in the current locale. Pure
Python: the locale is chosen by boot (``?lang=``, the user's switch, else the browser's
language) and set here before the UI mounts; Hebrew also means ``dir="rtl"``.

A key the current locale lacks is shown in English and recorded in :data:`MISSING`, so a
test that walks the UI in Hebrew fails on the first untranslated string; a key no
catalogue has is shown as the key itself (never an exception in a render).

>>> define({"demo.hello": ("Hello {name}", "שלום {name}")})
>>> t("demo.hello", name="Dana")
'Hello Dana'
>>> with locale_as("he"):
...     t("demo.hello", name="Dana")
'שלום Dana'
>>> define({"demo.orders.one": ("{n} order", "הזמנה אחת"),
...         "demo.orders.other": ("{n} orders", "{n} הזמנות")})
>>> tn("demo.orders", 1), tn("demo.orders", 3)
('1 order', '3 orders')
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

LOCALES: tuple[str, ...] = ("en", "he")
DEFAULT_LOCALE = "en"
RTL_LOCALES = frozenset({"he"})
NATIVE_NAMES: dict[str, str] = {"en": "English", "he": "עברית"}
"""How each language names itself (the switch shows these, never translated)."""

_catalogues: dict[str, dict[str, str]] = {loc: {} for loc in LOCALES}
_current = DEFAULT_LOCALE
MISSING: set[tuple[str, str]] = set()
"""``(locale, key)`` pairs asked for and not found since the last :func:`clear_missing`."""


_loaded = False


def _load() -> None:
    """Import the catalogue on first use (its files call :func:`define`; importing it
    from here at module level would be circular)."""
    global _loaded
    if not _loaded:
        _loaded = True
        import zariz.ui.locales  # noqa: F401


def define(strings: Mapping[str, tuple[str, ...]]) -> None:
    """Add or replace ``key -> (english, hebrew)`` entries (a hot-reloaded area file
    defines its strings again). An empty text means "not translated yet": that locale
    falls back to English and the key is recorded in :data:`MISSING`."""
    for key, texts in strings.items():
        if len(texts) != len(LOCALES):
            raise ValueError(f"{key!r}: expected {len(LOCALES)} texts, got {len(texts)}")
        for loc, text in zip(LOCALES, texts, strict=True):
            if text:
                _catalogues[loc][key] = text
            else:
                _catalogues[loc].pop(key, None)


def pick_locale(*candidates: Any) -> str:
    """The first candidate that names a supported locale (``"he-IL"`` -> ``"he"``;
    ``"iw"`` is Hebrew's old code), else English."""
    for raw in candidates:
        if not isinstance(raw, str) or not raw:
            continue
        base = raw.strip().lower().replace("_", "-").split("-", 1)[0]
        base = "he" if base == "iw" else base
        if base in LOCALES:
            return base
    return DEFAULT_LOCALE


def set_locale(loc: str) -> str:
    global _current
    _current = pick_locale(loc)
    return _current


def locale() -> str:
    return _current


def direction(loc: str | None = None) -> str:
    return "rtl" if (loc or _current) in RTL_LOCALES else "ltr"


@contextmanager
def locale_as(loc: str) -> Iterator[None]:
    """Render in ``loc`` for the duration (tests, previews)."""
    global _current
    before, _current = _current, pick_locale(loc)
    try:
        yield
    finally:
        _current = before


def has(key: str) -> bool:
    _load()
    return key in _catalogues[DEFAULT_LOCALE]


def t(key: str, /, **params: Any) -> str:
    _load()
    text = _catalogues[_current].get(key)
    if text is None:
        MISSING.add((_current, key))
        text = _catalogues[DEFAULT_LOCALE].get(key)
        if text is None:
            return key
    if not params:
        return text
    try:
        return text.format(**params)
    except (KeyError, IndexError, ValueError):  # a catalogue typo must not break a render
        MISSING.add((_current, key))
        return text


def tn(key: str, n: int, /, **params: Any) -> str:
    """Plural: ``key.one`` when ``n == 1``, ``key.two`` when the locale has it and
    ``n == 2`` (Hebrew's dual), else ``key.other``; ``{n}`` is the count."""
    _load()  # the dual is looked up below: the catalogue must be there on a first call
    forms = [f"{key}.one"] if n == 1 else []
    if n == 2 and f"{key}.two" in _catalogues[_current]:
        forms.append(f"{key}.two")
    forms.append(f"{key}.other")
    return t(forms[0], n=n, **params)


def keys(loc: str = DEFAULT_LOCALE) -> frozenset[str]:
    _load()
    return frozenset(_catalogues[loc])


def untranslated(loc: str) -> list[str]:
    """Keys English has and ``loc`` lacks (a completeness check for tests and CI)."""
    _load()
    return sorted(set(_catalogues[DEFAULT_LOCALE]) - set(_catalogues[loc]))


def clear_missing() -> None:
    MISSING.clear()


__all__ = [
    "DEFAULT_LOCALE",
    "LOCALES",
    "MISSING",
    "NATIVE_NAMES",
    "clear_missing",
    "define",
    "direction",
    "has",
    "keys",
    "locale",
    "locale_as",
    "pick_locale",
    "set_locale",
    "t",
    "tn",
    "untranslated",
]
