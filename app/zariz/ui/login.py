"""The login page. After a successful login the auth client notifies the app, whose router
sends the user back to where they were going (``?next=``)."""

from __future__ import annotations

from typing import Any

from zariz.ui import dom, routes
from zariz.ui.component import Scope
from zariz.ui.context import Ctx
from zariz.ui.dom import h


def _login_error(exc: BaseException) -> str:
    status = getattr(exc, "status", None)
    if status in (400, 401, 403):
        return "Wrong username or password."
    if status == 422:
        return "Enter a username and a password."
    if status == 429:
        return "Too many attempts. Wait a moment and try again."
    if type(exc).__name__ == "NetworkError":
        return "The server could not be reached. Check the connection and try again."
    message = getattr(exc, "message", None)
    return str(message) if message else f"Sign-in failed ({type(exc).__name__})."


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
        "Sign in",
    )
    error = h(
        "p", {"class": "form-error", "role": "alert", "data-testid": "login-error", "hidden": True}
    )
    form = h(
        "form",
        {"class": "login-form", "novalidate": True},
        h(
            "label",
            {"class": "field", "for": "login-username"},
            h("span", {"class": "field-label"}, "Username"),
            username,
        ),
        h(
            "label",
            {"class": "field", "for": "login-password"},
            h("span", {"class": "field-label"}, "Password"),
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
            h("span", {"class": "brand-mark", "aria-hidden": "true"}, "Z"),
            h("span", {"class": "brand"}, "Zariz", h("span", {"class": "brand-sub"}, "admin")),
        ),
        h("h1", None, "Sign in"),
        h(
            "p",
            {"class": "muted"},
            "Dispatch console for live deliveries."
            if going_to == routes.HOME
            else f"Sign in to continue to {where.title}.",
        ),
        form,
    )
    busy = {"on": False}

    def set_busy(on: bool) -> None:
        busy["on"] = on
        dom.set_attr(submit, "disabled", on)
        dom.set_attr(form, "aria-busy", "true" if on else None)
        dom.set_text(submit, "Signing in…" if on else "Sign in")

    def show_error(text: str | None) -> None:
        dom.set_attr(error, "hidden", not text)
        dom.set_text(error, text or "")

    async def attempt(user: str, pw: str) -> None:
        try:
            await ctx.auth.login(user, pw)
        except Exception as exc:  # AuthError, NetworkError: shown, form kept
            if not scope.disposed:
                set_busy(False)
                show_error(_login_error(exc))
                dom.focus(password)
            return
        # Success: the app's auth subscription has already replaced this page.

    def on_submit(e: Any) -> None:
        e.preventDefault()
        if busy["on"]:
            return
        user, pw = dom.input_value(username).strip(), dom.input_value(password)
        if not user or not pw:
            show_error("Enter a username and a password.")
            dom.focus(username if not user else password)
            return
        show_error(None)
        set_busy(True)
        ctx.run(scope, attempt(user, pw))

    scope.use(dom.on(form, "submit", on_submit))
    scope.effect(lambda: dom.focus(username))
    return h("div", {"class": "login-screen"}, card)


__all__ = ["login_page"]
