"""Pages, static files and the app bundle, against a temporary ZARIZ_ROOT with stubs."""

from __future__ import annotations

import hashlib
import io
import os
import pathlib
import time
import zipfile
from collections.abc import Iterator

import pytest

from server.app import create_app
from server.config import Settings
from tests.server.app_client import AppClient


@pytest.fixture
def root(tmp_path: pathlib.Path) -> pathlib.Path:
    root = tmp_path / "root"
    files = {
        "index.html": "<!doctype html><title>zariz</title>",
        "pyscript.toml": 'name = "zariz"\n',
        "static/css/app.css": "body{}",
        "static/vendor/core.mjs": "export {}",
        "static/vendor/pyodide.wasm": "\0asm",
        "static/vendor/pyodide.js": "var x",
        "app/zariz/__init__.py": "",
        "app/zariz/sse/client.py": "X = 1\n",
        "app/zariz/__pycache__/client.cpython-311.py": "junk",
        "app/zariz/notes.txt": "not python",
        "secret.py": "SECRET = 1",
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.fixture
def client(tmp_path: pathlib.Path, root: pathlib.Path) -> Iterator[AppClient]:
    client = AppClient(create_app(Settings(db_path=tmp_path / "z.db", root=root)))
    yield client
    client.close()


@pytest.mark.parametrize("path", ["/", "/login", "/dashboard", "/dashboard/orders/17"])
def test_pages_serve_index_html_uncached(client: AppClient, path: str):
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["cache-control"] == "no-cache"
    assert "<title>zariz</title>" in response.text


def test_pyscript_toml(client: AppClient):
    response = client.get("/pyscript.toml")
    assert response.status_code == 200 and 'name = "zariz"' in response.text
    assert response.headers["cache-control"] == "no-cache"


def test_static_cache_policy_and_mime_types(client: AppClient):
    css = client.get("/static/css/app.css")
    assert css.status_code == 200 and css.headers["cache-control"] == "no-cache"
    mjs = client.get("/static/vendor/core.mjs")
    assert mjs.headers["content-type"].startswith("text/javascript")
    assert mjs.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert client.get("/static/vendor/pyodide.js").headers["content-type"].startswith(
        "text/javascript"
    )
    assert client.get("/static/vendor/pyodide.wasm").headers["content-type"] == "application/wasm"
    assert client.get("/static/nope.css").status_code == 404


@pytest.mark.parametrize(("asset", "tag"), [
    ("static/css/app.css", '<link rel="stylesheet" href="/{}">'),
    ("static/boot/early.js", '<script src="/{}"></script>'),
])
def test_own_assets_are_named_by_content_and_cached_while_current(
    client: AppClient, root: pathlib.Path, asset: str, tag: str
) -> None:
    (root / "static" / "boot").mkdir(exist_ok=True)
    (root / asset).write_text("/* one */")
    (root / "index.html").write_text(
        "<!doctype html><head>" + tag.format(asset) + "</head><title>zariz</title>")

    def named() -> str:
        html = client.get("/dashboard").text
        start = html.index(f"/{asset}?v=") + len(f"/{asset}?v=")
        return html[start:html.index('"', start)]

    first = named()
    assert len(first) == 16
    cache = lambda url: client.get(url).headers["cache-control"]  # noqa: E731
    # As the page names it: a year (a warm load asks the server nothing).
    assert cache(f"/{asset}?v={first}") == "public, max-age=31536000, immutable"
    # Without its version, or with another, it is revalidated.
    assert cache(f"/{asset}") == "no-cache"
    assert cache(f"/{asset}?v=0000000000000000") == "no-cache"
    assert cache(f"/{asset}?v={first}&v={first}") == "no-cache"
    # Changed: the page names the new version; the old one is no longer cached for good.
    time.sleep(0.01)
    (root / asset).write_text("/* two, longer */")
    second = named()
    assert second != first
    assert cache(f"/{asset}?v={second}") == "public, max-age=31536000, immutable"
    assert cache(f"/{asset}?v={first}") == "no-cache"
    assert client.get(f"/{asset}?v={second}").text == "/* two, longer */"


def test_an_asset_changed_with_its_size_and_mtime_kept_is_a_new_version(
    client: AppClient, root: pathlib.Path
) -> None:
    """A deploy that keeps mtimes (cp -p, tar x) and a same-size edit: still a new hash,
    and the old one is no longer answered as immutable."""
    css = root / "static" / "css" / "app.css"
    css.write_text("a{color:#111111}")
    os.utime(css, ns=(1_700_000_000 * 10**9, 1_700_000_000 * 10**9))
    (root / "index.html").write_text(
        '<!doctype html><head><link rel="stylesheet" href="/static/css/app.css"></head>')

    def named() -> str:
        html = client.get("/").text
        return html.split("app.css?v=")[1].split('"')[0]

    first = named()
    replacement = css.with_name("app.css.new")  # replaced as a deploy does: a new file
    replacement.write_text("a{color:#222222}")
    os.utime(replacement, ns=(1_700_000_000 * 10**9, 1_700_000_000 * 10**9))
    replacement.replace(css)
    second = named()
    assert second != first
    # Written in place, same size, the mtime set back: still seen.
    css.write_text("a{color:#333333}")
    os.utime(css, ns=(1_700_000_000 * 10**9, 1_700_000_000 * 10**9))
    third = named()
    assert third not in (first, second)
    css.write_text("a{color:#222222}")
    os.utime(css, ns=(1_700_000_000 * 10**9, 1_700_000_000 * 10**9))
    assert named() == second
    assert client.get(f"/static/css/app.css?v={first}").headers["cache-control"] == "no-cache"
    assert client.get(f"/static/css/app.css?v={second}").headers["cache-control"] == (
        "public, max-age=31536000, immutable")


def test_only_our_css_and_boot_files_are_versioned_however_the_path_is_spelled(
    client: AppClient, root: pathlib.Path
) -> None:
    (root / "static" / "other").mkdir()
    (root / "static" / "other" / "x.css").write_text("b{}")
    digest = hashlib.sha256(b"b{}").hexdigest()[:16]
    assert client.get(f"/static/other/x.css?v={digest}").headers["cache-control"] == "no-cache"
    # A path that names css/ on its way elsewhere is judged by where it lands.
    response = client.get(f"/static/css/%2e%2e/other/x.css?v={digest}")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"


def test_bundle_zip_has_only_package_python(client: AppClient, root: pathlib.Path):
    response = client.get("/app/bundle.zip")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/zip"
    assert response.headers["cache-control"] == "no-cache"
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert sorted(names) == ["zariz/__init__.py", "zariz/sse/client.py"]


def test_bundle_zip_is_rebuilt_when_a_file_changes(client: AppClient, root: pathlib.Path):
    first = client.get("/app/bundle.zip").content
    assert client.get("/app/bundle.zip").content == first  # cached
    module = root / "app/zariz/sse/client.py"
    module.write_text("X = 2\n")
    later = time.time() + 5
    os.utime(module, (later, later))
    archive = zipfile.ZipFile(io.BytesIO(client.get("/app/bundle.zip").content))
    assert archive.read("zariz/sse/client.py") == b"X = 2\n"


def test_app_files_only_python_and_no_traversal(client: AppClient):
    ok = client.get("/app/zariz/sse/client.py")
    assert ok.status_code == 200 and ok.text == "X = 1\n"
    for path in ("/app/zariz/notes.txt", "/app/../secret.py", "/app/%2e%2e/secret.py",
                 "/app/zariz/__pycache__/client.cpython-311.py", "/app/zariz/missing.py"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"


def test_missing_index_is_a_clear_404(tmp_path: pathlib.Path):
    client = AppClient(create_app(Settings(db_path=tmp_path / "z.db", root=tmp_path / "empty")))
    try:
        response = client.get("/dashboard")
        assert response.status_code == 404 and "index.html" in response.json()["error"]["message"]
    finally:
        client.close()
