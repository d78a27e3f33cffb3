"""The real server (``python -m server``) with one test-only fault: the process dies right
after an order's transaction commits, before anything publishes its event.

    ZARIZ_TEST_EXIT_AFTER_COMMIT=<customer> python -m tests.support.faulty_server --port P ...

Creating an order whose ``customer`` is exactly ``<customer>`` commits the order and its
event row, then ends the process with ``os._exit(137)`` (no cleanup, no flush, no
lifespan shutdown: what SIGKILL or a power cut leaves) in the thread that committed, before
``insert_order`` returns to the service that would publish. Every other request works as
usual. The fault lives here, not in ``server/``: production code has no hook for it.

``LiveServer(..., module="tests.support.faulty_server")`` starts it.
"""

from __future__ import annotations

import functools
import os
import sys
from typing import Any

import server.app
from server.__main__ import main

FAULT_ENV = "ZARIZ_TEST_EXIT_AFTER_COMMIT"
EXIT_CODE = 137  # what a shell reports for SIGKILL


def _arm(db: Any, customer: str) -> Any:
    """Wrap ``db.insert_order`` (an instance attribute shadows the method for this one
    object, whatever its class)."""
    insert_order = db.insert_order

    @functools.wraps(insert_order)
    def insert_then_die(*args: Any, **kwargs: Any) -> Any:
        result = insert_order(*args, **kwargs)  # committed when it returns
        order = result[0] if isinstance(result, tuple) else result
        if isinstance(order, dict) and order.get("customer") == customer:
            os._exit(EXIT_CODE)
        return result

    db.insert_order = insert_then_die
    return db


def install(customer: str) -> None:
    """Make every database the app opens die after committing ``customer``'s order."""
    open_database = server.app.open_database

    def open_armed(*args: Any, **kwargs: Any) -> Any:
        return _arm(open_database(*args, **kwargs), customer)

    server.app.open_database = open_armed  # type: ignore[assignment]


if __name__ == "__main__":
    marker = os.environ.get(FAULT_ENV, "")
    if not marker:
        print(f"faulty_server: set {FAULT_ENV}=<customer>", file=sys.stderr)
        sys.exit(2)
    install(marker)
    sys.exit(main(sys.argv[1:]))
