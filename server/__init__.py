"""The reference Zariz backend: REST + a resumable SSE event stream over SQLite.

Run it with ``python -m server`` (see ``server.__main__``); build it in-process with
``server.app.create_app(Settings(...))``.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
