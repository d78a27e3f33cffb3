"""Route table, path matching and the auth-redirect rule (pure: no DOM, no history).

>>> match("/dashboard/orders/").name
'orders'
>>> decide("/dashboard/orders", "?status=new", authenticated=False)
Redirect(to='/login?next=%2Fdashboard%2Forders%3Fstatus%3Dnew')
>>> decide("/login", "?next=%2Fdashboard%2Fcouriers", authenticated=True)
Redirect(to='/dashboard/couriers')
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, quote, urlsplit

from zariz.ui.i18n import t

LOGIN = "/login"
HOME = "/dashboard"


@dataclass(frozen=True)
class Route:
    name: str
    path: str
    title_key: str  # the catalogue key of its title (zariz.ui.locales.shell)
    requires_auth: bool = True
    nav: bool = False  # shown in the header navigation

    @property
    def title(self) -> str:
        """The title in the current locale.

        >>> by_name("orders").title
        'Orders'
        """
        return t(self.title_key)


ROUTES: tuple[Route, ...] = (
    Route("login", LOGIN, "route.login", requires_auth=False),
    Route("overview", HOME, "route.overview", nav=True),
    Route("orders", "/dashboard/orders", "route.orders", nav=True),
    Route("couriers", "/dashboard/couriers", "route.couriers", nav=True),
)
NOT_FOUND = Route("not_found", "", "route.not_found")
_BY_PATH = {r.path: r for r in ROUTES}
_BY_NAME = {r.name: r for r in ROUTES}


def normalize_path(path: str) -> str:
    """``/dashboard/orders/`` -> ``/dashboard/orders``; ``""`` -> ``/``."""
    path = (path or "/").split("?", 1)[0].split("#", 1)[0]
    if not path.startswith("/"):
        path = "/" + path
    while len(path) > 1 and path.endswith("/"):
        path = path[:-1]
    return path


def match(path: str) -> Route:
    """The route for ``path`` (``NOT_FOUND`` when none); ``/`` is the dashboard."""
    p = normalize_path(path)
    if p == "/":
        return _BY_NAME["overview"]
    return _BY_PATH.get(p, NOT_FOUND)


def by_name(name: str) -> Route:
    return _BY_NAME[name]


def is_dashboard(path: str) -> bool:
    p = normalize_path(path)
    return p == HOME or p.startswith(HOME + "/")


def safe_next(value: str | None) -> str:
    """Where to go after login: only our own dashboard paths (an open redirect through
    ``?next=https://evil`` or ``//evil`` is refused)."""
    if not value:
        return HOME
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or value.startswith("//") or "\\" in value:
        return HOME
    if not is_dashboard(parts.path):
        return HOME
    return normalize_path(parts.path) + (f"?{parts.query}" if parts.query else "")


def query_param(search: str, name: str) -> str | None:
    values = parse_qs(search.lstrip("?")).get(name)
    return values[0] if values else None


def login_url(next_path: str) -> str:
    if normalize_path(next_path) == "/":
        return LOGIN
    return f"{LOGIN}?next={quote(next_path, safe='')}"


@dataclass(frozen=True)
class Redirect:
    to: str


@dataclass(frozen=True)
class Render:
    route: Route


def decide(path: str, search: str = "", *, authenticated: bool) -> Redirect | Render:
    """The router's one decision: render a route, or redirect (replace, not push)."""
    route = match(path)
    if normalize_path(path) == "/":
        return Redirect(HOME if authenticated else LOGIN)
    if route.name == "login":
        if authenticated:
            return Redirect(safe_next(query_param(search, "next")))
        return Render(route)
    if route.requires_auth and not authenticated:
        return Redirect(login_url(normalize_path(path) + (search if search else "")))
    return Render(route)


def is_plain_left_click(
    *, button: int, meta: bool, ctrl: bool, shift: bool, alt: bool, target: str | None
) -> bool:
    """Only a plain left click on a same-tab link is ours to intercept; middle clicks and
    modified clicks (new tab/window, download) are left to the browser."""
    return button == 0 and not (meta or ctrl or shift or alt) and target in (None, "", "_self")


def is_internal_href(href: str | None) -> bool:
    """An href the router handles: a same-origin absolute path to one of our routes."""
    if not href or not href.startswith("/") or href.startswith("//"):
        return False
    p = normalize_path(href)
    return p == "/" or p == LOGIN or is_dashboard(p)


__all__ = [
    "HOME",
    "LOGIN",
    "NOT_FOUND",
    "ROUTES",
    "Redirect",
    "Render",
    "Route",
    "by_name",
    "decide",
    "is_dashboard",
    "is_internal_href",
    "is_plain_left_click",
    "login_url",
    "match",
    "normalize_path",
    "query_param",
    "safe_next",
]
