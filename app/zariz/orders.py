"""The order domain as the browser sees it — the mirror of ``server/orders.py``.

Statuses and the status machine (new -> assigned -> picked_up -> delivered; cancelled from
any non-final state) and the events the server writes for orders. Pages, stores and
formatting import these from here, so the rules live in one place on each side.

>>> NEXT_STATUS["assigned"]
('picked_up', 'cancelled')
>>> all(s in STATUSES for s in (*ACTIVE, *FINAL))
True
"""

from __future__ import annotations

STATUSES: tuple[str, ...] = ("new", "assigned", "picked_up", "delivered", "cancelled")
ACTIVE: tuple[str, ...] = ("assigned", "picked_up")
FINAL: tuple[str, ...] = ("delivered", "cancelled")

# The statuses ``POST /v1/orders/{id}/status`` accepts from each one, the natural next
# step first (the status modal proposes it). "assigned" is reached by assigning a courier.
NEXT_STATUS: dict[str, tuple[str, ...]] = {
    "new": ("cancelled",),
    "assigned": ("picked_up", "cancelled"),
    "picked_up": ("delivered", "cancelled"),
    "delivered": (),
    "cancelled": (),
}

# Orders a courier can be assigned to (``POST /v1/orders/{id}/assign``; a re-assignment
# of an assigned order included).
ASSIGNABLE: tuple[str, ...] = ("new", "assigned")

ORDER_EVENTS: tuple[str, ...] = (
    "order.created",
    "order.updated",
    "order.assigned",
    "order.status_changed",
    "order.deleted",
)
# Events whose data is the order's full new state (``order.deleted`` removes it).
UPSERT_EVENTS = frozenset(
    {"order.created", "order.updated", "order.assigned", "order.status_changed"}
)

__all__ = [
    "ACTIVE",
    "ASSIGNABLE",
    "FINAL",
    "NEXT_STATUS",
    "ORDER_EVENTS",
    "STATUSES",
    "UPSERT_EVENTS",
]
