"""The server's data path under hostile input.

Each kind of input that answered 500 (and logged a traceback twice) is now a clear 4xx
JSON error, with nothing logged as unhandled and no row written; huge query values are
refused before any work; a slow consumer's dropped stream closes its socket.
"""

from __future__ import annotations

import contextlib
import json
import logging
import pathlib
import time
from collections.abc import Callable, Iterator, MutableMapping
from typing import Any

import httpx
import pytest

from server.app import create_app
from server.bodies import MAX_JSON_DEPTH, MAX_QUERY_BYTES, json_depth_exceeds, parse_json
from server.config import Settings
from server.db import Database
from server.errors import ApiError
from tests.server.app_client import AppClient
from tests.server.sse_wire import RawSSEClient
from tests.support.live_server import LiveServer

BIG = "99999999999999999999"  # 2^63-1 has 19 digits
HUGE = "9" * 5000  # beyond int()'s 4,300-digit limit
ORDER = {"customer": "Dana Levi", "phone": "+972-50-123-4567", "address": "Herzl 1"}
PASSWORD = "hunter2-secret"
SSE = "/v1/events/sse"


@pytest.fixture
def client(tmp_path: pathlib.Path) -> Iterator[AppClient]:
    settings = Settings(db_path=tmp_path / "zariz.db", root=tmp_path / "root")
    # raise_server_exceptions=False: a 500 comes back as a response, so the assertion
    # below names the input that caused it.
    client = AppClient(create_app(settings), raise_server_exceptions=False)
    yield client
    client.close()


@pytest.fixture
def auth(client: AppClient) -> dict[str, str]:
    tokens = client.post("/v1/auth/login", json={"username": "demo", "password": "demo"}).json()
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def counts(client: AppClient) -> tuple[int, int, int]:
    db: Database = client.app.state.db
    sessions = db._query("SELECT COUNT(*) FROM sessions")[0][0]
    return db.count_orders(), db.count_events(), int(sessions)


def assert_clear_4xx(response: httpx.Response, status: int, code: str | None = None) -> None:
    assert response.status_code == status, response.text[:500]
    error = response.json()["error"]
    assert isinstance(error["code"], str) and error["code"]
    assert isinstance(error["message"], str) and 0 < len(error["message"]) <= 300, error
    if code is not None:
        assert error["code"] == code, error
    # Nothing of a huge input comes back.
    assert len(response.content) < 2000, response.content[:300]


def no_traceback(caplog: pytest.LogCaptureFixture) -> None:
    logged = [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]
    assert not logged, [f"{r.name}: {r.getMessage()}" for r in logged]


def raw(text: str) -> bytes:
    return text.encode()


# (what broke, method, url, body bytes, expected status, expected code)
ELEVEN_KINDS: list[tuple[str, str, str, bytes | None, int, str]] = [
    ("path_id_above_int64", "GET", f"/v1/orders/{BIG}", None, 404, "not_found"),
    ("path_id_above_int64_patch", "PATCH", f"/v1/orders/{BIG}", raw('{"notes": "x"}'),
     404, "not_found"),
    ("path_id_above_int64_delete", "DELETE", f"/v1/orders/{BIG}", None, 404, "not_found"),
    ("path_id_of_5000_digits", "GET", f"/v1/orders/{HUGE}", None, 404, "not_found"),
    ("offset_above_int64", "GET", f"/v1/orders?offset={BIG}", None, 422, "validation_error"),
    ("limit_above_int64", "GET", f"/v1/orders?limit={BIG}", None, 422, "validation_error"),
    ("before_id_above_int64", "GET", f"/v1/orders?before_id={BIG}", None, 422,
     "validation_error"),
    ("courier_id_above_int64", "POST", "/v1/orders/1/assign",
     raw(f'{{"courier_id": {BIG}}}'), 422, "number_out_of_range"),
    ("json_nested_1000_deep", "POST", "/v1/orders", raw("[" * 1000 + "]" * 1000), 400,
     "invalid_json"),
    ("json_object_nested_1000_deep", "POST", "/v1/orders",
     raw('{"a":' * 1000 + "1" + "}" * 1000), 400, "invalid_json"),
    ("nan_in_a_string_field", "POST", "/v1/orders",
     raw('{"customer": NaN, "phone": "1", "address": "a"}'), 400, "invalid_json"),
    ("infinity_in_an_id", "POST", "/v1/orders/1/assign", raw('{"courier_id": Infinity}'),
     400, "invalid_json"),
    ("minus_infinity_in_a_status", "POST", "/v1/orders/1/status",
     raw('{"status": -Infinity}'), 400, "invalid_json"),
    ("float_overflowing_to_infinity", "POST", "/v1/orders/1/assign",
     raw('{"courier_id": 1e999}'), 422, "number_out_of_range"),
    ("lone_surrogate_in_create", "POST", "/v1/orders",
     raw('{"customer": "\\ud800", "phone": "1", "address": "a"}'), 400, "invalid_json"),
    ("lone_surrogate_in_patch", "PATCH", "/v1/orders/1", raw('{"notes": "a\\udfffb"}'),
     400, "invalid_json"),
    ("lone_surrogate_in_status", "POST", "/v1/orders/1/status", raw('{"status": "\\ud800"}'),
     400, "invalid_json"),
    ("lone_surrogate_in_a_key", "POST", "/v1/orders", raw('{"\\ud800": 1}'), 400,
     "invalid_json"),
    ("lone_surrogate_in_refresh", "POST", "/v1/auth/refresh",
     raw('{"refresh_token": "\\udbff"}'), 400, "invalid_json"),
    # No PostgreSQL text column holds a NUL: refused on every backend alike.
    ("nul_in_create", "POST", "/v1/orders",
     raw('{"customer": "a\\u0000b", "phone": "050-123-4567", "address": "a"}'), 400,
     "invalid_json"),
    ("nul_in_patch", "PATCH", "/v1/orders/1", raw('{"notes": "\\u0000"}'), 400,
     "invalid_json"),
    ("number_of_5000_digits_in_an_id", "POST", "/v1/orders/1/assign",
     raw(f'{{"courier_id": {HUGE}}}'), 422, "number_out_of_range"),
    ("number_of_5000_digits_in_a_string_field", "POST", "/v1/orders",
     raw(f'{{"customer": {HUGE}, "phone": "1", "address": "a"}}'), 422,
     "number_out_of_range"),
    ("superscript_digit_last_event_id", "GET", f"{SSE}?lastEventId=%C2%B2", None, 400,
     "invalid_last_event_id"),
]


@pytest.mark.parametrize(
    ("method", "url", "body", "status", "code"),
    [case[1:] for case in ELEVEN_KINDS], ids=[case[0] for case in ELEVEN_KINDS],
)
def test_input_that_answered_500_is_a_clear_4xx_with_no_traceback_and_no_row(
    client: AppClient, auth: dict[str, str], caplog: pytest.LogCaptureFixture,
    method: str, url: str, body: bytes | None, status: int, code: str,
) -> None:
    client.post("/v1/orders", json=ORDER, headers=auth)  # order 1 exists
    before = counts(client)
    caplog.clear()
    response = client.request(
        method, url, content=body, headers={**auth, "Content-Type": "application/json"}
    )
    assert_clear_4xx(response, status, code)
    no_traceback(caplog)
    assert counts(client) == before


def test_a_lone_surrogate_in_the_login_password_is_400_and_the_password_is_never_logged(
    client: AppClient, caplog: pytest.LogCaptureFixture,
) -> None:
    """The 500's traceback printed ``input_value='<the password>'``."""
    caplog.set_level(logging.DEBUG)
    before = counts(client)
    body = json.dumps({"username": "demo", "password": PASSWORD})[:-2] + '\\ud800"}'
    response = client.post(
        "/v1/auth/login", content=body.encode(), headers={"Content-Type": "application/json"}
    )
    assert_clear_4xx(response, 400, "invalid_json")
    no_traceback(caplog)
    assert PASSWORD not in caplog.text
    assert counts(client) == before


def test_validation_errors_never_echo_the_input(
    client: AppClient, auth: dict[str, str], caplog: pytest.LogCaptureFixture,
) -> None:
    """pydantic's ``input`` was in ``details``: a password, or 60 KB back to the sender."""
    too_long = PASSWORD * 100  # over the 1,000-character limit: a 422 from pydantic
    response = client.post("/v1/auth/login", json={"username": "demo", "password": too_long})
    assert_clear_4xx(response, 422, "validation_error")
    assert PASSWORD not in response.text
    assert response.json()["error"]["details"][0]["loc"] == ["password"]

    huge = "x" * 60_000
    response = client.post("/v1/orders", json={**ORDER, "customer": huge}, headers=auth)
    assert_clear_4xx(response, 422, "validation_error")
    response = client.post("/v1/orders", json={**ORDER, huge: 1}, headers=auth)  # extra key
    assert_clear_4xx(response, 422, "validation_error")
    assert PASSWORD not in caplog.text


@pytest.mark.parametrize(
    "url",
    [f"/v1/orders?status={'x' * 60_000}", f"/v1/orders?limit=1&junk={'y' * 60_000}",
     f"{SSE}?lastEventId={'9' * 60_000}"],
    ids=["status", "unknown_param", "lastEventId"],
)
def test_a_huge_query_value_is_refused_before_any_work(
    client: AppClient, auth: dict[str, str], caplog: pytest.LogCaptureFixture, url: str,
) -> None:
    response = client.get(url, headers=auth)
    assert_clear_4xx(response, 400, "query_too_long")
    assert str(MAX_QUERY_BYTES) in response.json()["error"]["message"]
    no_traceback(caplog)


def test_a_huge_query_is_refused_even_before_authentication(client: AppClient) -> None:
    response = client.get(f"{SSE}?lastEventId={'9' * 60_000}")
    assert_clear_4xx(response, 400, "query_too_long")


def test_a_huge_last_event_id_header_is_refused_without_echoing_it(
    client: AppClient, auth: dict[str, str],
) -> None:
    response = client.get(SSE, headers={**auth, "Last-Event-ID": "9" * 60_000})
    assert_clear_4xx(response, 400, "invalid_last_event_id")
    response = client.get(SSE, headers={**auth, "Last-Event-ID": "\u00b2".encode("latin-1")})
    assert_clear_4xx(response, 400, "invalid_last_event_id")


def test_a_huge_path_is_not_echoed_in_the_404(client: AppClient) -> None:
    response = client.get("/v1/nothing/" + "z" * 60_000)
    assert_clear_4xx(response, 404)


def test_an_absurd_content_length_is_413_not_a_crash(
    client: AppClient, auth: dict[str, str],
) -> None:
    """A 5,000-digit Content-Length made ``int()`` raise; it is simply too large."""

    async def app_call() -> tuple[int, bytes]:
        messages: list[MutableMapping[str, Any]] = []
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": "/v1/orders", "raw_path": b"/v1/orders",
            "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
            "server": ("testserver", 80),
            "headers": [(b"authorization", auth["Authorization"].encode()),
                        (b"content-type", b"application/json"),
                        (b"content-length", HUGE.encode())],
        }

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b"{}", "more_body": False}

        async def send(message: MutableMapping[str, Any]) -> None:
            messages.append(message)

        await client.app(scope, receive, send)
        body = b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")
        return messages[0]["status"], body

    status, body = client.portal.call(app_call)
    assert status == 413, body
    assert json.loads(body)["error"]["code"] == "payload_too_large"


# -- the guard itself -------------------------------------------------------------------


def test_json_depth_is_measured_without_counting_brackets_in_strings() -> None:
    assert not json_depth_exceeds("[" * MAX_JSON_DEPTH + "]" * MAX_JSON_DEPTH)
    assert json_depth_exceeds("[" * (MAX_JSON_DEPTH + 1) + "]" * (MAX_JSON_DEPTH + 1))
    brackets_in_a_string = json.dumps({"notes": "[{" * 500 + '\\"[' * 50})
    assert not json_depth_exceeds(brackets_in_a_string)
    assert parse_json(brackets_in_a_string.encode())["notes"].startswith("[{[{")


def test_the_depth_scan_is_linear_on_unterminated_escaped_strings() -> None:
    """A string of escaped quotes that never ends must not make the scan quadratic."""
    text = "[" * 100 + '"' + '\\"' * 30_000
    started = time.perf_counter()
    assert json_depth_exceeds(text)  # the brackets came before the string
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(
    "body",
    [b"[1, 2]", b'{"a": [1, {"b": null}], "c": "\\ud83d\\ude00"}', b'\xef\xbb\xbf{"a": 1}',
     f'{{"n": {2**63 - 1}, "m": {-(2**63)}, "f": 1.5e300}}'.encode()],
    ids=["array", "surrogate_pair_is_fine", "utf8_bom", "int64_bounds"],
)
def test_valid_json_still_parses(body: bytes) -> None:
    assert parse_json(body) == json.loads(body.decode("utf-8-sig"))


@pytest.mark.parametrize(
    ("body", "status"),
    [(b"9" * 20, 422), (str(-(2**63) - 1).encode(), 422), (b"\xff", 400), (b"[1,", 400)],
    ids=["int_above", "int_below", "not_utf8", "truncated"],
)
def test_parse_json_refuses_with_an_api_error(body: bytes, status: int) -> None:
    with pytest.raises(ApiError) as caught:
        parse_json(body)
    assert caught.value.status == status


# -- slow consumers: a dropped stream closes its socket (live server) ---------------------


def server_sockets(port: int, client_ports: set[int]) -> dict[int, str]:
    """``{client port: TCP state}`` of the server's side of those connections, from
    ``/proc/net/tcp`` (state 01 = ESTABLISHED)."""
    found = {}
    with open("/proc/net/tcp") as table:
        for line in table.read().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            if local_port == port and remote_port in client_ports:
                found[remote_port] = fields[3]
    return found


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.05)


@contextlib.contextmanager
def replay_heavy_server(tmp_path: pathlib.Path, **env: str) -> Iterator[LiveServer]:
    """A server whose log is bigger than any socket buffer (the kernel's send buffer
    grows to 4 MB): a stream resuming from 0 that does not read blocks on it at once.
    Written directly: 600 orders with 10 KB notes."""
    server = LiveServer(tmp_path, env={"ZARIZ_PING_INTERVAL": "0", **env})
    db = Database(server.db_path)
    db.insert_orders_bulk([{**ORDER, "notes": "n" * 10_000}] * 600, "order.created")
    db.close()
    with server:
        yield server


def test_a_dropped_slow_consumer_closes_its_socket(tmp_path: pathlib.Path) -> None:
    """Dropped streams kept their connections (and MBs of kernel send queue) until the
    client went away: uvicorn's close waits for the buffer to drain."""
    with replay_heavy_server(tmp_path, ZARIZ_SSE_QUEUE="4") as server:
        check_slow_consumers_are_closed(server)


def test_a_stream_whose_send_times_out_closes_its_socket(tmp_path: pathlib.Path) -> None:
    """The other way a stalled stream ends (sse-starlette's send timeout, no events
    needed) must close its socket too."""
    with replay_heavy_server(tmp_path, ZARIZ_SEND_TIMEOUT="1") as server:
        token = server.login()["access_token"]
        headers = {"Authorization": f"Bearer {token}", "Last-Event-ID": "0"}
        with RawSSEClient(server.url + SSE, headers, rcvbuf=2048) as stalled:
            ports = {stalled.sock.getsockname()[1]}
            wait_for(lambda: bool(server_sockets(server.port, ports)), 5, "the connection")
            wait_for(lambda: not server_sockets(server.port, ports), 10,
                     "the server to close the timed-out connection")
        log = server.log_text()
    assert "SSE send timed out" in log
    assert "SSE connection reset: the client fell behind" in log
    assert "Traceback" not in log


def check_slow_consumers_are_closed(server: LiveServer) -> None:
    token = server.login()["access_token"]
    bearer = {"Authorization": f"Bearer {token}"}
    stalled = [
        RawSSEClient(server.url + SSE, {**bearer, "Last-Event-ID": "0"}, rcvbuf=2048)
        for _ in range(3)
    ]
    healthy = RawSSEClient(server.url + SSE, bearer)
    try:
        ports = {client.sock.getsockname()[1] for client in stalled}
        assert all(client.status == 200 for client in stalled)
        assert healthy.next_event().retry is not None
        assert healthy.next_event().event == "position"
        wait_for(lambda: len(server_sockets(server.port, ports)) == 3, 5, "the connections")
        created: list[int] = []
        while server.metric("zariz_sse_slow_consumers_dropped_total") < 3:
            assert len(created) < 200, "the stalled streams were never dropped"
            created.append(server.create_order(token)["id"])
        # Within a few seconds the server holds none of them, in any state (a plain
        # close would leave them ESTABLISHED, or the unsent data queued behind a FIN).
        wait_for(lambda: not server_sockets(server.port, ports), 5,
                 "the server to close the dropped connections")
        # The healthy stream was not disturbed: it has every order, in order.
        ids: list[int] = []
        while len(ids) < len(created):
            event = healthy.next_event(timeout=5)
            if event.event == "message":
                ids.append(event.json()["data"]["id"])
        assert ids == created
    finally:
        healthy.close()
        for client in stalled:
            client.close()
    log = server.log_text()
    assert log.count("SSE connection reset: the client fell behind") == 3, log[-3000:]
    assert "Traceback" not in log
    assert "without completing response" not in log
