"""Dev mode's server half: the manifest, the index's dev meta, ``dev.reload`` notices on
the event stream (a real server watching a temporary copy of the tree), its shutdown and
its configuration.

Hashes are computed here with hashlib, independently of ``server.dev``.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import re
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from server import sse
from server.__main__ import parse_args
from server.app import create_app
from server.config import ConfigError, Settings
from server.db import Database, Event
from server.dev import DevReloader
from server.events import MemoryHub, Notice, Subscription
from server.metrics import Metrics
from server.security import Principal
from tests.server.app_client import AppClient
from tests.server.sse_wire import RawSSEClient, WireEvent
from tests.support.dev_tree import copy_tree
from tests.support.live_server import LiveServer

SSE = "/v1/events/sse"
MANIFEST = "/__dev/manifest"
NOTICE_BOUND_S = 2.0  # loose on purpose: speed is the benchmark's business, not a test's
APP_PY = "app/zariz/ui/app.py"
CSS = "static/css/app.css"


# -- helpers ------------------------------------------------------------------------------


def expected_files(root: pathlib.Path) -> dict[str, str]:
    found = [
        *(p for p in (root / "app").rglob("*.py") if "__pycache__" not in p.parts),
        *(root / "static" / "css").rglob("*.css"),
    ]
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()[:16]
        for p in found
    }


def short_hash(path: pathlib.Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def wait_for(condition: Callable[[], bool], timeout: float = 5, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def manifest(server: LiveServer) -> dict[str, Any]:
    response = httpx.get(server.url + MANIFEST, timeout=5)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


class Stream:
    """An authenticated event stream read with the raw client; ``frames`` keeps every
    frame read so far (pings excluded), so a test can look back at all of them."""

    def __init__(self, server: LiveServer) -> None:
        self.server = server
        self.token = str(server.login()["access_token"])
        self.client = RawSSEClient(server.url + SSE, {"Authorization": f"Bearer {self.token}"})
        assert self.client.status == 200
        self.frames: list[WireEvent] = []

    def next(self, timeout: float = 5) -> WireEvent:
        while True:
            event = self.client.next_event(timeout)
            if event.event != "ping":
                self.frames.append(event)
                return event

    def next_notice(self, timeout: float = 5) -> dict[str, Any]:
        event = self.next(timeout)
        assert event.event == "dev.reload", event
        return event.json()  # type: ignore[no-any-return]

    def position(self) -> WireEvent:
        """Read the retry block, then the position frame, and return the latter."""
        assert self.next().retry is not None
        position = self.next()
        assert position.event == "position"
        return position

    def opening(self) -> tuple[WireEvent, WireEvent]:
        """In dev mode: (the position frame, the frame right after it)."""
        position = self.position()
        return position, self.next()

    def close(self) -> None:
        self.client.close()


@pytest.fixture
def dev_root(tmp_path: pathlib.Path) -> pathlib.Path:
    return copy_tree(tmp_path / "root")


@pytest.fixture
def dev_server(
    dev_root: pathlib.Path, live_server_factory: Callable[..., LiveServer]
) -> LiveServer:
    return live_server_factory(root=dev_root, ZARIZ_DEV="1")


@pytest.fixture
def stream(dev_server: LiveServer) -> Iterator[Stream]:
    opened = Stream(dev_server)
    yield opened
    opened.close()


# -- the manifest and the index -----------------------------------------------------------


def test_manifest_lists_every_watched_file_with_its_hash(
    dev_server: LiveServer, dev_root: pathlib.Path
) -> None:
    response = httpx.get(dev_server.url + MANIFEST, timeout=5)
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["version"] == 1
    assert body["files"] == expected_files(dev_root)
    assert APP_PY in body["files"] and CSS in body["files"]
    assert all("__pycache__" not in key for key in body["files"])


def test_manifest_is_a_json_404_without_dev(
    live_server_factory: Callable[..., LiveServer], dev_root: pathlib.Path
) -> None:
    server = live_server_factory(root=dev_root)
    response = httpx.get(server.url + MANIFEST, timeout=5)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def app_client(tmp_path: pathlib.Path, root: pathlib.Path, **settings: Any) -> AppClient:
    return AppClient(create_app(Settings(db_path=tmp_path / "z.db", root=root, **settings)))


@pytest.mark.parametrize(("settings", "content"), [
    ({"dev": True}, "strict"),
    ({"dev": True, "dev_strict": False}, "no-strict"),
])
def test_dev_index_has_the_meta_right_before_head_end(
    tmp_path: pathlib.Path, dev_root: pathlib.Path, settings: dict[str, Any], content: str
) -> None:
    client = app_client(tmp_path, dev_root, **settings)
    try:
        for path in ("/", "/dashboard/orders"):
            response = client.get(path)
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/html")
            meta = f'<meta name="zariz-dev" content="{content}">'
            expected = (dev_root / "index.html").read_text().replace(
                "</head>", meta + "</head>", 1
            )
            # Every stylesheet of ours is stamped with its content hash.
            sheets = re.findall(r'href="/(static/css/[^"?]+\.css)"', expected)
            assert CSS in sheets
            for sheet in sheets:
                stamped = f'href="/{sheet}?v={short_hash(dev_root / sheet)}"'
                expected = expected.replace(f'href="/{sheet}"', stamped)
            assert response.text == stamp_scripts(expected, dev_root)
    finally:
        client.close()


def stamp_scripts(html: str, root: pathlib.Path) -> str:
    """``html`` with each of our boot scripts named with its content hash, as served."""
    for script in re.findall(r'src="/(static/boot/[^"?]+\.js)"', html):
        html = html.replace(f'src="/{script}"', f'src="/{script}?v={short_hash(root / script)}"')
    return html


def test_index_without_dev_is_the_file_with_its_assets_versioned(
    tmp_path: pathlib.Path, dev_root: pathlib.Path
) -> None:
    client = app_client(tmp_path, dev_root, dev_strict=False)  # strict alone is no dev
    try:
        response = client.get("/")
        expected = stamp_scripts((dev_root / "index.html").read_text(), dev_root)
        for sheet in re.findall(r'href="/(static/css/[^"?]+\.css)"', expected):
            expected = expected.replace(
                f'href="/{sheet}"', f'href="/{sheet}?v={short_hash(dev_root / sheet)}"')
        assert "?v=" in expected
        assert response.text == expected
        assert b"zariz-dev" not in response.content
        assert client.get(MANIFEST).status_code == 404
    finally:
        client.close()


def test_live_dev_server_serves_the_no_strict_meta_from_the_environment(
    live_server_factory: Callable[..., LiveServer], dev_root: pathlib.Path
) -> None:
    server = live_server_factory(root=dev_root, ZARIZ_DEV="1", ZARIZ_DEV_STRICT="0")
    html = httpx.get(server.url + "/", timeout=5).text
    assert '<meta name="zariz-dev" content="no-strict"></head>' in html
    assert "dev mode on" in server.log_text()


# -- notices on the stream ----------------------------------------------------------------


def test_stream_opens_with_position_then_the_current_version(stream: Stream) -> None:
    position, hello = stream.opening()
    assert hello.event == "dev.reload" and hello.id is None
    assert hello.json() == {"version": 1, "previous": None, "changed": None}
    assert position.id is not None


def test_edit_delete_and_css_each_send_one_notice(stream: Stream, dev_root: pathlib.Path) -> None:
    stream.opening()
    target = dev_root / APP_PY
    target.write_text(target.read_text() + "\n# an edit\n")
    assert stream.next_notice() == {
        "version": 2, "previous": 1, "changed": {APP_PY: short_hash(target)},
    }
    doomed = dev_root / "app" / "zariz" / "ui" / "format.py"
    doomed.unlink()
    assert stream.next_notice() == {
        "version": 3, "previous": 2, "changed": {"app/zariz/ui/format.py": None},
    }
    css = dev_root / CSS
    css.write_text(css.read_text() + "\nbody { color: red; }\n")
    assert stream.next_notice() == {"version": 4, "previous": 3, "changed": {CSS: short_hash(css)}}
    added = dev_root / "app" / "zariz" / "ui" / "fresh.py"
    added.write_text("X = 1\n")
    assert stream.next_notice()["changed"] == {"app/zariz/ui/fresh.py": short_hash(added)}
    assert manifest(stream.server)["files"] == expected_files(dev_root)
    assert manifest(stream.server)["version"] == 5


def test_pycache_and_other_files_send_no_notice(stream: Stream, dev_root: pathlib.Path) -> None:
    stream.opening()
    cache = dev_root / "app" / "zariz" / "ui" / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "app.cpython-311.py").write_text("junk = 1\n")
    (dev_root / "app" / "zariz" / "notes.txt").write_text("not python\n")
    (dev_root / "static" / "css" / "notes.md").write_text("not css\n")
    # Give the watcher time to see them as a batch of their own (not the assertion: the
    # next notice below is, and it must be about the .py edit only).
    time.sleep(0.3)
    target = dev_root / APP_PY
    target.write_text(target.read_text() + "\n# after the noise\n")
    assert stream.next_notice() == {
        "version": 2, "previous": 1, "changed": {APP_PY: short_hash(target)},
    }


def test_quick_writes_give_increasing_versions_and_a_true_manifest(
    stream: Stream, dev_root: pathlib.Path
) -> None:
    stream.opening()
    names = ["app.py", "login.py", "format.py"]
    for round_ in range(10):
        for name in names:
            path = dev_root / "app" / "zariz" / "ui" / name
            path.write_text(path.read_text() + f"\n# quick {round_}\n")
    final = expected_files(dev_root)
    wait_for(lambda: manifest(stream.server)["files"] == final, what="the manifest to settle")
    last = manifest(stream.server)["version"]
    notices: list[dict[str, Any]] = []
    while not notices or notices[-1]["version"] < last:
        notices.append(stream.next_notice())
    versions = [n["version"] for n in notices]
    assert versions == sorted(set(versions)) and versions[0] == 2
    assert all(n["previous"] == n["version"] - 1 for n in notices)
    # Each file's last announced hash is its final one.
    announced: dict[str, str | None] = {}
    for notice in notices:
        announced.update(notice["changed"])
    for name in names:
        key = f"app/zariz/ui/{name}"
        assert announced[key] == final[key]


def test_notices_carry_no_id_and_leave_the_log_ids_alone(
    stream: Stream, dev_root: pathlib.Path
) -> None:
    position, _hello = stream.opening()
    target = dev_root / APP_PY
    target.write_text(target.read_text() + "\n# before the order\n")
    assert stream.next_notice()["version"] == 2
    order = stream.server.create_order(stream.token, customer="Between notices")
    target.write_text(target.read_text() + "\n# after the order\n")
    message = stream.next()
    assert message.event == "message"
    assert message.json()["data"] == order
    assert message.id == str(int(position.id or 0) + 1)
    assert stream.next_notice()["version"] == 3
    dev_frames = [f for f in stream.frames if f.event == "dev.reload"]
    assert len(dev_frames) == 3
    assert all(f.id is None for f in dev_frames)
    # The stream's resume position is the order's id, untouched by the notices after it.
    assert stream.client.parser.last_id == message.id


def test_a_reconnecting_stream_gets_the_current_version(
    stream: Stream, dev_root: pathlib.Path
) -> None:
    stream.opening()
    stream.close()
    target = dev_root / APP_PY
    target.write_text(target.read_text() + "\n# while the stream was down\n")
    wait_for(lambda: manifest(stream.server)["version"] == 2, what="the change")
    again = Stream(stream.server)
    try:
        _position, hello = again.opening()
        assert hello.json() == {"version": 2, "previous": None, "changed": None}
    finally:
        again.close()


def test_without_dev_no_stream_carries_a_notice(
    live_server_factory: Callable[..., LiveServer], dev_root: pathlib.Path
) -> None:
    server = live_server_factory(root=dev_root)
    stream = Stream(server)
    try:
        stream.position()
        # Nothing follows the position until the order: an edit sends nothing.
        target = dev_root / APP_PY
        target.write_text(target.read_text() + "\n# no one is watching\n")
        time.sleep(0.3)  # the time a watcher would need (not the assertion)
        order = server.create_order(stream.token)
        after = stream.next()
        assert after.event == "message" and after.json()["data"] == order
    finally:
        stream.close()
    assert all(f.event != "dev.reload" for f in stream.frames)


def test_write_to_notice_latency(stream: Stream, dev_root: pathlib.Path) -> None:
    stream.opening()
    target = dev_root / "app" / "zariz" / "ui" / "login.py"
    latencies = []
    for i in range(15):
        started = time.monotonic()
        target.write_text(target.read_text() + f"\n# timed {i}\n")
        notice = stream.next_notice(timeout=NOTICE_BOUND_S * 2)
        latencies.append(time.monotonic() - started)
        assert notice["changed"] == {"app/zariz/ui/login.py": short_hash(target)}
    print(f"write -> dev.reload: median {statistics.median(latencies) * 1000:.0f} ms, "
          f"max {max(latencies) * 1000:.0f} ms")
    assert max(latencies) < NOTICE_BOUND_S


def test_shutdown_with_the_watcher_and_a_stream_is_quick(
    stream: Stream, dev_root: pathlib.Path
) -> None:
    stream.opening()
    target = dev_root / APP_PY
    target.write_text(target.read_text() + "\n# watched\n")
    assert stream.next_notice()["version"] == 2  # the watcher is running
    took = stream.server.stop()
    assert took < 3, f"stop took {took:.1f}s"
    assert "Application shutdown complete" in stream.server.log_text()
    assert "did not stop" not in stream.server.log_text()


# -- in-process: the reloader and the queue -----------------------------------------------


def test_reloader_listeners_have_one_undo_per_registration(dev_root: pathlib.Path) -> None:
    dev = DevReloader(dev_root)
    seen: list[dict[str, Any]] = []

    def boom(_notice: dict[str, Any]) -> None:
        raise RuntimeError("boom")

    dev.listen(boom)
    undo = dev.listen(seen.append)
    dev.listen(seen.append)
    assert dev.rescan() is None  # nothing changed: no notice, no version
    (dev_root / APP_PY).write_text("X = 2\n")
    notice = dev.rescan()  # boom is logged, the others still hear it
    assert notice is not None and seen == [notice, notice]
    undo()
    undo()
    (dev_root / APP_PY).write_text("X = 3\n")
    assert dev.rescan() == seen[-1] and len(seen) == 3
    assert dev.version == 3 and dev.listener_count == 2


async def test_a_stream_listens_while_open_and_undoes_when_it_ends(
    tmp_path: pathlib.Path, dev_root: pathlib.Path
) -> None:
    db = Database(tmp_path / "z.db", event_retention=10)
    hub = MemoryHub(db, queue_size=4, metrics=Metrics())
    dev = DevReloader(dev_root)
    principal = Principal("demo", "sid", time.time() + 60)
    async def active(_sid: str) -> bool:
        return True

    frames = sse._stream(hub, Metrics(), principal, None, 1000, [], active, dev)
    try:
        assert (await anext(frames)).retry == 1000
        assert (await anext(frames)).event == "position"
        assert (await anext(frames)).data == '{"version":1,"previous":null,"changed":null}'
        assert dev.listener_count == 1
        (dev_root / APP_PY).write_text("X = 2\n")
        dev.rescan()
        notice = await anext(frames)
        assert notice.event == "dev.reload" and notice.id is None
        assert json.loads(str(notice.data))["changed"] == {APP_PY: short_hash(dev_root / APP_PY)}
    finally:
        await frames.aclose()
        db.close()
    assert dev.listener_count == 0


def event(event_id: int) -> Event:
    return Event(event_id, "order.created", "{}")


async def test_notices_are_outside_the_queue_bound_and_dropped_once_closed() -> None:
    sub = Subscription(2, None)
    for i in range(5):
        sub.notify(Notice("dev.reload", json.dumps({"version": i})))
    assert sub.offer(event(1)) and sub.offer(event(2))
    assert not sub.offer(event(3))  # the bound counts events only
    got = [await sub.get(timeout=0) for _ in range(7)]
    assert [type(item).__name__ for item in got] == ["Notice"] * 5 + ["Event"] * 2
    assert sub.offer(event(3)) and sub.offer(event(4))  # the notices freed no room twice
    assert not sub.offer(event(5))
    sub.close("unsubscribed")
    sub.notify(Notice("dev.reload", "{}"))
    assert sub.closed_reason == "unsubscribed"


# -- configuration ------------------------------------------------------------------------


def test_dev_settings_from_the_environment() -> None:
    assert (Settings.from_env({}).dev, Settings.from_env({}).dev_strict) == (False, True)
    settings = Settings.from_env({"ZARIZ_DEV": "1", "ZARIZ_DEV_STRICT": "0"})
    assert (settings.dev, settings.dev_strict) == (True, False)
    assert Settings.from_env({"ZARIZ_DEV": "on"}).dev is True


@pytest.mark.parametrize("var", ["ZARIZ_DEV", "ZARIZ_DEV_STRICT"])
def test_bad_dev_flags_are_refused(var: str) -> None:
    with pytest.raises(ConfigError, match=f"{var}='maybe': expected 1/0"):
        Settings.from_env({var: "maybe"})


def test_dev_flags_on_the_command_line_override_the_environment() -> None:
    base = Settings.from_env({"ZARIZ_DEV": "1", "ZARIZ_DEV_STRICT": "1"})
    assert (base.dev, base.dev_strict) == (True, True)
    off = parse_args(["--no-dev"], base)
    assert off.dev is False
    loose = parse_args(["--dev", "--no-dev-strict"], Settings())
    assert (loose.dev, loose.dev_strict) == (True, False)
    assert parse_args([], Settings()).dev is False
