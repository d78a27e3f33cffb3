"""The notifications subscriber counts each event by its kind's stable code, looked up by
the event's name (not made with the event's texts, which are made only when shown): the
code must be the one the event's own texts carry, whatever the event says."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from zariz.ui.format import describe_event
from zariz.ui.i18n import locale_as

from tests.support.browserless import browser_stand_ins


@pytest.fixture
def notifications() -> Iterator[Any]:
    """``zariz.ui.notifications`` imported over stand-ins for the browser modules (its DOM
    layer is never called here); every module this imports is dropped afterwards."""
    with browser_stand_ins():
        import zariz.ui.notifications as module

        yield module


DATA: list[Any] = [
    None, {}, {"id": 7}, {"id": 7, "status": "cancelled", "previous_status": "new"},
    {"id": [1], "status": {"x": 1}, "courier_id": [2], "customer": "\u202e" * 9},
    {"status": "delivered"}, {"status": ""}, "not a dict", [1, 2],
]


def test_each_event_is_counted_by_the_code_its_own_texts_carry(notifications: Any) -> None:
    for loc in ("en", "he"):
        with locale_as(loc):
            for name in (*notifications.TOAST_EVENTS, "reset", "dev.other", ""):
                for data in DATA:
                    text = describe_event(name, data, {2: "Avi"})
                    assert notifications.event_label(name) == text.code, (loc, name, data)
