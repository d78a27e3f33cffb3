"""The orders store: snapshot + events, races, gaps, filter/search/paging, counts."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from zariz.orders import STATUSES
from zariz.ui.orders_store import OrdersStore, StatusCounts, _sort_key, matches_query


def order(i: int, status: str = "new", **kw: Any) -> dict[str, Any]:
    return {
        "id": i,
        "customer": f"Customer {i}",
        "phone": "1",
        "address": f"Street {i}",
        "status": status,
        "courier_id": None,
        "created_at": f"2026-01-01T10:{i // 60 % 60:02d}:{i % 60:02d}.000Z",
        "updated_at": f"2026-01-01T10:{i // 60 % 60:02d}:{i % 60:02d}.000Z",
        **kw,
    }


class Ev:
    def __init__(self, event: str, data: Any = None, id: Any = None) -> None:
        self.event, self.data, self.id = event, data, id


def loaded(*orders: dict[str, Any], page_size: int = 50) -> OrdersStore:
    s = OrdersStore(page_size=page_size)
    s.begin_load()
    s.finish_load(orders)
    return s


def test_events_insert_update_remove_by_id() -> None:
    s = loaded(order(1))
    v0 = s.version
    assert s.apply_event(Ev("order.created", order(2), "10"))
    assert s.apply_event(Ev("order.assigned", {**order(1, "assigned"), "courier_id": 3}, "11"))
    assert s.get(1)["status"] == "assigned" and s.get(1)["courier_id"] == 3
    changed = {
        **order(2, "picked_up"),
        "previous_status": "assigned",
        "updated_at": "2026-01-01T11:00:00.000Z",
    }
    assert s.apply_event(Ev("order.status_changed", changed, "12"))
    assert "previous_status" not in s.get(2)
    assert s.apply_event(Ev("order.deleted", order(1), "13"))
    assert s.get(1) is None and len(s) == 1 and s.version > v0
    assert not s.needs_refetch


def test_events_during_load_are_buffered_and_replayed_on_the_snapshot() -> None:
    s = OrdersStore()
    s.begin_load()
    assert not s.apply_event(Ev("order.created", order(3), "5"))  # buffered, not yet shown
    assert not s.apply_event(Ev("order.deleted", order(1), "6"))
    assert len(s) == 0 and s.loading
    s.finish_load([order(1), order(2)])  # snapshot taken before events 5 and 6
    assert sorted(o["id"] for o in s.all()) == [2, 3]
    assert s.loaded and not s.loading


def test_a_snapshot_at_n_skips_buffered_events_up_to_n_and_applies_the_rest() -> None:
    s = OrdersStore()
    s.begin_load()
    s.apply_event(Ev("order.created", order(3), "5"))  # in the snapshot already
    s.apply_event(Ev("order.deleted", order(3), "6"))  # after it
    s.apply_event(Ev("order.created", order(4), "7"))
    s.finish_load([order(1), order(3)], at=5)
    assert sorted(o["id"] for o in s.all()) == [1, 4]
    assert s.last_event_id == 7 and not s.needs_refetch


def test_an_order_committed_between_the_load_and_the_subscription_is_not_lost() -> None:
    """Regression: the REST snapshot was taken at event 10, the stream subscribed at 11
    (an order was created in between). The stream's opening position says 11: the store
    sees it has not got event 11 and refetches instead of never showing that order."""
    s = OrdersStore()
    s.begin_load()
    s.finish_load([order(1)], at=10)
    assert s.apply_event(Ev("position", {"last_id": 11}, "11"))
    assert s.needs_refetch
    # The same race noticed by a later event instead (12 after 10: 11 is missing).
    t = OrdersStore()
    t.begin_load()
    t.finish_load([order(1)], at=10)
    t.apply_event(Ev("order.created", order(2), "12"))
    assert t.needs_refetch


def test_a_stream_that_started_before_the_snapshot_loses_and_doubles_nothing() -> None:
    s = OrdersStore()
    s.apply_event(Ev("position", {"last_id": 8}, "8"))  # stream open before the load
    s.begin_load()
    s.apply_event(Ev("order.created", order(9), "9"))  # arrives while loading
    s.finish_load([order(9)], at=9)  # the snapshot has it too
    s.apply_event(Ev("ping", {"ts": 1}, "9"))
    s.apply_event(Ev("order.created", order(10), "10"))
    assert [o["id"] for o in s.all()] == [10, 9] and not s.needs_refetch


def test_markers_are_gaps_only_beyond_what_the_store_has() -> None:
    s = loaded()
    s.finish_load([], at=4)
    for marker in (Ev("position", {}, "4"), Ev("ping", {}, "3"), Ev("ping", {}, "4")):
        assert not s.apply_event(marker)
    assert not s.needs_refetch
    # A ping carries the last id the browser got: 5 without event 5 means it was missed.
    assert s.apply_event(Ev("ping", {}, "5")) and s.needs_refetch


def test_superscript_and_huge_ids_are_not_numbers() -> None:
    s = loaded()
    s.finish_load([], at=4)
    s.apply_event(Ev("order.created", order(1), "²"))
    s.apply_event(Ev("order.created", order(2), "9" * 40))
    assert len(s) == 2 and s.last_event_id == 4 and not s.needs_refetch


def test_counts_from_a_snapshot_at_n_follow_only_later_events() -> None:
    c = StatusCounts()
    c.begin_load()
    assert c.apply("order.created", order(1), 3)  # buffered: in the snapshot already
    assert c.apply("order.created", order(2), 4)
    assert c.load({"new": 1}, at=3)
    assert c.counts["new"] == 2
    assert c.apply("order.created", order(3), 4)  # a replayed duplicate
    assert c.counts["new"] == 2
    assert not c.apply("order.created", order(4), 6)  # 5 is missing: recount
    assert not c.apply("position", {}, 9)


def test_an_event_older_than_the_snapshot_never_overwrites_it() -> None:
    s = loaded(order(1, "delivered", updated_at="2026-01-01T12:00:00.000Z"))
    stale = order(1, "assigned", updated_at="2026-01-01T11:00:00.000Z")
    assert not s.apply(("order.assigned"), stale, 7)
    assert s.get(1)["status"] == "delivered"


def test_duplicates_are_ignored_and_a_gap_asks_for_a_refetch() -> None:
    s = loaded()
    assert s.apply_event(Ev("order.created", order(1), "1"))
    assert not s.apply_event(Ev("order.created", order(1), "1"))  # replay overlap
    assert not s.apply_event(Ev("ping", {}, "1"))  # a ping repeats the last id
    assert not s.needs_refetch
    s.apply_event(Ev("order.created", order(2), "5"))  # 2..4 missing
    assert s.needs_refetch and s.get(2) is not None
    s.begin_load()
    assert s.needs_refetch  # until a load succeeds (see the regression test below)
    s.finish_load([order(1), order(2)], at=5)
    assert not s.needs_refetch


def test_reset_asks_for_a_refetch_and_forgets_the_last_id() -> None:
    s = loaded()
    s.apply_event(Ev("order.created", order(1), "100"))
    assert s.apply_event(Ev("reset", {}))
    assert s.needs_refetch and s.last_event_id is None
    s.begin_load()
    s.finish_load([order(1)])
    s.apply_event(Ev("order.created", order(2), "3"))  # ids restarted: no false gap
    assert not s.needs_refetch


def test_non_numeric_and_missing_ids_do_not_break_gap_tracking() -> None:
    s = loaded()
    s.apply_event(Ev("order.created", order(1), "abc"))
    s.apply_event(Ev("order.created", order(2), None))
    assert len(s) == 2 and not s.needs_refetch


def test_malformed_payloads_are_ignored() -> None:
    s = loaded(order(1))
    for data in (None, "text", [1, 2], {"no": "id"}):
        assert not s.apply_event(Ev("order.updated", data))
    assert not s.apply_event(Ev("order.exploded", order(1)))
    assert len(s) == 1


def test_filter_search_and_paging() -> None:
    s = loaded(*(order(i, "new" if i % 3 else "assigned") for i in range(1, 121)), page_size=50)
    v = s.view()
    assert (v.total, v.pages, v.page, v.first, v.last) == (120, 3, 0, 1, 50)
    assert v.items[0]["id"] == 120  # newest first
    s.set_page(2)
    assert [o["id"] for o in s.view().items][-1] == 1 and s.view().last == 120
    s.set_page(99)
    assert s.view().page == 2  # clamped
    s.set_filter("assigned")
    v = s.view()
    assert v.page == 0 and v.total == 40 and {o["status"] for o in v.items} == {"assigned"}
    s.set_query("street 11")
    assert sorted(o["id"] for o in s.view().items) == [111, 114, 117]
    s.set_filter(None)
    s.set_query("#42")
    assert [o["id"] for o in s.view().items] == [42]
    with pytest.raises(ValueError):
        s.set_filter("lost")
    assert s.view().counts == {
        "new": 80,
        "assigned": 40,
        "picked_up": 0,
        "delivered": 0,
        "cancelled": 0,
    }


def test_search_is_case_insensitive_on_customer_and_address() -> None:
    o = order(7, customer="Noa Cohen", address="Dizengoff 50")
    assert matches_query(o, "noa") and matches_query(o, "DIZEN") and matches_query(o, "  ")
    assert not matches_query(o, "phone")


def test_ten_thousand_orders_and_a_burst_stay_fast() -> None:
    s = loaded(*(order(i) for i in range(10_000)))
    started = time.perf_counter()
    for i in range(500):  # a burst, one view per "frame" at most
        s.apply_event(
            Ev(
                "order.status_changed",
                {**order(i, "assigned"), "updated_at": "2027-01-01T00:00:00Z"},
                str(i + 1),
            )
        )
    s.set_query("customer 99")
    view = s.view()
    elapsed = time.perf_counter() - started
    assert view.total == 111 and len(view.items) == 50
    assert elapsed < 1.0, elapsed


def test_status_counts_follow_events() -> None:
    c = StatusCounts()
    c.load({"new": 2, "assigned": 1})
    assert c.total == 3
    assert c.apply("order.created", {"id": 9, "status": "new"})
    assert c.apply("order.status_changed", {"status": "picked_up", "previous_status": "assigned"})
    assert c.apply("order.deleted", {"status": "new"})
    assert c.counts == {"new": 2, "assigned": 0, "picked_up": 1, "delivered": 0, "cancelled": 0}
    # Not enough to know: the caller recounts.
    assert not c.apply("order.assigned", {"id": 1, "status": "assigned"})
    assert not c.apply("reset", None)
    assert not c.apply("order.deleted", {"id": 1})
    assert c.apply("order.updated", {"id": 1, "status": "new"})


def test_a_failed_refetch_after_a_gap_still_needs_one() -> None:
    """Regression: begin_load cleared needs_refetch and fail_load never set it again;
    the cursor had moved past the gap, so later events looked contiguous and the missed
    order never appeared."""
    s = OrdersStore()
    s.begin_load()
    s.finish_load([order(1)], at=10)
    s.apply_event(Ev("order.created", order(3), "12"))  # 11 is missing
    assert s.needs_refetch
    s.begin_load()
    s.fail_load()  # the server was down
    assert s.needs_refetch
    s.apply_event(Ev("order.created", order(4), "13"))
    s.apply_event(Ev("ping", {}, "13"))
    assert s.needs_refetch
    s.begin_load()
    s.finish_load([order(1), order(2), order(3), order(4)], at=13)
    assert not s.needs_refetch and len(s) == 4


# --- the incremental index against the definition it replaces ----------------------------
def _reference(orders: dict[Any, dict[str, Any]], status: str | None, query: str,
               page: int, size: int) -> tuple[list[Any], int, dict[str, int]]:
    """What a view was before the index: sort everything, filter, slice, count."""
    rows = [o for o in sorted(orders.values(), key=_sort_key, reverse=True)
            if (status is None or o.get("status") == status) and matches_query(o, query)]
    pages = max(1, -(-len(rows) // size))
    page = min(page, pages - 1)
    counts = dict.fromkeys(STATUSES, 0)
    for o in orders.values():
        if isinstance(o.get("status"), str):
            counts[o["status"]] = counts.get(o["status"], 0) + 1
    return [o["id"] for o in rows[page * size:(page + 1) * size]], len(rows), counts


_created = st.one_of(
    st.sampled_from([f"2026-01-01T10:00:{s:02d}.000Z" for s in range(6)]),
    st.integers(0, 5), st.none(), st.just("x"),
    # NaN (JSON's NaN literal parses) and infinities: the index must stay ordered.
    st.sampled_from([float("nan"), float("inf"), -float("inf"), 2.5]))
_ops = st.lists(st.tuples(
    st.sampled_from(["order.created", "order.updated", "order.status_changed",
                     "order.deleted"]),
    st.one_of(st.integers(0, 12), st.sampled_from(["a", "b", "7"])),
    st.sampled_from([*STATUSES, "lost"]), _created), max_size=60)


@given(_ops, st.sampled_from([None, "new", "assigned"]), st.sampled_from(["", "1", "x"]),
       st.integers(0, 3))
def test_views_and_counts_equal_a_full_sort_after_any_changes(
    ops: list[tuple[str, Any, str, Any]], status: str | None, query: str, page: int
) -> None:
    s = loaded(*(order(i) for i in range(0, 12, 3)), page_size=3)
    for name, oid, st_, created in ops:
        s.apply(name, {"id": oid, "customer": f"c{oid}", "status": st_, "created_at": created})
    s.set_filter(status)
    s.set_query(query)
    s.set_page(page)
    view = s.view()
    ids, total, counts = _reference(s._orders, status, query, page, 3)
    assert [o["id"] for o in view.items] == ids
    assert view.total == total and view.counts == counts
    assert [o["id"] for o in s.all()] == [
        o["id"] for o in sorted(s._orders.values(), key=_sort_key, reverse=True)]


def test_an_order_whose_created_at_does_not_order_is_still_moved_and_removed() -> None:
    nan = float("nan")
    s = loaded(order(1), {**order(2), "created_at": nan}, order(3))
    assert s.apply("order.updated", {**order(2), "created_at": nan, "status": "assigned"})
    assert s.apply("order.deleted", {"id": 2})
    assert [o["id"] for o in s.view().items] == [3, 1]
    assert s.view().counts["new"] == 2 and s.view().counts["assigned"] == 0


def test_a_nan_created_at_never_misplaces_later_orders() -> None:
    """A NaN compares false with everything: kept as a number in the sorted index it put
    every later insert in the wrong place, and deleting it did not repair the order."""
    s = OrdersStore(page_size=50)
    s.finish_load([{"id": 1, "created_at": 10, "status": "new"},
                   {"id": 2, "created_at": float("nan"), "status": "new"}], at=0)
    for i, created in enumerate([30, 5, 20, 1], start=3):
        s.apply("order.created", {"id": i, "created_at": created, "status": "new"}, i - 2)
    s.apply("order.deleted", {"id": 2}, 5)
    assert [o["id"] for o in s.view().items] == [3, 5, 1, 4, 6]
