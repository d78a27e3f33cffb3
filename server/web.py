"""Pages, static files and the browser app's Python (raw files and a zip bundle).

Everything is read from ``settings.root`` (ZARIZ_ROOT). Vendor files are pinned by
version, so they are cached for a year. The page's own stylesheets and scripts
(``static/css``, ``static/boot``) are named in ``index.html`` with ``?v=<content hash>``,
and a request that carries their current hash is cached for a year too: a warm load
paints without asking the server about them again (it asked once per sheet and script,
each holding the first paint), and a changed file is a new URL in the next page. Everything
else is revalidated (no-cache).

In dev mode (``server.dev``) ``index.html`` carries ``<meta name="zariz-dev"
content="strict|no-strict">`` before ``</head>`` and ``GET /__dev/manifest`` answers;
without it the manifest is a 404.

Out of dev mode, when ``var/snapshot/`` holds a Pyodide memory snapshot built
(``scripts/build_snapshot.py``) for the vendored Pyodide *and* the current app bundle,
``index.html`` carries ``<meta name="zariz-snapshot">`` and an async module script of the
boot loader (``static/boot/zariz-loader.mjs``) before ``</head>``: the loader starts the
snapshot's download early and restores the interpreter from it instead of initialising
one. Otherwise the loader boots plain.
"""

from __future__ import annotations

import hashlib
import html as html_escape
import io
import json
import mimetypes
import pathlib
import re
import threading
import zipfile
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from server.dev import DevReloader, file_hash
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


def with_head_tags(html: bytes, tags: bytes) -> bytes:
    """``html`` with ``tags`` right before its first ``</head>`` (at the end of the
    document if it has none: the page still finds them with ``querySelector``)."""
    match = _HEAD_END.search(html)
    if match is None:
        return html + tags
    return html[:match.start()] + tags + html[match.start():]


def sse_client_meta(words: str) -> bytes:
    """``<meta name="zariz-sse">`` with the deployment's default (``ZARIZ_SSE_CLIENT``,
    already checked by ``server.config.parse_sse_client``), read by the page's
    ``zariz.boot.sse_options``."""
    return b'<meta name="zariz-sse" content="%s">' % html_escape.escape(words).encode()


def with_dev_meta(html: bytes, strict: bool) -> bytes:
    """``html`` with the dev meta right before its first ``</head>``."""
    return with_head_tags(html, dev_meta(strict))


ASSET_LIMIT = 1 << 20
"""A page's own file is read whole to be hashed (ours are 2-40 KB); a bigger one is not
versioned (served as before, revalidated)."""


def asset_version(path: pathlib.Path) -> tuple[bytes, str] | None:
    """``path``'s bytes and their hash (:func:`server.dev.file_hash`, the dev manifest's),
    read now: a hash kept from an earlier read can be stale in ways no stat shows (a
    same-size edit within one timestamp tick). ``None``: unreadable or too big."""
    try:
        with path.open("rb") as file:
            data = file.read(ASSET_LIMIT + 1)
    except OSError:
        return None
    if len(data) > ASSET_LIMIT:
        return None
    return data, file_hash(data)


VERSIONED = ("css", "boot")
"""Under static/: the folders whose files the page names with ``?v=<hash>``."""
_OWN_ASSET = re.compile(
    rb'(?<![\w-])(href|src)="/(static/(?:css|boot)/[A-Za-z0-9_-][A-Za-z0-9_.-]*'
    rb'(?:/[A-Za-z0-9_-][A-Za-z0-9_.-]*)*\.(?:css|js))"'
)


def with_asset_versions(html: bytes, root: pathlib.Path) -> bytes:
    """Each ``href``/``src`` of ``/static/css/*.css`` and ``/static/boot/*.js`` stamped
    ``?v=<hash>`` of the file now (a file that cannot be read is left as it is)."""

    def stamp(match: re.Match[bytes]) -> bytes:
        found = asset_version(root / match.group(2).decode())
        if found is None:
            return match.group(0)
        return match.group(1) + b'="/' + match.group(2) + b"?v=" + found[1].encode() + b'"'

    return _OWN_ASSET.sub(stamp, html)


async def index(request: Request) -> Response:
    root = _root(request)
    path = root / "index.html"
    dev = _dev(request)
    # ?boot=plain: the loader will not restore, so the page must not start a 30 MB download.
    plain = request.query_params.get("boot") == "plain"
    snapshot = None if dev is not None or plain else current_snapshot(request)
    sse_client: str = request.app.state.settings.sse_client
    try:
        html = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError) as exc:
        raise ApiError(404, "not_found", "index.html is missing on the server.") from exc
    if sse_client:
        html = with_head_tags(html, sse_client_meta(sse_client))
    if dev is not None:
        html = with_dev_meta(html, dev.strict)
    elif snapshot is not None:
        html = with_head_tags(html, snapshot.head_tags())
    # In dev mode too: the stamps are the dev manifest's hash (the same function) of what
    # the page will load, so its hot reloader knows which version of each sheet it holds.
    html = with_asset_versions(html, root)
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
        path: str = scope["path"]
        vendor = path.startswith("/vendor/") or "/static/vendor/" in path
        current = None if vendor else self._current(full_path, scope)
        if current is not None and status_code == 200 and scope.get("method") == "GET":
            # The bytes that were hashed are the bytes sent: a file replaced meanwhile
            # cannot go out under the other's version, cached for good.
            media_type = mimetypes.guess_type(str(full_path))[0] or "text/plain"
            return Response(current, media_type=media_type,
                            headers={"Cache-Control": IMMUTABLE})
        response = super().file_response(full_path, stat_result, scope, status_code)  # type: ignore[arg-type]
        response.headers["Cache-Control"] = IMMUTABLE if vendor else NO_CACHE
        return response

    def _current(self, full_path: object, scope: Scope) -> bytes | None:
        """The bytes of a page's own file (``static/css``, ``static/boot``: by its real
        path, however the request spelled it) asked for with its current ``?v=``, as
        the page names it; else ``None``."""
        if self.directory is None:
            return None
        real = pathlib.Path(str(full_path))
        try:
            relative = real.relative_to(pathlib.Path(self.directory).resolve())
        except ValueError:
            return None
        if len(relative.parts) < 2 or relative.parts[0] not in VERSIONED:
            return None
        query = scope.get("query_string", b"").decode("latin-1")
        asked = [v for k, _, v in (p.partition("=") for p in query.split("&")) if k == "v"]
        if len(asked) != 1:
            return None
        found = asset_version(real)
        return found[0] if found is not None and found[1] == asked[0] else None


def bundle_files(package: pathlib.Path) -> list[pathlib.Path]:
    """The sources the bundle ships: ``**/*.py`` of the package, no ``__pycache__``."""
    return sorted(
        p for p in package.rglob("*.py") if "__pycache__" not in p.parts and p.is_file()
    )


class BundleCache:
    """Zip of ``app/zariz/**.py`` (arcnames ``zariz/...``), rebuilt when any file's
    mtime, size or the file set changes; ``digest`` is the SHA-256 (hex) of its names and
    contents (not of the zip, whose bytes hold mtimes): what a snapshot is built for."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[tuple[str, int, int], ...] | None = None
        self._data = b""
        self._digest = ""

    def _refresh(self, package: pathlib.Path) -> tuple[bytes, str]:
        files = bundle_files(package)
        key = tuple(
            (p.relative_to(package).as_posix(), p.stat().st_mtime_ns, p.stat().st_size)
            for p in files
        )
        with self._lock:
            if key != self._key:
                buffer = io.BytesIO()
                digest = hashlib.sha256()
                with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
                    for path in files:
                        arcname = "zariz/" + path.relative_to(package).as_posix()
                        data = path.read_bytes()
                        digest.update(b"%s\0%d\0" % (arcname.encode(), len(data)))
                        digest.update(data)
                        info = zipfile.ZipInfo.from_file(path, arcname)
                        info.compress_type = zipfile.ZIP_DEFLATED
                        archive.writestr(info, data)
                self._key, self._data = key, buffer.getvalue()
                self._digest = digest.hexdigest()
            return self._data, self._digest

    def get(self, package: pathlib.Path) -> bytes:
        return self._refresh(package)[0]

    def digest(self, package: pathlib.Path) -> str:
        return self._refresh(package)[1]


# -- Pyodide memory snapshots ------------------------------------------------------------

SNAPSHOT_DIR = pathlib.PurePosixPath("var/snapshot")
"""Under the root: ``<name>.bin`` (+ ``.bin.zst``, ``.bin.gz``) and ``<name>.json``, the manifest
the builder writes last, so a snapshot without one is incomplete and never announced."""
SNAPSHOT_URL = "/app/snapshot/"
_BUILD_ID = re.compile(rb'BUILD_ID:"([0-9a-f]{16,128})"')
_SNAPSHOT_FILE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}\.bin")


@dataclass(frozen=True)
class PyodideBuild:
    version: str
    build_id: str


def pyodide_build(root: pathlib.Path) -> PyodideBuild | None:
    """The vendored Pyodide's version (its package.json) and build id (in pyodide.mjs; a
    snapshot only restores into the build that made it), or ``None`` if unreadable."""
    folder = root / "static" / "vendor" / "pyodide"
    try:
        version = json.loads((folder / "package.json").read_text(encoding="utf-8"))["version"]
        match = _BUILD_ID.search((folder / "pyodide.mjs").read_bytes())
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if match is None or not isinstance(version, str) or not re.fullmatch(r"[\w.+-]+", version):
        return None
    return PyodideBuild(version=version, build_id=match.group(1).decode())


def snapshot_name(build: PyodideBuild, bundle_digest: str) -> str:
    """``pyodide-<version>-<build id>-app-<bundle digest>``: a snapshot restores only into
    its Pyodide build and holds the modules of one bundle, so either change renames it."""
    return f"pyodide-{build.version}-{build.build_id[:12]}-app-{bundle_digest[:16]}"


@dataclass(frozen=True)
class Snapshot:
    name: str
    size: int  # bytes of the (uncompressed) snapshot
    sha256: str  # base64 (as in Subresource Integrity); the loader checks it

    @property
    def url(self) -> str:
        # The content hash in the query: a rebuild for the same inputs (new bytes, same
        # name) is a new URL, so the loader never checks the new hash against old bytes
        # the browser cached as immutable (and falls back to a plain boot on every load).
        return f"{SNAPSHOT_URL}{self.name}.bin?v={_url_safe(self.sha256)[:16]}"

    def head_tags(self) -> bytes:
        url = html_escape.escape(self.url)
        # The boot loader itself, as an async module: it runs as soon as it and Pyodide's
        # pyodide.mjs are in (~60 ms into a warm load), not when PyScript's core has
        # loaded, read pyscript.toml and imported its plugins (~300 ms), and starts the
        # snapshot's download then. PyScript's import of its `interpreter` later finds
        # the same module (one per URL per page), already running. No <link
        # rel=preload> of the snapshot: the loader fetches it in a worker, whose fetch
        # does not take the page's preloaded response (it would be downloaded twice).
        # The loader checks the SHA-256 itself (integrity= on a fetch is slow).
        # data-pyodide: a browser that still runs an older, cached pyodide.mjs (vendor
        # files are immutable-cached) cannot restore this build: the loader then boots
        # plain without downloading it.
        pyodide = html_escape.escape(self.name.split("-")[1])
        return (
            f'<meta name="zariz-snapshot" content="{url}" data-bytes="{self.size}" '
            f'data-sha256="{html_escape.escape(self.sha256)}" data-pyodide="{pyodide}">'
            f'<script type="module" async src="{LOADER_URL}"></script>'
        ).encode()


def _url_safe(b64: str) -> str:
    return b64.replace("+", "-").replace("/", "_").rstrip("=")


class SnapshotIndex:
    """Finds the current snapshot of a root: the manifest named for today's Pyodide build
    and bundle digest. The build id is read once per version of pyodide.mjs; the manifest
    (a few hundred bytes) on every page load, so a rebuilt or deleted one counts at once."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._build_key: tuple[int, int] | None = None
        self._build: PyodideBuild | None = None

    def build(self, root: pathlib.Path) -> PyodideBuild | None:
        mjs = root / "static" / "vendor" / "pyodide" / "pyodide.mjs"
        try:
            stat = mjs.stat()
        except OSError:
            return None
        key = (stat.st_mtime_ns, stat.st_size)
        with self._lock:
            if key != self._build_key:
                self._build_key, self._build = key, pyodide_build(root)
            return self._build

    def current(self, root: pathlib.Path, bundle_digest: str) -> Snapshot | None:
        build = self.build(root)
        if build is None:
            return None
        name = snapshot_name(build, bundle_digest)
        folder = root / SNAPSHOT_DIR
        snapshot = _read_manifest(folder / f"{name}.json", name)
        if snapshot is None or not (folder / f"{name}.bin").is_file():
            return None
        return snapshot


def _read_manifest(path: pathlib.Path, name: str) -> Snapshot | None:
    try:
        body = json.loads(path.read_text(encoding="utf-8"))
        snapshot = Snapshot(name=name, size=int(body["bytes"]), sha256=str(body["sha256"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if body.get("name") != name or not re.fullmatch(r"[A-Za-z0-9+/]{43}=", snapshot.sha256):
        return None
    return snapshot


def current_snapshot(request: Request) -> Snapshot | None:
    """The snapshot the page may boot from, or ``None`` (none built, stale, incomplete)."""
    root = _root(request)
    package = root / "app" / "zariz"
    if not package.is_dir():
        return None
    digest = request.app.state.bundle_cache.digest(package)
    return request.app.state.snapshots.current(root, digest)  # type: ignore[no-any-return]


def _codings(request: Request) -> dict[str, float]:
    """Accept-Encoding as ``{coding: q}`` (names lower-cased; ``*`` kept as ``*``; a q that
    does not parse counts as 0, i.e. not taken)."""
    found: dict[str, float] = {}
    for item in request.headers.get("accept-encoding", "").split(","):
        name, *params = (part.strip() for part in item.split(";"))
        if not name:
            continue
        q = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    q = float(value.strip())
                except ValueError:
                    q = 0.0
                q = q if 0.0 <= q <= 1.0 else 0.0
        found[name.lower()] = q
    return found


def _pick_coding(request: Request, offered: list[str]) -> str | None:
    """The coding of ``offered`` the client takes with the highest q (ties: the first
    offered); ``*`` stands for any coding not named; None: none is taken."""
    codings = _codings(request)
    best, best_q = None, 0.0
    for coding in offered:
        q = codings.get(coding, codings.get("*", 0.0))
        if q > best_q:
            best, best_q = coding, q
    return best


def _current_copies(manifest: pathlib.Path, copies: dict[str, pathlib.Path]) -> list[str]:
    """The codings whose copy has the size the manifest's build recorded (``<coding>_bytes``):
    a copy another build of the same name left behind (an older builder writes no zstd and
    leaves the newer one's) is not sent for these bytes, unless its size is the same too."""
    try:
        body = json.loads(manifest.read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(body, dict):
        return []
    found = []
    for coding, path in copies.items():
        size = body.get(f"{coding}_bytes")
        try:
            if isinstance(size, int) and path.stat().st_size == size:
                found.append(coding)
        except OSError:
            continue
    return found


async def snapshot_file(request: Request) -> Response:
    """``/app/snapshot/<name>.bin``: immutable (a new build or bundle is a new name, a new
    build of the same inputs a new ``?v=``); zstd-encoded when the client takes it (Chromium
    does: decoded faster than gzip on every warm boot, and smaller), else gzip, else as is."""
    name = request.path_params["name"]
    folder = _root(request) / SNAPSHOT_DIR
    path = folder / name
    if not _SNAPSHOT_FILE.fullmatch(name) or not path.is_file():
        raise ApiError(404, "not_found", f"No snapshot {name!r} on the server.")
    headers = {"Cache-Control": IMMUTABLE, "Vary": "Accept-Encoding"}
    copies = {"zstd": folder / f"{name}.zst", "gzip": folder / f"{name}.gz"}
    coding = _pick_coding(request, _current_copies(folder / f"{name[:-4]}.json", copies))
    if coding is not None:
        headers["Content-Encoding"] = coding
        return FileResponse(copies[coding], media_type="application/octet-stream",
                            headers=headers)
    return FileResponse(path, media_type="application/octet-stream", headers=headers)


LOADER = pathlib.PurePosixPath("static/boot/zariz-loader.mjs")
LOADER_URL = "/static/vendor/pyodide/zariz-loader.mjs"  # where the page (PyScript) loads it
SNAPSHOT_FETCH = pathlib.PurePosixPath("static/boot/snapshot-fetch.mjs")
SNAPSHOT_FETCH_URL = "/" + str(SNAPSHOT_FETCH)  # the loader asks for it here
_OWN_ROOT = pathlib.Path(__file__).resolve().parent.parent


def loader_path(root: pathlib.Path) -> pathlib.Path:
    """The boot loader of ``root``; a root without one (a copy of the page's files made
    before the loader existed) gets this server's: it speaks this server's snapshot
    routes and meta, so it is never wrong for it."""
    path = root / LOADER
    return path if path.is_file() else _OWN_ROOT / LOADER


def snapshot_fetch_path(root: pathlib.Path) -> pathlib.Path:
    """The loader's snapshot fetcher of ``root``, or this server's for a root without one
    (with :func:`loader_path`'s fallback, the loader that asks for it is this server's)."""
    path = root / SNAPSHOT_FETCH
    return path if path.is_file() else _OWN_ROOT / SNAPSHOT_FETCH


async def snapshot_fetcher(request: Request) -> Response:
    """``/static/boot/snapshot-fetch.mjs``: the loader's worker script (and its fallback
    module). Its own route for :func:`snapshot_fetch_path`'s fallback; not immutable."""
    return _file(snapshot_fetch_path(_root(request)), "snapshot-fetch.mjs",
                 "text/javascript; charset=utf-8")


async def boot_loader(request: Request) -> Response:
    """The boot loader lives with our sources (static/boot) but is served from Pyodide's
    folder: PyScript takes the folder of the ``interpreter`` module as Pyodide's
    ``indexURL``. Not immutable like the vendor files beside it: it is ours and changes."""
    return _file(loader_path(_root(request)), "zariz-loader.mjs",
                 "text/javascript; charset=utf-8")


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
        Route(SNAPSHOT_URL + "{name}", snapshot_file, methods=["GET"]),
        Route("/app/{path:path}", app_file, methods=["GET"]),
        Route(LOADER_URL, boot_loader, methods=["GET"]),
        Route(SNAPSHOT_FETCH_URL, snapshot_fetcher, methods=["GET"]),
        Mount("/static", app=CachingStaticFiles(root / "static"), name="static"),
    ]
