"""Pages, static files and the browser app's Python (raw files and a zip bundle).

Everything is read from ``settings.root`` (ZARIZ_ROOT). Vendor files are pinned by
version, so they are cached for a year; everything else is revalidated (no-cache).

In dev mode (``server.dev``) ``index.html`` carries ``<meta name="zariz-dev"
content="strict|no-strict">`` before ``</head>`` and ``GET /__dev/manifest`` answers;
without it the page is the file byte for byte and the manifest is a 404.
"""

from __future__ import annotations

import io
import mimetypes
import pathlib
import re
import threading
import zipfile

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from server.dev import DevReloader
from server.errors import ApiError

# The platform's mime table may lack these; browsers refuse modules / wasm otherwise.
mimetypes.add_type("text/javascript", ".js")
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("application/wasm", ".wasm")
mimetypes.add_type("application/json", ".map")
mimetypes.add_type("application/toml", ".toml")

NO_CACHE = "no-cache"
NO_STORE = "no-store"
IMMUTABLE = "public, max-age=31536000, immutable"
_HEAD_END = re.compile(rb"</head\s*>", re.IGNORECASE)


def _root(request: Request) -> pathlib.Path:
    return request.app.state.settings.root  # type: ignore[no-any-return]


def _file(path: pathlib.Path, what: str, media_type: str | None = None) -> FileResponse:
    if not path.is_file():
        raise ApiError(404, "not_found", f"{what} is missing on the server.")
    return FileResponse(path, media_type=media_type, headers={"Cache-Control": NO_CACHE})


def _dev(request: Request) -> DevReloader | None:
    return getattr(request.app.state, "dev", None)


def dev_meta(strict: bool) -> bytes:
    return b'<meta name="zariz-dev" content="%s">' % (b"strict" if strict else b"no-strict")


def with_dev_meta(html: bytes, strict: bool) -> bytes:
    """``html`` with the dev meta right before its first ``</head>`` (at the end of the
    document if it has none: the page still finds it with ``querySelector``)."""
    meta = dev_meta(strict)
    match = _HEAD_END.search(html)
    if match is None:
        return html + meta
    return html[:match.start()] + meta + html[match.start():]


_STYLESHEET = re.compile(rb'href="/(static/css/[A-Za-z0-9_./-]+\.css)"')


def with_css_versions(html: bytes, files: dict[str, str]) -> bytes:
    """Each ``href="/static/css/X.css"`` stamped ``?v=<hash>`` from the manifest: the page
    then knows which version of the sheet it loaded, so a save made while it booted (or
    before a follower tab heard its first notice) is still swapped in."""

    def stamp(match: re.Match[bytes]) -> bytes:
        digest = files.get(match.group(1).decode())
        if digest is None:
            return match.group(0)
        return b'href="/' + match.group(1) + b"?v=" + digest.encode() + b'"'

    return _STYLESHEET.sub(stamp, html)


async def index(request: Request) -> Response:
    path = _root(request) / "index.html"
    dev = _dev(request)
    if dev is None:
        return _file(path, "index.html", "text/html; charset=utf-8")
    try:
        html = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError) as exc:
        raise ApiError(404, "not_found", "index.html is missing on the server.") from exc
    html = with_css_versions(with_dev_meta(html, dev.strict), dev.files)
    return Response(html, media_type="text/html; charset=utf-8",
                    headers={"Cache-Control": NO_CACHE})


async def dev_manifest(request: Request) -> Response:
    dev = _dev(request)
    if dev is None:
        raise ApiError(404, "not_found", "Dev mode is off: start the server with --dev.")
    return JSONResponse(dev.manifest(), headers={"Cache-Control": NO_STORE})


async def pyscript_toml(request: Request) -> Response:
    return _file(_root(request) / "pyscript.toml", "pyscript.toml", "application/toml")


class CachingStaticFiles(StaticFiles):
    """StaticFiles with our Cache-Control policy; the directory may appear later."""

    def __init__(self, directory: pathlib.Path) -> None:
        super().__init__(directory=directory, check_dir=False)

    def file_response(self, full_path: object, stat_result: object, scope: Scope,
                      status_code: int = 200) -> Response:
        response = super().file_response(full_path, stat_result, scope, status_code)  # type: ignore[arg-type]
        vendor = scope["path"].startswith("/vendor/") or "/static/vendor/" in scope["path"]
        response.headers["Cache-Control"] = IMMUTABLE if vendor else NO_CACHE
        return response


class BundleCache:
    """Zip of ``app/zariz/**.py`` (arcnames ``zariz/...``), rebuilt when any file's
    mtime, size or the file set changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[tuple[str, int, int], ...] | None = None
        self._data = b""

    @staticmethod
    def _files(package: pathlib.Path) -> list[pathlib.Path]:
        return sorted(
            p for p in package.rglob("*.py") if "__pycache__" not in p.parts and p.is_file()
        )

    def get(self, package: pathlib.Path) -> bytes:
        files = self._files(package)
        key = tuple(
            (p.relative_to(package).as_posix(), p.stat().st_mtime_ns, p.stat().st_size)
            for p in files
        )
        with self._lock:
            if key != self._key:
                buffer = io.BytesIO()
                with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                    for path in files:
                        arcname = "zariz/" + path.relative_to(package).as_posix()
                        archive.write(path, arcname)
                self._key, self._data = key, buffer.getvalue()
            return self._data


async def bundle(request: Request) -> Response:
    package = _root(request) / "app" / "zariz"
    if not package.is_dir():
        raise ApiError(404, "not_found", "The app package app/zariz is missing on the server.")
    data = request.app.state.bundle_cache.get(package)
    return Response(data, media_type="application/zip", headers={"Cache-Control": NO_CACHE})


async def app_file(request: Request) -> Response:
    base = (_root(request) / "app").resolve()
    relative = request.path_params["path"]
    target = (base / relative).resolve()
    # Only Python sources, and never outside app/ (.. or symlinks out are refused).
    if target.suffix != ".py" or not target.is_relative_to(base) or "__pycache__" in target.parts:
        raise ApiError(404, "not_found", f"No app file {relative!r}.")
    return _file(target, f"app/{relative}", "text/x-python; charset=utf-8")


def routes(root: pathlib.Path) -> list[Route | Mount]:
    return [
        Route("/", index, methods=["GET"]),
        Route("/login", index, methods=["GET"]),
        Route("/dashboard", index, methods=["GET"]),
        Route("/dashboard/{rest:path}", index, methods=["GET"]),
        Route("/pyscript.toml", pyscript_toml, methods=["GET"]),
        Route("/__dev/manifest", dev_manifest, methods=["GET"]),
        Route("/app/bundle.zip", bundle, methods=["GET"]),
        Route("/app/{path:path}", app_file, methods=["GET"]),
        Mount("/static", app=CachingStaticFiles(root / "static"), name="static"),
    ]
