"""A small, fixed set of orders in every status, through the REST API: what screenshots and
the accessibility checks look at (a page with rows, badges of each status, couriers with
active orders). The same data on every run: no randomness, one order per entry of
:data:`ORDERS`, created oldest first.
"""

from __future__ import annotations

from typing import Any

import httpx

# (customer, phone, address, notes, status, courier id or None). Hebrew and English names,
# as in an Israeli dispatch service.
ORDERS: tuple[tuple[str, str, str, str | None, str, int | None], ...] = (
    ("דנה לוי", "050-1234567", "הרצל 12, תל אביב", "קומה 3, אין מעלית", "new", None),
    ("Maya Cohen", "+972-52-765-4321", "Dizengoff St 120, Tel Aviv", None, "new", None),
    ("יוסי מזרחי", "054-9876543", "ז׳בוטינסקי 45, רמת גן", "להתקשר לפני", "assigned", 1),
    ("Itai Peretz", "+972-58-111-2233", "Rothschild Blvd 8, Tel Aviv", "Ring twice",
     "assigned", 2),
    ("שירה אברהם", "053-4445566", "אלנבי 77, תל אביב", None, "picked_up", 1),
    ("Lior Ben David", "+972-50-222-3344", "Ben Yehuda St 31, Tel Aviv", "Fragile",
     "picked_up", 3),
    ("תמר גולן", "052-3334455", "ביאליק 5, רמת גן", None, "delivered", 2),
    ("Eitan Shapiro", "+972-54-555-6677", "Allenby St 99, Tel Aviv", "Leave at the door",
     "delivered", 4),
    ("יעל כהן", "058-7778899", "בן גוריון 14, בני ברק", None, "cancelled", None),
    ("Amit Friedman", "+972-53-888-9900", "Herzl St 3, Holon", None, "new", None),
    ("רוני ביטון", "050-6667788", "סוקולוב 60, חולון", "שער צהוב", "assigned", 3),
    ("Gal Levi", "+972-52-999-0011", "Jabotinsky St 150, Petah Tikva", None, "new", None),
)

STEPS: dict[str, tuple[str, ...]] = {
    "new": (),
    "assigned": ("assign",),
    "picked_up": ("assign", "picked_up"),
    "delivered": ("assign", "picked_up", "delivered"),
    "cancelled": ("cancelled",),
}


def seed_demo_orders(base_url: str, username: str = "demo", password: str = "demo") -> list[int]:
    """Create :data:`ORDERS` on the server at ``base_url`` and bring each to its status;
    returns their ids (oldest first)."""
    with httpx.Client(base_url=base_url, timeout=10) as http:
        tokens = http.post("/v1/auth/login", json={"username": username, "password": password})
        tokens.raise_for_status()
        headers = {"Authorization": f"Bearer {tokens.json()['access_token']}"}
        ids: list[int] = []
        for customer, phone, address, notes, status, courier in ORDERS:
            body: dict[str, Any] = {"customer": customer, "phone": phone, "address": address}
            if notes:
                body["notes"] = notes
            created = http.post("/v1/orders", json=body, headers=headers)
            created.raise_for_status()
            order_id = int(created.json()["id"])
            for step in STEPS[status]:
                if step == "assign":
                    answer = http.post(f"/v1/orders/{order_id}/assign",
                                       json={"courier_id": courier or 1}, headers=headers)
                else:
                    answer = http.post(f"/v1/orders/{order_id}/status", json={"status": step},
                                       headers=headers)
                answer.raise_for_status()
            ids.append(order_id)
        return ids


__all__ = ["ORDERS", "seed_demo_orders"]
