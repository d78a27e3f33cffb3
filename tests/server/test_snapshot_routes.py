"""The server's half of the snapshot boot: which page announces a snapshot, how the
snapshot and the boot loader are served. Against a temporary root with stub files; the
expected snapshot name is computed here with hashlib, independently of ``server.web``."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import pathlib
import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import zstandard

from server.app import create_app
from server.config import Settings
from tests.server.app_client import AppClient

VERSION = "314.0.7"
BUILD_ID = "990c3b51a9722d62434de2bbc9643732658d488c1b6d467f22c1b6beba80d497"
INDEX = "<!doctype html><html><head><title>zariz</title></head><body></body></html>"
APP_FILES = {"zariz/__init__.py": "", "zariz/boot.py": "X = 1\n"}
LOADER = "export const loader = 'ours';\n"
SNAPSHOT = b"\x00\x44\x6f\x70" + bytes(range(256)) * 40  # contents do not matter here


def bundle_digest(root: pathlib.Path) -> str:
    digest = hashlib.sha256()
    package = root / "app" / "zariz"
    for path in sorted(p for p in package.rglob("*.py")):
        arcname = "zariz/" + path.relative_to(package).as_posix()
        data = path.read_bytes()
        digest.update(f"{arcname}\0{len(data)}\0".encode() + data)
    return digest.hexdigest()


def expected_name(root: pathlib.Path) -> str:
    return f"pyodide-{VERSION}-{BUILD_ID[:12]}-app-{bundle_digest(root)[:16]}"


def write_snapshot(root: pathlib.Path, name: str | None = None,
                   manifest: dict[str, Any] | None = None) -> str:
    """What scripts/build_snapshot.py leaves: <name>.bin, .bin.zst, .bin.gz, the manifest."""
    name = name or expected_name(root)
    folder = root / "var" / "snapshot"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.bin").write_bytes(SNAPSHOT)
    zstd_copy = zstandard.ZstdCompressor().compress(SNAPSHOT)
    gzip_copy = gzip.compress(SNAPSHOT)
    (folder / f"{name}.bin.zst").write_bytes(zstd_copy)
    (folder / f"{name}.bin.gz").write_bytes(gzip_copy)
    body = {"name": name, "bytes": len(SNAPSHOT), "gzip": True, "gzip_bytes": len(gzip_copy),
            "zstd": True, "zstd_bytes": len(zstd_copy),
            "sha256": base64.b64encode(hashlib.sha256(SNAPSHOT).digest()).decode()}
    body.update(manifest or {})
    (folder / f"{name}.json").write_text(json.dumps(body))
    return name


@pytest.fixture
def root(tmp_path: pathlib.Path) -> pathlib.Path:
    root = tmp_path / "root"
    files = {
        "index.html": INDEX,
        "static/vendor/pyodide/package.json": json.dumps({"name": "pyodide",
                                                          "version": VERSION}),
        "static/vendor/pyodide/pyodide.mjs": f'let n={{args:[],BUILD_ID:"{BUILD_ID}"}};',
        "static/boot/zariz-loader.mjs": LOADER,
        **{f"app/{k}": v for k, v in APP_FILES.items()},
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def app_client(tmp_path: pathlib.Path, root: pathlib.Path, **settings: Any) -> AppClient:
    return AppClient(create_app(Settings(db_path=tmp_path / "z.db", root=root, **settings)))


@pytest.fixture
def client(tmp_path: pathlib.Path, root: pathlib.Path) -> Iterator[AppClient]:
    client = app_client(tmp_path, root)
    yield client
    client.close()


def snapshot_tags(html: str) -> list[str]:
    return re.findall(r'<meta name="zariz-snapshot"[^>]*>|<link rel="preload"[^>]*>'
                      r'|<script type="module" async src="[^"]*zariz-loader[^>]*>', html)


def test_no_snapshot_no_tags_page_byte_for_byte(client: AppClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.text == INDEX


@pytest.mark.parametrize("path", ["/", "/login", "/dashboard/orders/17"])
def test_current_snapshot_is_announced_and_the_loader_started_early(
    client: AppClient, root: pathlib.Path, path: str
) -> None:
    name = write_snapshot(root)
    response = client.get(path)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"
    sha = base64.b64encode(hashlib.sha256(SNAPSHOT).digest()).decode()
    version = sha.replace("+", "-").replace("/", "_").rstrip("=")[:16]
    url = f"/app/snapshot/{name}.bin?v={version}"
    tags = (f'<meta name="zariz-snapshot" content="{url}" data-bytes="{len(SNAPSHOT)}" '
            f'data-sha256="{sha}" data-pyodide="{name.split("-")[1]}">'
            '<script type="module" async src="/static/vendor/pyodide/zariz-loader.mjs">'
            '</script>')
    assert response.text == INDEX.replace("</head>", tags + "</head>")
    # No preload of the snapshot: the loader downloads it in a worker, whose fetch would
    # not take the page's preloaded response (two downloads).
    assert "preload" not in response.text


def test_dev_mode_never_announces_a_snapshot(tmp_path: pathlib.Path, root: pathlib.Path) -> None:
    write_snapshot(root)
    client = app_client(tmp_path, root, dev=True)
    try:
        html = client.get("/").text
        assert '<meta name="zariz-dev" content="strict">' in html  # the dev meta stays
        assert snapshot_tags(html) == []
    finally:
        client.close()


def test_boot_plain_query_gets_no_snapshot_tags(client: AppClient, root: pathlib.Path) -> None:
    write_snapshot(root)
    assert snapshot_tags(client.get("/").text) != []
    assert client.get("/dashboard?boot=plain").text == INDEX


def test_stale_snapshot_is_not_announced(client: AppClient, root: pathlib.Path) -> None:
    write_snapshot(root)
    assert snapshot_tags(client.get("/").text) != []
    module = root / "app" / "zariz" / "boot.py"
    module.write_text("X = 2\n")  # the bundle changed: the snapshot holds the old module
    later = time.time() + 5
    os.utime(module, (later, later))
    assert client.get("/").text == INDEX
    write_snapshot(root)  # built again for the new bundle
    assert snapshot_tags(client.get("/").text) != []


def test_snapshot_of_another_pyodide_is_not_announced(
    client: AppClient, root: pathlib.Path
) -> None:
    write_snapshot(root)
    mjs = root / "static" / "vendor" / "pyodide" / "pyodide.mjs"
    mjs.write_text(f'let n={{BUILD_ID:"{"ab" * 32}"}};')
    later = time.time() + 5
    os.utime(mjs, (later, later))
    assert client.get("/").text == INDEX


def test_a_touched_file_with_the_same_bytes_keeps_the_snapshot(
    client: AppClient, root: pathlib.Path
) -> None:
    write_snapshot(root)
    module = root / "app" / "zariz" / "boot.py"
    later = time.time() + 5
    os.utime(module, (later, later))  # a checkout or an editor's save without a change
    assert snapshot_tags(client.get("/").text) != []


@pytest.mark.parametrize("damage", ["no-manifest", "no-bin", "wrong-name", "bad-sha", "junk"])
def test_incomplete_snapshot_is_not_announced(
    client: AppClient, root: pathlib.Path, damage: str
) -> None:
    name = write_snapshot(root)
    folder = root / "var" / "snapshot"
    if damage == "no-manifest":
        (folder / f"{name}.json").unlink()  # the builder writes it last
    elif damage == "no-bin":
        (folder / f"{name}.bin").unlink()
    elif damage == "wrong-name":
        write_snapshot(root, name=name, manifest={"name": "pyodide-0-0-app-0"})
    elif damage == "bad-sha":
        write_snapshot(root, name=name, manifest={"sha256": "x"})
    else:
        (folder / f"{name}.json").write_text("{not json")
    assert client.get("/").text == INDEX


def test_snapshot_file_is_immutable_and_gzip_when_accepted(
    client: AppClient, root: pathlib.Path
) -> None:
    name = write_snapshot(root)
    url = f"/app/snapshot/{name}.bin?v=whatever"
    zipped = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br"})
    assert zipped.status_code == 200
    assert zipped.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.headers["vary"] == "Accept-Encoding"
    assert zipped.headers["content-type"] == "application/octet-stream"
    assert int(zipped.headers["content-length"]) < len(SNAPSHOT)
    assert zipped.content == SNAPSHOT  # httpx decodes it
    for accept in ("identity", "gzip;q=0, br", "deflate", "gzip; Q=0.0"):
        plain = client.get(url, headers={"Accept-Encoding": accept})
        assert plain.status_code == 200
        assert "content-encoding" not in plain.headers, accept
        assert plain.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert plain.content == SNAPSHOT


def test_snapshot_file_is_zstd_where_taken_first(client: AppClient, root: pathlib.Path) -> None:
    name = write_snapshot(root)
    url = f"/app/snapshot/{name}.bin"
    chromium = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br, zstd"})
    assert chromium.headers["content-encoding"] == "zstd"
    assert chromium.headers["vary"] == "Accept-Encoding"
    assert chromium.headers["cache-control"] == "public, max-age=31536000, immutable"
    packed = (root / "var" / "snapshot" / f"{name}.bin.zst").read_bytes()
    assert int(chromium.headers["content-length"]) == len(packed)
    assert zstandard.ZstdDecompressor().decompress(packed) == SNAPSHOT
    assert chromium.content == SNAPSHOT  # httpx decodes it
    for accept, coding in (("zstd;q=0, gzip", "gzip"), ("zstd; Q=0", None), ("br", None),
                           ("gzip;q=1, zstd;q=0.1", "gzip"), ("*", "zstd"),
                           ("*;q=0.5, gzip", "gzip"), ("zstd;level=3;q=0, gzip;q=0.2", "gzip"),
                           ("zstd;q=x", None), ("zstd;q=2", None), ("ZSTD", "zstd")):
        response = client.get(url, headers={"Accept-Encoding": accept})
        assert response.headers.get("content-encoding") == coding, accept
        assert response.content == SNAPSHOT
    # A .zst another build of this name left (an older builder writes none): not sent.
    (root / "var" / "snapshot" / f"{name}.bin.zst").write_bytes(
        zstandard.ZstdCompressor().compress(SNAPSHOT + b"another build"))
    stale = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br, zstd"})
    assert stale.headers["content-encoding"] == "gzip" and stale.content == SNAPSHOT
    (root / "var" / "snapshot" / f"{name}.bin.zst").unlink()  # a snapshot built before zstd
    older = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br, zstd"})
    assert older.headers["content-encoding"] == "gzip" and older.content == SNAPSHOT
    (root / "var" / "snapshot" / f"{name}.json").unlink()  # no manifest: the bytes as they are
    bare = client.get(url, headers={"Accept-Encoding": "gzip, deflate, br, zstd"})
    assert "content-encoding" not in bare.headers and bare.content == SNAPSHOT


def test_snapshot_without_gzip_copy_is_served_plain(client: AppClient, root: pathlib.Path) -> None:
    name = write_snapshot(root)
    (root / "var" / "snapshot" / f"{name}.bin.gz").unlink()
    response = client.get(f"/app/snapshot/{name}.bin", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200 and "content-encoding" not in response.headers
    assert response.content == SNAPSHOT


@pytest.mark.parametrize("path", [
    "/app/snapshot/nope.bin", "/app/snapshot/{name}.json", "/app/snapshot/{name}.bin.gz",
    "/app/snapshot/{name}.bin.zst",
    "/app/snapshot/..%2F..%2Findex.html", "/app/snapshot/.lock", "/app/snapshot/",
])
def test_snapshot_route_serves_only_snapshots(
    client: AppClient, root: pathlib.Path, path: str
) -> None:
    name = write_snapshot(root)
    (root / "var" / "snapshot" / ".lock").write_text("")
    response = client.get(path.format(name=name))
    assert response.status_code == 404, path
    assert response.json()["error"]["code"] == "not_found"


def test_boot_loader_is_served_from_pyodide_folder_uncached(
    client: AppClient, root: pathlib.Path
) -> None:
    response = client.get("/static/vendor/pyodide/zariz-loader.mjs")
    assert response.status_code == 200
    assert response.text == LOADER
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == "no-cache"
    # Its neighbours stay vendor files: immutable.
    mjs = client.get("/static/vendor/pyodide/pyodide.mjs")
    assert mjs.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_boot_loader_falls_back_to_the_servers_own(client: AppClient, root: pathlib.Path) -> None:
    (root / "static" / "boot" / "zariz-loader.mjs").unlink()
    response = client.get("/static/vendor/pyodide/zariz-loader.mjs")
    assert response.status_code == 200
    own = pathlib.Path(__file__).resolve().parents[2] / "static" / "boot" / "zariz-loader.mjs"
    assert response.text == own.read_text()


def test_the_snapshot_fetcher_falls_back_to_the_servers_own(
    client: AppClient, root: pathlib.Path
) -> None:
    """A root without the loader gets the server's loader, which asks for the server's
    fetcher: a root without one (a copy made before it existed) gets that too."""
    own = pathlib.Path(__file__).resolve().parents[2] / "static" / "boot" / "snapshot-fetch.mjs"
    fetcher = root / "static" / "boot" / "snapshot-fetch.mjs"
    fetcher.write_text("// the root's own\n")
    response = client.get("/static/boot/snapshot-fetch.mjs")
    assert response.status_code == 200 and response.text == "// the root's own\n"
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["cache-control"] == "no-cache"
    fetcher.unlink()
    response = client.get("/static/boot/snapshot-fetch.mjs")
    assert response.status_code == 200 and response.text == own.read_text()


def test_the_bundle_digest_names_the_snapshot(client: AppClient, root: pathlib.Path) -> None:
    """The zip served and the digest the name is built from cover the same files."""
    write_snapshot(root)
    extra = root / "app" / "zariz" / "extra.py"
    extra.write_text("Y = 1\n")  # a new module: a new bundle
    assert client.get("/").text == INDEX
    assert "zariz/extra.py" in client.get("/app/bundle.zip").content.decode("latin-1")
