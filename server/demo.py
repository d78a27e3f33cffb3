"""Demo mode: the ``demo`` user and the optional background demo traffic."""

from __future__ import annotations

import asyncio
import logging
import random

from server.db import Database
from server.errors import ApiError
from server.orders import TRANSITIONS, OrderCreate, OrderService

log = logging.getLogger("zariz.demo")

DEMO_USER = "demo"
NAMES = ["Maya", "Itai", "Shira", "Lior", "Tamar", "Eitan", "Yael", "Amit", "Roni", "Gal"]
STREETS = ["Herzl", "Dizengoff", "Rothschild", "Allenby", "Ben Yehuda", "Jabotinsky"]
NEXT_STEP = {"assigned": "picked_up", "picked_up": "delivered"}


def make_order(rng: random.Random) -> OrderCreate:
    return OrderCreate(
        customer=f"{rng.choice(NAMES)} {rng.choice('ABCDEFGHKLMNR')}.",
        phone=f"+972-5{rng.randint(0, 9)}-{rng.randint(100, 999)}-{rng.randint(1000, 9999)}",
        address=f"{rng.choice(STREETS)} St {rng.randint(1, 200)}, Tel Aviv",
        notes=rng.choice([None, "Ring twice", "Leave at the door", "Fragile"]),
    )


def tick(service: OrderService, rng: random.Random, courier_ids: list[int]) -> int:
    """One round: create an order, advance up to two others. Returns events written."""
    written = 1
    service.create(make_order(rng))
    for order_id in service.db.random_order_ids(("new", "assigned", "picked_up"), 2):
        try:
            status = service.get(order_id)["status"]
            if status == "new":
                service.assign(order_id, rng.choice(courier_ids))
            elif rng.random() < 0.1 and "cancelled" in TRANSITIONS[status]:
                service.set_status(order_id, "cancelled")
            else:
                service.set_status(order_id, NEXT_STEP[status])
            written += 1
        except ApiError as exc:  # raced with a REST client; skip this one
            log.debug("demo step skipped: %s", exc.message)
    return written


def seed_orders(db: Database, count: int, seed: int = 29) -> int:
    """Fill an EMPTY database with ``count`` demo orders (a no-op otherwise, so restarts
    don't keep adding). Returns how many were inserted."""
    if count <= 0 or db.count_orders() > 0:
        return 0
    rng = random.Random(seed)
    rows = [make_order(rng).model_dump() for _ in range(count)]
    inserted = db.insert_orders_bulk(rows, "order.created")
    log.info("seeded %d demo orders", inserted)
    return inserted


async def run_demo_traffic(service: OrderService, interval: float) -> None:
    """Until cancelled (at shutdown): one ``tick`` every ``interval`` seconds (through
    ``service.call``: off the event loop when the database waits on the network)."""
    rng = random.Random()
    couriers = await service.call(service.db.list_couriers)
    courier_ids = [c["id"] for c in couriers if c["active"]] or [1]
    while True:
        await asyncio.sleep(interval)
        try:
            await service.call(tick, service, rng, courier_ids)
        except Exception:  # a failed round must not stop the traffic for good
            log.exception("demo traffic round failed")
