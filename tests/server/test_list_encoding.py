"""``GET /v1/orders`` encodes its page a slice at a time: the same bytes as Starlette's
JSONResponse, with the event loop let run between slices (the other streams' events)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from starlette.responses import JSONResponse

from server.orders import ENCODE_SLICE, encode_page


def order(i: int) -> dict[str, Any]:
    return {"id": i, "customer": f"דנה {i} \U0001f600", "notes": "\x01\u2028\"quoted\"\\",
            "courier_id": None, "total": 1.5}


@pytest.mark.parametrize("count", [0, 1, ENCODE_SLICE, ENCODE_SLICE + 1, 10 * ENCODE_SLICE])
def test_the_bytes_are_json_responses(count: int) -> None:
    items = [order(i) for i in range(count)]
    rest = {"total": 7, "limit": 2500, "offset": 0, "last_event_id": 42}
    body = asyncio.run(encode_page(items, rest))
    assert body == JSONResponse({"items": items, **rest}).body
    assert json.loads(body) == {"items": items, **rest}


def test_an_empty_rest_still_closes_the_object() -> None:
    assert asyncio.run(encode_page([order(1)], {})) == JSONResponse({"items": [order(1)]}).body


def test_the_loop_runs_between_slices() -> None:
    slices = 8

    async def main() -> int:
        turns = 0
        done = False

        async def other_stream() -> None:
            nonlocal turns
            while not done:
                turns += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(other_stream())
        await asyncio.sleep(0)
        turns = 0
        await encode_page([order(i) for i in range(slices * ENCODE_SLICE)], {"total": 1})
        done = True
        await task
        return turns

    assert asyncio.run(main()) >= slices - 1


def test_a_value_json_refuses_is_an_error_not_a_half_page() -> None:
    with pytest.raises(ValueError):
        asyncio.run(encode_page([order(1), {"x": float("nan")}], {"total": 2}))
