"""Path matching, the auth redirect and link interception rules."""

from __future__ import annotations

import pytest
from zariz.ui.routes import (
    Redirect,
    Render,
    decide,
    is_internal_href,
    is_plain_left_click,
    login_url,
    match,
    safe_next,
)


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("/", "overview"),
        ("/dashboard", "overview"),
        ("/dashboard/", "overview"),
        ("/dashboard/orders", "orders"),
        ("/dashboard/orders/?x=1", "orders"),
        ("/dashboard/couriers#top", "couriers"),
        ("/login", "login"),
        ("/dashboard/nope", "not_found"),
        ("", "overview"),
    ],
)
def test_match(path: str, name: str) -> None:
    assert match(path).name == name


def test_unauthenticated_dashboard_visit_goes_to_login_and_comes_back() -> None:
    out = decide("/dashboard/orders", "?status=new", authenticated=False)
    assert isinstance(out, Redirect)
    assert out.to == "/login?next=%2Fdashboard%2Forders%3Fstatus%3Dnew"
    back = decide("/login", out.to.split("/login", 1)[1], authenticated=True)
    assert back == Redirect("/dashboard/orders?status=new")


def test_decisions() -> None:
    assert decide("/", "", authenticated=False) == Redirect("/login")
    assert decide("/", "", authenticated=True) == Redirect("/dashboard")
    assert decide("/login", "", authenticated=False) == Render(match("/login"))
    assert decide("/login", "", authenticated=True) == Redirect("/dashboard")
    assert decide("/dashboard/couriers", "", authenticated=True) == Render(
        match("/dashboard/couriers")
    )
    assert isinstance(decide("/dashboard/zzz", "", authenticated=False), Redirect)
    assert decide("/dashboard/zzz", "", authenticated=True) == Render(match("/x"))


@pytest.mark.parametrize(
    "bad",
    [
        "https://evil.example/dashboard",
        "//evil.example/dashboard",
        "/\\evil",
        "/login",
        "/api/x",
        "javascript:alert(1)",
        "",
        None,
    ],
)
def test_safe_next_refuses_open_redirects(bad: str | None) -> None:
    assert safe_next(bad) == "/dashboard"


def test_safe_next_keeps_dashboard_paths() -> None:
    assert safe_next("/dashboard/orders?status=new") == "/dashboard/orders?status=new"
    assert login_url("/") == "/login"


def test_only_plain_left_clicks_are_intercepted() -> None:
    plain = dict(button=0, meta=False, ctrl=False, shift=False, alt=False, target=None)
    assert is_plain_left_click(**plain)
    assert is_plain_left_click(**{**plain, "target": "_self"})
    assert not is_plain_left_click(**{**plain, "button": 1})  # middle click: new tab
    for key in ("meta", "ctrl", "shift", "alt"):
        assert not is_plain_left_click(**{**plain, key: True})
    assert not is_plain_left_click(**{**plain, "target": "_blank"})


def test_internal_hrefs() -> None:
    assert is_internal_href("/dashboard/orders")
    assert is_internal_href("/login")
    assert not is_internal_href("https://example.com/dashboard")
    assert not is_internal_href("//example.com/dashboard")
    assert not is_internal_href("/metrics")
    assert not is_internal_href(None)
