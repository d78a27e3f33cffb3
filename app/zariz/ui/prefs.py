"""The viewer's display preferences in the header: theme (system / light / dark) and
language (English / עברית).

Both are remembered in ``localStorage`` and applied before the first paint by
``static/boot/early.js`` (keep the two in step): ``zariz.theme`` is ``light`` or
``dark`` (absent: follow the system's ``prefers-color-scheme``) and becomes
``<html data-theme>``, which picks every colour in app.css; ``zariz.lang`` is ``en`` or
``he``. A theme applies at once; a language reloads the page (every view renders its text
once), after dropping a ``?lang=`` from the address, which would otherwise win over the
choice.

>>> with_param("/dashboard/orders", "?lang=he&status=new", "lang")
'/dashboard/orders?status=new'
>>> with_param("/dashboard", "", "lang", "he")
'/dashboard?lang=he'
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlencode

from zariz.ui import dom, i18n
from zariz.ui.component import Scope
from zariz.ui.context import Ctx
from zariz.ui.dom import h
from zariz.ui.i18n import t

THEME_KEY = "zariz.theme"
LANG_KEY = "zariz.lang"
THEMES = ("system", "light", "dark")
PANEL_ID = "prefs-panel"


def stored_theme() -> str:
    """The theme choice: ``light`` / ``dark`` as stored, anything else ``system``."""
    value = dom.storage_get(THEME_KEY)
    return value if value in ("light", "dark") else "system"


def apply_theme(choice: str) -> str:
    """Remember ``choice`` and apply it to the page now; returns what was applied."""
    theme = choice if choice in THEMES else "system"
    explicit = None if theme == "system" else theme
    dom.storage_set(THEME_KEY, explicit)
    dom.set_root_attr("data-theme", explicit)
    return theme


def with_param(path: str, search: str, name: str, value: str | None = None) -> str:
    """``path`` + ``search`` with every ``name=`` parameter removed, then ``name=value``
    added when ``value`` is given."""
    kept = [(k, v) for k, v in parse_qsl(search.lstrip("?"), keep_blank_values=True) if k != name]
    if value is not None:
        kept.append((name, value))
    return path + ("?" + urlencode(kept) if kept else "")


def apply_language(lang: str) -> bool:
    """Remember ``lang`` and reload the page in it; ``False`` (nothing done) when the page
    already shows it and the address does not force a language."""
    chosen = i18n.pick_locale(lang)
    forced = dom.query_param("lang") is not None
    if chosen == i18n.locale() and not forced:
        return False
    dom.storage_set(LANG_KEY, chosen)
    # Where storage is refused (a privacy mode), the address carries the choice instead.
    kept = dom.storage_get(LANG_KEY) == chosen
    path, search = dom.location()
    dom.replace_state(with_param(path, search, "lang", None if kept else chosen))
    dom.reload_page()
    return True


def _choice(label: str, attrs: dict[str, Any], pressed: bool) -> Any:
    return h(
        "button",
        {"type": "button", "class": "seg", "aria-pressed": "true" if pressed else "false", **attrs},
        label,
    )


def preference_controls(ctx: Ctx, scope: Scope) -> Any:
    """The header's display button and its panel (theme and language choices)."""
    theme = stored_theme()
    themes = {
        name: _choice(
            t(f"prefs.theme.{name}"),
            {"data-theme-choice": name, "data-testid": f"theme-{name}"},
            name == theme,
        )
        for name in THEMES
    }
    current = i18n.locale()
    langs = {
        code: _choice(
            name,
            {"data-lang-choice": code, "data-testid": f"lang-{code}", "lang": code,
             "dir": i18n.direction(code)},
            code == current,
        )
        for code, name in i18n.NATIVE_NAMES.items()
    }
    toggle = h(
        "button",
        {
            "type": "button",
            "class": "prefs-button",
            "aria-expanded": "false",
            "aria-controls": PANEL_ID,
            "title": t("prefs.button"),
            "data-testid": "prefs-toggle",
        },
        h("span", {"class": "prefs-icon", "aria-hidden": "true"}),
        # Named "Display and language: EN": the visible code is part of the name (a
        # voice-control user says what they see).
        h("span", {"class": "sr-only"}, t("prefs.button") + ": "),
        h("span", {"class": "prefs-lang"}, current.upper()),
    )
    panel = h(
        "div",
        {"class": "prefs-panel", "id": PANEL_ID, "hidden": True, "data-testid": "prefs-panel"},
        h(
            "div",
            {"class": "prefs-group", "role": "group", "aria-labelledby": "prefs-theme-label"},
            h("span", {"class": "prefs-label", "id": "prefs-theme-label"}, t("prefs.theme")),
            h("div", {"class": "segmented"}, list(themes.values())),
        ),
        h(
            "div",
            {"class": "prefs-group", "role": "group", "aria-labelledby": "prefs-lang-label"},
            h("span", {"class": "prefs-label", "id": "prefs-lang-label"}, t("lang.switch")),
            h("div", {"class": "segmented"}, list(langs.values())),
        ),
    )
    wrapper = h("div", {"class": "prefs", "data-testid": "prefs"}, toggle, panel)

    def is_open() -> bool:
        return not panel.hasAttribute("hidden")

    def set_open(open_: bool, *, focus_toggle: bool = False) -> None:
        dom.set_attr(panel, "hidden", not open_)
        dom.set_attr(toggle, "aria-expanded", "true" if open_ else "false")
        if focus_toggle:
            dom.focus(toggle)

    def on_panel_click(e: Any) -> None:
        btn = dom.closest(e.target, "[data-theme-choice]")
        if btn is not None:
            chosen = apply_theme(str(dom.attr(btn, "data-theme-choice")))
            for name, node in themes.items():
                dom.set_attr(node, "aria-pressed", "true" if name == chosen else "false")
            return
        btn = dom.closest(e.target, "[data-lang-choice]")
        if btn is not None and not apply_language(str(dom.attr(btn, "data-lang-choice"))):
            set_open(False, focus_toggle=True)

    def on_doc_click(e: Any) -> None:
        if is_open() and not dom.contains(wrapper, e.target):
            set_open(False)

    def on_key(e: Any) -> None:
        if str(e.key) == "Escape" and is_open():
            e.stopPropagation()
            set_open(False, focus_toggle=True)

    scope.use(dom.on(toggle, "click", lambda _e: set_open(not is_open())))
    scope.use(dom.on(panel, "click", on_panel_click))
    scope.use(dom.on(wrapper, "keydown", on_key))
    scope.use(dom.on(dom.document(), "click", on_doc_click))
    # Applied again at mount, as early.js did: the page is right even where that script
    # did not run (a test page, an index.html cached from before it existed).
    scope.effect(lambda: dom.set_root_attr("data-theme", None if theme == "system" else theme))
    return wrapper


__all__ = [
    "LANG_KEY",
    "THEMES",
    "THEME_KEY",
    "apply_language",
    "apply_theme",
    "preference_controls",
    "stored_theme",
    "with_param",
]
