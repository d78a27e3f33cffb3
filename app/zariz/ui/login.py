"""The login page. After a successful login the auth client notifies the app, whose router
sends the user back to where they were going (``?next=``)."""

from __future__ import annotations

from typing import Any

from zariz.ui import dom, routes
from zariz.ui.component import Scope
from zariz.ui.context import Ctx
from zariz.ui.dom import h
from zariz.ui.i18n import t


def _login_error(exc: BaseException) -> str:
    status = getattr(exc, "status", None)
    if status in (400, 401, 403):
        return t("forms.login.wrong")
    if status == 422:
        return t("forms.login.missing")
    if status == 429:
        return t("forms.login.too_many")
    if type(exc).__name__ == "NetworkError":
        return t("forms.login.network")
    message = getattr(exc, "message", None)
    return str(message) if message else t("forms.login.failed", name=type(exc).__name__)


def login_page(ctx: Ctx, scope: Scope) -> Any:
    _path, search = dom.location()
    going_to = routes.safe_next(routes.query_param(search, "next"))
    username = h(
        "input",
        {
            "id": "login-username",
            "name": "username",
            "autocomplete": "username",
            "required": True,
            "data-testid": "login-username",
        },
    )
    password = h(
        "input",
        {
            "id": "login-password",
            "name": "password",
            "type": "password",
            "autocomplete": "current-password",
            "required": True,
            "data-testid": "login-password",
        },
    )
    submit = h(
        "button",
        {"type": "submit", "class": "btn btn-primary btn-block", "data-testid": "login-submit"},
        t("forms.login.submit"),
    )
    error = h(
        "p",
        {
            "class": "form-error",
            "id": "login-error",
            "role": "alert",
            "data-testid": "login-error",
            "hidden": True,
        },
    )
    form = h(
        "form",
        {"class": "login-form", "novalidate": True},
        h(
            "label",
            {"class": "field", "for": "login-username"},
            h("span", {"class": "field-label"}, t("forms.login.username")),
            username,
        ),
        h(
            "label",
            {"class": "field", "for": "login-password"},
            h("span", {"class": "field-label"}, t("forms.login.password")),
            password,
        ),
        error,
        submit,
    )
    where = routes.match(going_to)
    card = h(
        "div",
        {"class": "login-card"},
        h(
            "div",
            {"class": "login-brand"},
            # The shell's brand strings: the header and this card read the same.
            h("span", {"class": "brand-mark", "aria-hidden": "true"}, t("shell.brand")[:1]),
            h(
                "span",
                {"class": "brand"},
                t("shell.brand"),
                h("span", {"class": "brand-sub"}, t("shell.brand_sub")),
            ),
        ),
        h("h1", None, t("forms.login.title")),
        h(
            "p",
            {"class": "muted"},
            t("forms.login.tagline")
            if going_to == routes.HOME
            else t("forms.login.continue_to", page=where.title),
        ),
        form,
    )
    busy = {"on": False}

    def set_busy(on: bool) -> None:
        busy["on"] = on
        dom.set_attr(submit, "disabled", on)
        dom.set_attr(form, "aria-busy", "true" if on else None)
        dom.set_text(submit, t("forms.login.busy") if on else t("forms.login.submit"))

    def show_error(text: str | None, invalid: tuple[Any, ...] = ()) -> None:
        dom.set_attr(error, "hidden", not text)
        dom.set_text(error, text or "")
        for control in (username, password):
            bad = control in invalid
            dom.set_attr(control, "aria-invalid", "true" if bad else None)
            dom.set_attr(control, "aria-describedby", "login-error" if bad else None)

    async def attempt(user: str, pw: str) -> None:
        try:
            await ctx.auth.login(user, pw)
        except Exception as exc:  # AuthError, NetworkError: shown, form kept
            if not scope.disposed:
                set_busy(False)
                # Wrong credentials mark both fields; a network error marks neither.
                credentials = getattr(exc, "status", None) in (400, 401, 403, 422)
                show_error(_login_error(exc), (username, password) if credentials else ())
                dom.focus(password)
            return
        # Success: the app's auth subscription has already replaced this page.

    def on_submit(e: Any) -> None:
        e.preventDefault()
        if busy["on"]:
            return
        user, pw = dom.input_value(username).strip(), dom.input_value(password)
        if not user or not pw:
            empty = tuple(c for c, v in ((username, user), (password, pw)) if not v)
            show_error(t("forms.login.missing"), empty)
            dom.focus(empty[0])
            return
        show_error(None)
        set_busy(True)
        ctx.run(scope, attempt(user, pw))

    scope.use(dom.on(form, "submit", on_submit))
    scope.effect(lambda: dom.focus(username))
    return h("main", {"class": "login-screen"}, card)  # the page's one main landmark


__all__ = ["login_page"]
