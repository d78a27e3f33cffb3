"""The event stream against a real uvicorn (``python -m server`` on a free port).

Streams are read by two independent clients: httpx-sse and ``sse_wire.RawSSEClient``.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest
from httpx_sse import ServerSentEvent, connect_sse

from tests.server.sse_wire import RawSSEClient, StreamEnded, WireEvent
from tests.support.live_server import LiveServer

SSE = "/v1/events/sse"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def wait_for(condition: Callable[[], bool], timeout: float = 5, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def httpx_sse_read(
    url: str, headers: dict[str, str], count: int, *, skip_pings: bool = True,
    timeout: float = 5,
) -> list[ServerSentEvent]:
    """The first ``count`` events via httpx-sse (retry-only blocks and the opening
    ``position`` frame skipped; pings too unless ``skip_pings`` is False)."""
    events: list[ServerSentEvent] = []
    with httpx.Client(timeout=httpx.Timeout(timeout)) as client:
        with connect_sse(client, "GET", url, headers=headers) as source:
            assert source.response.status_code == 200
            for event in source.iter_sse():
                if event.data == "" and event.retry is not None:
                    continue
                if event.event == "position" or (skip_pings and event.event == "ping"):
                    continue
                events.append(event)
                if len(events) == count:
                    break
    return events


def data_events(client: RawSSEClient, count: int, timeout: float = 5) -> list[WireEvent]:
    """The next ``count`` default-``message`` events from the raw client."""
    events: list[WireEvent] = []
    deadline = time.monotonic() + timeout
    while len(events) < count:
        event = client.next_event(max(0.01, deadline - time.monotonic()))
        if event.event == "message" and event.data:
            events.append(event)
    return events


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One default server for the tests that only add events (saves start-ups)."""
    env = {"ZARIZ_PING_INTERVAL": "0.3"}
    with LiveServer(tmp_path_factory.mktemp("shared"), env=env) as server:
        yield server


@pytest.fixture(scope="module")
def token(shared_server: LiveServer) -> str:
    return str(shared_server.login()["access_token"])


def test_stream_starts_with_retry_then_monotonic_ids(shared_server: LiveServer, token: str):
    with RawSSEClient(shared_server.url + SSE, bearer(token)) as raw:
        assert raw.status == 200
        assert raw.headers["content-type"].startswith("text/event-stream")
        first = raw.next_event()
        assert first.retry == 1000 and first.data == ""
        created = [shared_server.create_order(token, customer=f"C{i}") for i in range(3)]
        events = data_events(raw, 3)
    ids = [int(e.id or 0) for e in events]
    assert ids == sorted(ids) and len(set(ids)) == 3 and ids[1] == ids[0] + 1
    for event, order in zip(events, created, strict=True):
        payload = event.json()
        assert event.event == "message"  # default event: no `event:` line
        assert payload["type"] == "order.created"
        assert payload["data"] == order
        assert isinstance(payload["ts"], int)
        compact = json.dumps(payload, separators=(",", ":"), ensure_ascii=False)
        assert event.data == compact


def test_replay_by_header_and_by_query_with_both_clients(shared_server: LiveServer, token: str):
    first = shared_server.create_order(token, customer="replay-a")
    shared_server.create_order(token, customer="replay-b")
    shared_server.create_order(token, customer="replay-c")
    # Find the event id of `first` by replaying everything once with the raw client.
    with RawSSEClient(shared_server.url + SSE, {**bearer(token), "Last-Event-ID": "0"}) as raw:
        ids_by_customer: dict[str, int] = {}
        while "replay-c" not in ids_by_customer:
            event = data_events(raw, 1)[0]
            ids_by_customer[event.json()["data"]["customer"]] = int(event.id or 0)
    start = ids_by_customer["replay-a"]
    assert first["customer"] == "replay-a"

    by_header = httpx_sse_read(
        shared_server.url + SSE, {**bearer(token), "Last-Event-ID": str(start)}, 2
    )
    by_query = httpx_sse_read(f"{shared_server.url}{SSE}?lastEventId={start}", bearer(token), 2)
    with RawSSEClient(
        f"{shared_server.url}{SSE}?lastEventId=0", {**bearer(token), "Last-Event-ID": str(start)}
    ) as raw:
        header_wins = data_events(raw, 2)
    expected = [ids_by_customer["replay-b"], ids_by_customer["replay-c"]]
    assert [int(e.id) for e in by_header] == expected
    assert [int(e.id) for e in by_query] == expected
    assert [int(e.id or 0) for e in header_wins] == expected
    assert json.loads(by_query[1].data)["data"]["customer"] == "replay-c"
    assert shared_server.metric("zariz_events_replayed_total") >= 6


def test_a_new_stream_tells_its_position_first_so_a_cut_before_any_event_loses_nothing(
    shared_server: LiveServer, token: str
):
    """Regression: a stream opened without Last-Event-ID started "from now" and told the
    client nothing; a cut before the first event left the client no id to resume from, and
    orders created while it reconnected were lost."""
    shared_server.create_order(token, customer="before-the-stream")
    with RawSSEClient(shared_server.url + SSE, bearer(token)) as raw:
        first = next(e for e in iter(raw.next_event, None) if e.data)
    assert first.event == "position"
    position = int(first.id or -1)
    assert first.json() == {"last_id": position}
    snapshot = httpx.get(f"{shared_server.url}/v1/orders", headers=bearer(token), timeout=5)
    assert position == snapshot.json()["last_event_id"]  # nothing happened in between
    # The stream is gone before it carried an event; orders are created meanwhile.
    missed = [shared_server.create_order(token, customer=f"missed-{n}")["id"] for n in range(3)]
    resume = {**bearer(token), "Last-Event-ID": str(position)}
    with RawSSEClient(shared_server.url + SSE, resume) as raw:
        first = next(e for e in iter(raw.next_event, None) if e.data)
        assert (first.event, first.id) == ("position", str(position))
        replayed = data_events(raw, 3)
    assert [e.json()["data"]["id"] for e in replayed] == missed
    assert [int(e.id or 0) for e in replayed] == [position + 1, position + 2, position + 3]


def test_the_position_is_read_after_subscribing_so_nothing_falls_between(
    shared_server: LiveServer, token: str
):
    """Orders created while streams open: each stream's first event is position + 1."""
    stop = threading.Event()

    def create_until_stopped() -> None:
        while not stop.is_set():
            shared_server.create_order(token, customer="racing")

    writer = threading.Thread(target=create_until_stopped)
    writer.start()
    try:
        for _ in range(10):
            with RawSSEClient(shared_server.url + SSE, bearer(token)) as raw:
                position = next(e for e in iter(raw.next_event, None) if e.data)
                assert position.event == "position"
                following = data_events(raw, 1)[0]
            assert int(following.id or 0) == int(position.id or 0) + 1
    finally:
        stop.set()
        writer.join()


def test_ping_is_a_named_event_with_ts(shared_server: LiveServer, token: str):
    events = httpx_sse_read(shared_server.url + SSE, bearer(token), 1, skip_pings=False)
    assert events[0].event == "ping"
    assert abs(json.loads(events[0].data)["ts"] - time.time() * 1000) < 60_000


def test_last_event_id_ahead_of_the_log_sends_reset_unknown_id(
    shared_server: LiveServer, token: str
):
    order = shared_server.create_order(token)
    with RawSSEClient(shared_server.url + SSE, {**bearer(token), "Last-Event-ID": "999999"}) as raw:
        reset = next(e for e in iter(raw.next_event, None) if e.event != "ping" and e.data)
        assert reset.event == "reset"
        assert reset.json()["reason"] == "unknown_id"
        newest = reset.json()["last_id"]
        assert newest >= 1
        # The reset carries the log's position as its id, so a client that held a higher
        # id (a wiped database) adopts it and later events are not taken for duplicates.
        assert reset.id == str(newest)
        shared_server.create_order(token, customer="after-reset")
        live = data_events(raw, 1)[0]
    assert int(live.id or 0) == newest + 1
    assert live.json()["data"]["customer"] == "after-reset" and order["id"] >= 1


@pytest.mark.parametrize("bad", ["abc", "-1", "1.5"])
def test_non_integer_last_event_id_is_400(shared_server: LiveServer, token: str, bad: str):
    response = httpx.get(
        shared_server.url + SSE, headers={**bearer(token), "Last-Event-ID": bad}, timeout=5
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_last_event_id"


def test_unauthenticated_streams_get_401_json_and_are_counted(
    shared_server: LiveServer, token: str
):
    before = shared_server.metric("zariz_auth_failures_total", {"endpoint": "sse"})
    attempts = [
        ({}, ""),
        (bearer("not-a-jwt"), ""),
        (bearer(token + "x"), ""),
        ({}, f"?token={token}"),
        ({}, f"?access_token={token}"),
        (bearer(token), f"?token={token}"),  # a URL token poisons even a good header
        ({}, "?ticket=never-issued"),
    ]
    for headers, query in attempts:
        response = httpx.get(shared_server.url + SSE + query, headers=headers, timeout=5)
        assert response.status_code == 401, (headers, query)
        assert response.headers["content-type"].startswith("application/json")
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"]["code"] == "unauthorized"
    after = shared_server.metric("zariz_auth_failures_total", {"endpoint": "sse"})
    assert after - before == len(attempts)


def test_ticket_is_single_use(shared_server: LiveServer, token: str):
    response = httpx.post(f"{shared_server.url}/v1/events/ticket", headers=bearer(token))
    body = response.json()
    assert response.status_code == 200 and 0 < body["expires_in"] <= 30
    url = f"{shared_server.url}{SSE}?ticket={body['ticket']}"
    with RawSSEClient(url) as raw:
        assert raw.status == 200
        assert raw.next_event().retry == 1000
        second = RawSSEClient(url)
        assert second.status == 401 and b"unauthorized" in second.body
        second.close()


def test_gauge_returns_to_zero_when_clients_leave(shared_server: LiveServer, token: str):
    clients = [RawSSEClient(shared_server.url + SSE, bearer(token)) for _ in range(3)]
    for client in clients:
        client.next_event()
    wait_for(lambda: shared_server.metric("zariz_sse_open_streams") >= 3, what="3 open streams")
    for client in clients:
        client.close()
    wait_for(lambda: shared_server.metric("zariz_sse_open_streams") == 0, what="gauge at 0")


def test_seam_resume_while_publishing_has_no_gap_and_no_duplicate(
    shared_server: LiveServer, token: str
):
    """Regression guard for the replay/live seam: a client resuming while events are
    being committed must see every id exactly once, in order."""
    start = shared_server.create_order(token, customer="seam-start")
    with RawSSEClient(shared_server.url + SSE, {**bearer(token), "Last-Event-ID": "0"}) as raw:
        while True:
            event = data_events(raw, 1)[0]
            if event.json()["data"].get("customer") == "seam-start":
                start_id = int(event.id or 0)
                break
    assert start["id"] >= 1
    stop = threading.Event()
    written: list[int] = []

    def publisher() -> None:
        with httpx.Client(timeout=5) as client:
            while not stop.is_set():
                response = client.post(
                    f"{shared_server.url}/v1/orders", headers=bearer(token),
                    json={"customer": "seam", "phone": "050-1234567", "address": "a"},
                )
                written.append(response.json()["id"])

    thread = threading.Thread(target=publisher)
    thread.start()
    try:
        wait_for(lambda: len(written) >= 20, what="20 orders written")
        with RawSSEClient(
            shared_server.url + SSE, {**bearer(token), "Last-Event-ID": str(start_id)}
        ) as raw:
            wait_for(lambda: len(written) >= 60, timeout=10, what="60 orders written")
            stop.set()
            thread.join(10)
            newest = max(written)
            seen: list[int] = []
            while True:
                event = data_events(raw, 1)[0]
                seen.append(int(event.id or 0))
                if event.json()["data"]["id"] == newest:
                    break
    finally:
        stop.set()
        thread.join(10)
    assert seen == list(range(start_id + 1, start_id + 1 + len(seen)))


# -- servers with their own settings ------------------------------------------------------


def test_trimmed_id_gets_reset_too_old_then_live(live_server_factory: Callable[..., LiveServer]):
    server = live_server_factory(ZARIZ_EVENT_RETENTION="3")
    token = server.login()["access_token"]
    for i in range(6):
        server.create_order(token, customer=f"t{i}")
    events = httpx_sse_read(server.url + SSE, {**bearer(token), "Last-Event-ID": "1"}, 1)
    assert events[0].event == "reset"
    assert json.loads(events[0].data) == {"reason": "too_old", "last_id": 6}
    assert events[0].id == "6"
    # The oldest retained id (4) is still replayable: 3 means "after 3" = 4, 5, 6.
    kept = httpx_sse_read(server.url + SSE, {**bearer(token), "Last-Event-ID": "3"}, 3)
    assert [int(e.id) for e in kept] == [4, 5, 6]
    with RawSSEClient(server.url + SSE, {**bearer(token), "Last-Event-ID": "2"}) as raw:
        assert raw.next_event().retry == 1000
        assert raw.next_event().event == "reset"
        server.create_order(token, customer="live")
        live = data_events(raw, 1)[0]
    assert live.id == "7" and live.json()["data"]["customer"] == "live"


def test_ticket_expires(live_server_factory: Callable[..., LiveServer]):
    server = live_server_factory(ZARIZ_TICKET_TTL="1")
    token = server.login()["access_token"]
    ticket = httpx.post(f"{server.url}/v1/events/ticket", headers=bearer(token)).json()["ticket"]
    time.sleep(1.2)  # let the ticket's 1 s lifetime pass; the assertion is the 401 below
    response = httpx.get(f"{server.url}{SSE}?ticket={ticket}", timeout=5)
    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]


def test_stream_ends_on_logout_within_a_second(live_server: LiveServer):
    tokens = live_server.login()
    other = live_server.login()  # another session must keep its stream
    with RawSSEClient(live_server.url + SSE, bearer(tokens["access_token"])) as mine, \
            RawSSEClient(live_server.url + SSE, bearer(other["access_token"])) as theirs:
        mine.next_event()
        theirs.next_event()
        response = httpx.post(
            f"{live_server.url}/v1/auth/logout", headers=bearer(tokens["access_token"])
        )
        assert response.json() == {"ok": True}
        started = time.monotonic()
        mine.read_until_end(timeout=3)
        assert time.monotonic() - started < 1.0
        live_server.create_order(other["access_token"])
        assert data_events(theirs, 1)[0].json()["type"] == "order.created"
    me = httpx.get(f"{live_server.url}/v1/auth/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 401


def test_stream_ends_when_access_token_expires(live_server_factory: Callable[..., LiveServer]):
    server = live_server_factory(ZARIZ_ACCESS_TTL="2")
    token = server.login()["access_token"]
    ticket = httpx.post(f"{server.url}/v1/events/ticket", headers=bearer(token)).json()
    assert ticket["expires_in"] <= 2  # bound to the access token's exp
    started = time.monotonic()
    with RawSSEClient(server.url + SSE, bearer(token)) as by_header, \
            RawSSEClient(f"{server.url}{SSE}?ticket={ticket['ticket']}") as by_ticket:
        by_header.read_until_end(timeout=5)
        by_ticket.read_until_end(timeout=5)
    assert time.monotonic() - started < 4
    wait_for(lambda: server.metric("zariz_sse_open_streams") == 0, what="gauge at 0")


def test_refresh_rotates_and_reuse_revokes_session_and_its_streams(
    live_server_factory: Callable[..., LiveServer],
):
    live_server = live_server_factory(ZARIZ_REFRESH_REUSE_GRACE="0")
    pair = live_server.login()
    refresh = f"{live_server.url}/v1/auth/refresh"
    with RawSSEClient(live_server.url + SSE, bearer(pair["access_token"])) as stream:
        stream.next_event()
        rotated = httpx.post(refresh, json={"refresh_token": pair["refresh_token"]})
        assert rotated.status_code == 200
        new = rotated.json()
        assert new["refresh_token"] != pair["refresh_token"] and new["token_type"] == "Bearer"
        me = httpx.get(f"{live_server.url}/v1/auth/me", headers=bearer(new["access_token"]))
        assert me.json() == {"username": "demo"}
        reused = httpx.post(refresh, json={"refresh_token": pair["refresh_token"]})
        assert reused.status_code == 401
        assert reused.json()["error"]["code"] == "refresh_reused"
        stream.read_until_end(timeout=2)
    for access in (pair["access_token"], new["access_token"]):
        me = httpx.get(f"{live_server.url}/v1/auth/me", headers=bearer(access))
        assert me.status_code == 401
    again = httpx.post(refresh, json={"refresh_token": new["refresh_token"]})
    assert again.status_code == 401


def test_concurrent_refresh_from_two_tabs_is_superseded_not_revoked(live_server: LiveServer):
    """Regression: two tabs share one refresh token; when both refresh at the same moment
    the loser's request looked like theft and revoked the session of every tab."""
    pair = live_server.login()
    refresh = f"{live_server.url}/v1/auth/refresh"
    with RawSSEClient(live_server.url + SSE, bearer(pair["access_token"])) as stream:
        stream.next_event()
        winner = httpx.post(refresh, json={"refresh_token": pair["refresh_token"]})
        loser = httpx.post(refresh, json={"refresh_token": pair["refresh_token"]})
        assert winner.status_code == 200
        assert loser.status_code == 409
        assert loser.json()["error"]["code"] == "refresh_superseded"
        assert live_server.metric("zariz_auth_failures_total", {"endpoint": "refresh"}) == 0
        new = winner.json()
        me = httpx.get(f"{live_server.url}/v1/auth/me", headers=bearer(new["access_token"]))
        assert me.status_code == 200  # the session survived
    again = httpx.post(refresh, json={"refresh_token": new["refresh_token"]})
    assert again.status_code == 200


def test_slow_consumer_is_dropped_and_resumes_by_id_without_loss(
    live_server_factory: Callable[..., LiveServer],
):
    server = live_server_factory(ZARIZ_SSE_QUEUE="4", ZARIZ_PING_INTERVAL="0")
    token = server.login()["access_token"]
    notes = "n" * 1000  # big events fill the socket buffers sooner
    # A client with a tiny receive window that never reads.
    stalled = RawSSEClient(server.url + SSE, bearer(token), rcvbuf=2048)
    healthy_ids: list[int] = []
    created: list[int] = []
    try:
        stalled.next_event()  # retry: the stream is open and subscribed
        with httpx.Client(timeout=5) as client:
            deadline = time.monotonic() + 30
            while server.metric("zariz_sse_slow_consumers_dropped_total") < 1:
                assert time.monotonic() < deadline, "slow consumer was never dropped"
                for _ in range(20):
                    response = client.post(
                        f"{server.url}/v1/orders", headers=bearer(token),
                        json={"customer": "slow", "phone": "050-1234567", "address": "a",
                              "notes": notes},
                    )
                    created.append(response.json()["id"])
        wait_for(lambda: server.metric("zariz_sse_open_streams") == 0, what="dropped stream")
        # Now read what the stalled client did get, then resume from its last id.
        received: list[int] = []
        try:
            while True:
                event = stalled.next_event(timeout=2)
                if event.id is not None and event.event == "message":  # not the position
                    received.append(int(event.id))
        except (StreamEnded, TimeoutError):
            pass
    finally:
        stalled.close()
    assert received == list(range(1, len(received) + 1))
    last = received[-1] if received else 0
    healthy = httpx_sse_read(
        server.url + SSE, {**bearer(token), "Last-Event-ID": str(last)}, len(created) - last,
        timeout=10,
    )
    healthy_ids = [int(e.id) for e in healthy]
    assert healthy_ids == list(range(last + 1, len(created) + 1))
    log = server.log_text()
    assert "dropping slow SSE consumer" in log
    assert "Traceback" not in log, log


def test_shutdown_with_open_streams_is_quick(live_server: LiveServer):
    token = live_server.login()["access_token"]
    clients = [RawSSEClient(live_server.url + SSE, bearer(token)) for _ in range(5)]
    try:
        for client in clients:
            client.next_event()
        took = live_server.stop(timeout=15)
        for client in clients:
            client.read_until_end(timeout=2)
    finally:
        for client in clients:
            client.close()
    assert took < 4, f"shutdown took {took:.1f}s"
    assert "Application shutdown complete" in live_server.log_text()


def test_restart_keeps_issued_tokens_valid(live_server: LiveServer):
    """The JWT secret is stored in the database: a restart must not log everybody out."""
    pair = live_server.login()
    live_server.restart()
    me = httpx.get(f"{live_server.url}/v1/auth/me", headers=bearer(pair["access_token"]))
    assert me.status_code == 200
    rotated = httpx.post(
        f"{live_server.url}/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    assert rotated.status_code == 200


def test_demo_traffic_publishes_events(live_server_factory: Callable[..., LiveServer]):
    server = live_server_factory(ZARIZ_DEMO_TRAFFIC="0.2")
    token = server.login()["access_token"]
    events = httpx_sse_read(server.url + SSE, bearer(token), 4, timeout=5)
    types = {json.loads(e.data)["type"] for e in events}
    assert "order.created" in types
    assert server.stop() < 4
