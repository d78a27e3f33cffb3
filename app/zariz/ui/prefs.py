"""The viewer's preferences in the header: theme (system / light / dark) and language.

Placeholder owned by the look-and-feel work: ``preference_controls(ctx, scope)`` returns
the header's node for both switches.
"""

from __future__ import annotations

from typing import Any

from zariz.ui.component import Scope
from zariz.ui.context import Ctx
from zariz.ui.dom import h


def preference_controls(ctx: Ctx, scope: Scope) -> Any:
    return h("span", {"class": "prefs", "data-testid": "prefs"})


__all__ = ["preference_controls"]
