"""Small shared pieces of UI: status badges, empty/loading states, form fields, modals.

Modals are keyboard accessible: focus moves into the dialog, Tab and Shift+Tab cycle
inside it (focus trap), Esc or a click on the backdrop closes it, and focus returns to
the element that opened it. The keys are heard on the document, not on the dialog: a
button disabled while it had focus (a submit in flight) drops the focus to ``<body>``,
and Esc and Tab must still reach the dialog then; focus that leaves the top dialog by
other means is brought back. Each modal has its own :class:`Scope` under the page's, so
leaving the page closes it and releases its listeners.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from zariz.ui import dom
from zariz.ui.component import Scope
from zariz.ui.dom import h
from zariz.ui.format import (
    DEFAULT_LIMIT,
    LABEL_LIMIT,
    PHONE_LIMIT,
    STATUS_LABELS,
    display_text,
    display_title,
    status_label,
)
from zariz.ui.i18n import t


def status_badge(status: Any) -> Any:
    # Only a known status becomes a class name: "new hidden" must not add a class.
    known = status if isinstance(status, str) and status in STATUS_LABELS else "unknown"
    return h(
        "span",
        {"class": f"badge status-{known}", "data-status": display_text(status or "", LABEL_LIMIT)},
        status_label(status),
    )


def text_value(
    value: Any,
    limit: int = DEFAULT_LIMIT,
    *,
    ltr: bool = False,
    lines: int | None = 2,
    cls: str | None = None,
    testid: str | None = None,
) -> Any:
    """A user-supplied value (name, address, notes) as a ``<span>``: cleaned of bidi
    controls and cut at ``limit`` (:func:`~zariz.ui.format.display_text`), the longer
    value in ``title`` when cut, its own bidi island (``dir="auto"``: a Hebrew name reads
    right to left and an English one left to right, in either page direction, without
    moving its neighbours; ``ltr`` for numbers), and clamped by CSS to ``lines`` lines
    (``None``: no clamp) so no value makes its row tall.

    ``textContent`` is exactly the displayed text, so tests and searches see the value.
    """
    return h(
        "span",
        {
            "class": ["value", f"clamp-{lines}" if lines else None, cls],
            "dir": "ltr" if ltr else "auto",
            "title": display_title(value, limit),
            "data-testid": testid,
        },
        display_text(value, limit),
    )


def phone_value(value: Any, *, testid: str | None = None) -> Any:
    """A phone number as stored: :func:`text_value` left to right (``dir="ltr"``: a
    number reads the same inside Hebrew, ``+972`` first), on one line that never wraps
    mid-number and ends in an ellipsis if too long (CSS ``.value.phone``: ``nowrap``)."""
    return text_value(value, PHONE_LIMIT, ltr=True, lines=None, cls="phone", testid=testid)


def empty_state(title: str, hint: str = "", *, testid: str | None = None) -> Any:
    return h(
        "div",
        {"class": "empty", "data-testid": testid},
        h("div", {"class": "empty-icon", "aria-hidden": "true"}, "∅"),
        h("p", {"class": "empty-title"}, title),
        h("p", {"class": "muted"}, hint) if hint else None,
    )


def loading_state(text: str | None = None) -> Any:
    return h(
        "div",
        {"class": "loading", "role": "status", "aria-live": "polite"},
        h("span", {"class": "spinner", "aria-hidden": "true"}),
        h("span", None, t("common.loading") if text is None else text),
    )


def error_panel(title: str, detail: str = "") -> Any:
    return h(
        "div",
        {"class": "panel error-panel", "role": "alert"},
        h("strong", None, title),
        h("p", {"class": "muted"}, detail) if detail else None,
    )


def field(
    label: str,
    control: Any,
    *,
    error_node: Any = None,
    hint: str | None = None,
    hint_id: str | None = None,
) -> Any:
    """A labelled control. The ``<label>`` wraps the control (so clicking the text focuses
    it); the hint, when given, gets ``hint_id`` for the control's ``aria-describedby``."""
    return h(
        "label",
        {"class": "field"},
        h("span", {"class": "field-label"}, label),
        control,
        h("span", {"class": "field-hint muted", "id": hint_id}, hint) if hint else None,
        error_node,
    )


_open_modals: list[Modal] = []
"""Open dialogs, the top one last: only the top one hears the keys."""


def modal_open() -> bool:
    """Whether a dialog is open (page shortcuts stay quiet while one is)."""
    return bool(_open_modals)


class Modal:
    """An open dialog. ``close()`` is idempotent; ``scope`` owns the dialog's listeners
    and work (a request in flight is cancelled when the dialog closes)."""

    def __init__(
        self,
        parent: Scope,
        *,
        title: str,
        testid: str,
        on_close: Callable[[], None] | None = None,
    ) -> None:
        self.scope = parent.child(f"modal:{testid}")
        self._opener = dom.active_element()
        self._on_close = on_close
        title_id = f"modal-title-{testid}"
        self.body = h("div", {"class": "modal-body"})
        self.footer = h("div", {"class": "modal-footer"})
        close_btn = h(
            "button",
            {
                "type": "button",
                "class": "icon-button",
                "aria-label": t("action.close"),
                "data-testid": "modal-close",
            },
            "×",
        )
        self.dialog = h(
            "div",
            {
                "class": "modal",
                "role": "dialog",
                "aria-modal": "true",
                "aria-labelledby": title_id,
                "data-testid": testid,
                "tabindex": "-1",
            },
            h("div", {"class": "modal-header"}, h("h2", {"id": title_id}, title), close_btn),
            self.body,
            self.footer,
        )
        self.node = h(
            "div", {"class": "modal-backdrop", "data-testid": "modal-backdrop"}, self.dialog
        )
        self.scope.use(dom.on(close_btn, "click", lambda _e: self.close()))
        self.scope.use(dom.on(self.node, "mousedown", self._on_backdrop))
        self.scope.add_cleanup(lambda: dom.remove(self.node))
        self.closed = False

    def show(self) -> Modal:
        dom.body().appendChild(self.node)
        _open_modals.append(self)
        self.scope.add_cleanup(self._forget)
        doc = dom.document()
        self.scope.use(dom.on(doc, "keydown", self._on_key))
        self.scope.use(dom.on(doc, "focusin", self._on_focus_in))
        self.scope.run_effects()
        self.focus_first()
        return self

    def _forget(self) -> None:
        if self in _open_modals:
            _open_modals.remove(self)

    @property
    def on_top(self) -> bool:
        return not self.closed and bool(_open_modals) and _open_modals[-1] is self

    def focus_first(self) -> None:
        items = (
            dom.focusables(self.body) or dom.focusables(self.footer) or dom.focusables(self.dialog)
        )
        dom.focus(items[0] if items else self.dialog)

    def _on_key(self, e: Any) -> None:
        if not self.on_top:
            return
        key = str(e.key)
        if key == "Escape":
            e.preventDefault()
            e.stopPropagation()
            self.close()
        elif key == "Tab":
            items = dom.focusables(self.dialog)
            if not items:
                e.preventDefault()
                dom.focus(self.dialog)
                return
            first, last = items[0], items[-1]
            active = dom.active_element()
            outside = not dom.contains(self.dialog, active)
            if e.shiftKey and (active == first or outside):
                e.preventDefault()
                dom.focus(last)
            elif not e.shiftKey and (active == last or outside):
                e.preventDefault()
                dom.focus(first)

    def _on_focus_in(self, e: Any) -> None:
        # Focus that lands outside (a click on a toast, a script) comes back: the page
        # behind an aria-modal dialog is inert for the keyboard too.
        if self.on_top and not dom.contains(self.dialog, dom.opt(e.target)):
            self.focus_first()

    def _on_backdrop(self, e: Any) -> None:
        if e.target == self.node:
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        opener = self._opener
        self._opener = None
        try:
            self.scope.dispose()
        finally:
            self._forget()
            if self._on_close is not None:
                self._on_close()
            if opener is not None and dom.contains(dom.body(), opener):
                dom.focus(opener)


def button(
    label: str,
    *,
    kind: str = "secondary",
    testid: str | None = None,
    type_: str = "button",
    title: str | None = None,
) -> Any:
    return h(
        "button",
        {"type": type_, "class": f"btn btn-{kind}", "data-testid": testid, "title": title},
        label,
    )


__all__ = [
    "Modal",
    "modal_open",
    "button",
    "empty_state",
    "error_panel",
    "field",
    "loading_state",
    "phone_value",
    "status_badge",
    "text_value",
]
