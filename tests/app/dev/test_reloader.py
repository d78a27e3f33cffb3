"""The hot reloader against a small stand-in app package (CPython).

The stand-in is a real package named ``zariz`` in a temporary folder, imported in place
of the app's own for the length of one test (the fixture puts every ``zariz`` module
back): the reloader runs the code it swaps, so it needs modules that CPython can import
(the app's pages import the browser's ``js``). Two folders play the two sides: ``src``
is the developer's tree that the server serves, ``fs`` the interpreter's copy the page
runs.
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import pathlib
import shutil
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest
from zariz.dev.reloader import HotReloader
from zariz.dev.swap import Problem

FILES = {
    "zariz/__init__.py": "",
    "zariz/types.py": "class Event:\n    pass\n",
    "zariz/sse/__init__.py": "",
    "zariz/sse/client.py": (
        "from zariz.types import Event\n\nclass Client:\n    pass\n\nINSTANCE = Client()\n"
    ),
    "zariz/ui/__init__.py": "",
    "zariz/ui/widgets.py": "def badge(text):\n    return f'[{text}]'\n",
    "zariz/ui/page.py": (
        "from zariz.ui.widgets import badge\n\nTITLE = 'v1'\n\n"
        "def render(hand_off):\n    return badge(TITLE) + (hand_off.get('typed') or '')\n"
    ),
    "zariz/ui/app.py": (
        "import logging\n"
        "from zariz.ui import page\n"
        "from zariz.sse.client import INSTANCE\n"
        "log = logging.getLogger('zariz.ui.app')\n\n"
        "def mount_app(screen, hand_off):\n"
        "    node = page.render(hand_off)\n"
        "    screen.append(node)\n"
        "    def dispose(data=None):\n"
        "        screen.remove(node)\n"
        "        if data is not None:\n"
        "            data['typed'] = ' typed'\n"
        "    return dispose\n"
    ),
}


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class Host:
    src: pathlib.Path
    screen: list[str] = field(default_factory=list)
    shown: list[Problem | None] = field(default_factory=list)
    css: list[tuple[str, str]] = field(default_factory=list)
    manifests: int = 0
    dispose: Any = None

    async def fetch_text(self, path: str) -> str:
        return (self.src / path).read_text(encoding="utf-8")

    async def fetch_manifest(self) -> Mapping[str, Any]:
        self.manifests += 1
        files = {
            str(p.relative_to(self.src)): digest(p.read_text(encoding="utf-8"))
            for p in sorted(self.src.rglob("*"))
            if p.is_file() and p.suffix in (".py", ".css") and "__pycache__" not in p.parts
        }
        return {"version": 0, "files": files}

    def swap_css(self, path: str, digest: str) -> None:
        self.css.append((path, digest))

    def dispose_ui(self) -> dict[str, Any]:
        data: dict[str, Any] = {}
        if self.dispose is not None:
            self.dispose(data)
            self.dispose = None
        return data

    def mount_ui(self, hand_off: dict[str, Any]) -> None:
        self.dispose = sys.modules["zariz.ui.app"].mount_app(self.screen, hand_off)

    def show(self, problem: Problem | None) -> None:
        self.shown.append(problem)


@dataclass
class Sandbox:
    src: pathlib.Path
    fs: pathlib.Path
    host: Host
    reloader: HotReloader
    version: int = 1

    def edit(self, path: str, text: str | None) -> dict[str, Any]:
        """Change a file of the tree; returns the server's notice for it."""
        target = self.src / "app" / path
        if text is None:
            target.unlink()
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        self.version += 1
        return {"version": self.version, "previous": self.version - 1,
                "changed": {f"app/{path}": None if text is None else digest(text)}}

    def running(self, path: str) -> str:
        return (self.fs / path).read_text(encoding="utf-8")


@pytest.fixture
def sandbox(tmp_path: pathlib.Path) -> Iterator[Sandbox]:
    src, fs = tmp_path / "src", tmp_path / "fs"
    for path, text in FILES.items():
        target = src / "app" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    shutil.copytree(src / "app", fs)
    saved = {n: m for n, m in sys.modules.items() if n == "zariz" or n.startswith("zariz.")}
    for name in saved:
        del sys.modules[name]
    sys.path.insert(0, str(fs))
    importlib.invalidate_caches()
    try:
        importlib.import_module("zariz.ui.app")
        host = Host(src)
        host.mount_ui({})
        reloader = HotReloader(host, app_dir=str(fs))
        reloader.version = 1
        yield Sandbox(src, fs, host, reloader)
    finally:
        sys.path.remove(str(fs))
        for name in [n for n in sys.modules if n == "zariz" or n.startswith("zariz.")]:
            del sys.modules[name]
        sys.modules.update(saved)
        importlib.invalidate_caches()


PAGE_V2 = FILES["zariz/ui/page.py"].replace("'v1'", "'v2'")


async def test_a_page_change_swaps_the_page_and_its_importers_in_order(sandbox: Sandbox) -> None:
    client_module = sys.modules["zariz.sse.client"]
    outcome = await sandbox.reloader.handle(sandbox.edit("zariz/ui/page.py", PAGE_V2))
    assert outcome.problem is None
    assert outcome.swapped == ["zariz.ui.page", "zariz.ui.app"]
    assert sandbox.host.screen == ["[v2] typed"]  # remounted, with the hand-off
    assert sys.modules["zariz.sse.client"] is client_module  # the connection is kept
    assert sys.modules["zariz.ui"].page is sys.modules["zariz.ui.page"]
    assert sandbox.running("zariz/ui/page.py") == PAGE_V2
    assert sandbox.reloader.version == 2
    assert sandbox.host.manifests == 0  # the notice said what changed


async def test_thirty_swaps_in_a_row_each_show_the_edit(sandbox: Sandbox) -> None:
    for n in range(30):
        text = FILES["zariz/ui/page.py"].replace("'v1'", f"'edit {n}'")
        outcome = await sandbox.reloader.handle(sandbox.edit("zariz/ui/page.py", text))
        assert outcome.problem is None
        assert sandbox.host.screen == [f"[edit {n}] typed"]
    assert sandbox.reloader.swaps == 30


async def test_a_syntax_error_swaps_nothing_and_names_the_file_and_line(
    sandbox: Sandbox,
) -> None:
    page = sys.modules["zariz.ui.page"]
    broken = FILES["zariz/ui/page.py"] + "\ndef oops(:\n    pass\n"
    outcome = await sandbox.reloader.handle(sandbox.edit("zariz/ui/page.py", broken))
    assert outcome.problem is not None and outcome.problem.kind == "syntax"
    assert outcome.problem.file == "app/zariz/ui/page.py"
    assert outcome.problem.line == broken.count("\n", 0, broken.index("def oops")) + 1
    assert sandbox.host.shown[-1] == outcome.problem
    assert sys.modules["zariz.ui.page"] is page
    assert sandbox.host.screen == ["[v1]"]  # the old UI was never disposed
    assert sandbox.running("zariz/ui/page.py") == FILES["zariz/ui/page.py"]
    # The fix (the next notice's "previous" is the broken version the page never ran).
    outcome = await sandbox.reloader.handle(sandbox.edit("zariz/ui/page.py", PAGE_V2))
    assert outcome.problem is None and sandbox.host.shown[-1] is None
    assert sandbox.host.screen == ["[v2] typed"]


async def test_a_module_that_raises_while_loading_is_rolled_back(sandbox: Sandbox) -> None:
    page, app = sys.modules["zariz.ui.page"], sys.modules["zariz.ui.app"]
    widgets = sys.modules["zariz.ui.widgets"]
    widgets_bad = "raise RuntimeError('bad widgets')\n"
    outcome = await sandbox.reloader.handle(sandbox.edit("zariz/ui/widgets.py", widgets_bad))
    assert outcome.problem is not None and outcome.problem.kind == "import"
    assert outcome.problem.file == "app/zariz/ui/widgets.py" and outcome.problem.line == 1
    assert "bad widgets" in outcome.problem.detail
    assert sys.modules["zariz.ui.page"] is page and sys.modules["zariz.ui.app"] is app
    assert sys.modules["zariz.ui.widgets"] is widgets
    assert sandbox.host.screen == ["[v1]"]
    assert sandbox.running("zariz/ui/widgets.py") == FILES["zariz/ui/widgets.py"]


async def test_an_import_error_in_an_importer_rolls_back_the_modules_before_it(
    sandbox: Sandbox,
) -> None:
    widgets = sys.modules["zariz.ui.widgets"]
    new_widgets = "def chip(text):\n    return text\n"  # badge() is gone: page fails
    outcome = await sandbox.reloader.handle(sandbox.edit("zariz/ui/widgets.py", new_widgets))
    assert outcome.problem is not None and outcome.problem.kind == "import"
    assert "badge" in outcome.problem.detail
    assert sys.modules["zariz.ui.widgets"] is widgets
    assert sys.modules["zariz.ui"].widgets is widgets
    assert sandbox.host.screen == ["[v1]"]


async def test_an_exception_while_mounting_brings_the_old_ui_back(sandbox: Sandbox) -> None:
    app = sys.modules["zariz.ui.app"]
    bad = FILES["zariz/ui/page.py"].replace(
        "def render(hand_off):\n", "def render(hand_off):\n    raise ValueError('render')\n"
    )
    outcome = await sandbox.reloader.handle(sandbox.edit("zariz/ui/page.py", bad))
    assert outcome.problem is not None and outcome.problem.kind == "mount"
    assert outcome.problem.file == "app/zariz/ui/page.py"
    assert sys.modules["zariz.ui.app"] is app
    assert sandbox.host.screen == ["[v1] typed"]  # the old UI, with what it handed over
    outcome = await sandbox.reloader.handle(sandbox.edit("zariz/ui/page.py", PAGE_V2))
    assert outcome.problem is None and sandbox.host.screen == ["[v2] typed"]


async def test_an_error_a_component_logs_while_mounting_counts_as_a_failed_mount(
    sandbox: Sandbox,
) -> None:
    logs = FILES["zariz/ui/page.py"].replace(
        "def render(hand_off):\n",
        "def render(hand_off):\n"
        "    import logging\n"
        "    try:\n"
        "        1 / 0\n"
        "    except ZeroDivisionError:\n"
        "        logging.getLogger('zariz.ui').exception('[UI] page: render failed')\n",
    )
    outcome = await sandbox.reloader.handle(sandbox.edit("zariz/ui/page.py", logs))
    assert outcome.problem is not None and outcome.problem.kind == "mount"
    assert "render failed" in outcome.problem.title
    assert "ZeroDivisionError" in outcome.problem.detail
    assert sandbox.host.screen == ["[v1] typed"]


@pytest.mark.parametrize(
    ("path", "text", "why"),
    [
        ("zariz/sse/client.py", FILES["zariz/sse/client.py"] + "\nX = 1\n",
         "holds the connection"),
        ("zariz/types.py", FILES["zariz/types.py"] + "\nX = 1\n", "imported by zariz.sse.client"),
        ("zariz/ui/__init__.py", "X = 1\n", "package"),
    ],
)
async def test_a_change_the_page_cannot_swap_live_offers_a_reload_and_swaps_nothing(
    sandbox: Sandbox, path: str, text: str, why: str
) -> None:
    before = dict(sys.modules)
    outcome = await sandbox.reloader.handle(sandbox.edit(path, text))
    assert outcome.problem is not None and outcome.problem.kind == "reload"
    assert why in outcome.problem.detail
    assert outcome.problem.file == f"app/{path}"
    assert {n: m for n, m in sys.modules.items() if n.startswith("zariz")} == {
        n: m for n, m in before.items() if n.startswith("zariz")
    }
    assert sandbox.running(path) == FILES[path]
    assert sandbox.host.screen == ["[v1]"]
    # A live edit while the reload is pending is held back too (one batch, one answer).
    outcome = await sandbox.reloader.handle(sandbox.edit("zariz/ui/page.py", PAGE_V2))
    assert outcome.problem is not None and outcome.problem.kind == "reload"
    # Reverting the file clears it, and the live edit goes in.
    outcome = await sandbox.reloader.handle(sandbox.edit(path, FILES[path]))
    assert outcome.problem is None
    assert sandbox.host.shown[-1] is None
    assert sandbox.host.screen == ["[v2] typed"]


async def test_a_missed_notice_is_caught_up_from_the_manifest(sandbox: Sandbox) -> None:
    sandbox.edit("zariz/ui/widgets.py", "def badge(text):\n    return f'<{text}>'\n")
    notice = sandbox.edit("zariz/ui/page.py", PAGE_V2)  # "previous" is one the page missed
    outcome = await sandbox.reloader.handle(notice)
    assert sandbox.host.manifests == 1
    assert outcome.problem is None
    assert outcome.swapped == ["zariz.ui.widgets", "zariz.ui.page", "zariz.ui.app"]
    assert sandbox.host.screen == ["<v2> typed"]


async def test_the_notice_sent_on_connect_changes_nothing_when_the_page_is_current(
    sandbox: Sandbox,
) -> None:
    outcome = await sandbox.reloader.handle({"version": 7, "previous": None, "changed": None})
    assert outcome.swapped == [] and outcome.problem is None
    assert sandbox.host.manifests == 1 and sandbox.host.screen == ["[v1]"]
    # After a server restart its versions start again: a connect always compares.
    sandbox.edit("zariz/ui/page.py", PAGE_V2)
    outcome = await sandbox.reloader.handle({"version": 7, "previous": None, "changed": None})
    assert sandbox.host.manifests == 2 and outcome.swapped == ["zariz.ui.page", "zariz.ui.app"]
    # A notice repeated: what it lists already runs, so nothing happens.
    notice = sandbox.edit("zariz/ui/page.py", FILES["zariz/ui/page.py"])
    assert (await sandbox.reloader.handle(notice)).swapped == ["zariz.ui.page", "zariz.ui.app"]
    assert (await sandbox.reloader.handle(notice)).swapped == []


async def test_css_is_swapped_without_touching_python(sandbox: Sandbox) -> None:
    css = sandbox.src / "static" / "css" / "app.css"
    css.parent.mkdir(parents=True)
    css.write_text("body { color: red }", encoding="utf-8")
    await sandbox.reloader.handle({"version": 5, "previous": None, "changed": None})
    assert sandbox.host.css == []  # what the page loaded: the baseline
    css.write_text("body { color: blue }", encoding="utf-8")
    outcome = await sandbox.reloader.handle(
        {"version": 6, "previous": 5,
         "changed": {"static/css/app.css": digest("body { color: blue }")}}
    )
    assert outcome.css == ["static/css/app.css"] and outcome.swapped == []
    assert sandbox.host.css == [("static/css/app.css", digest("body { color: blue }"))]
    assert sandbox.host.screen == ["[v1]"]


async def test_a_new_module_imported_by_a_changed_page_is_loaded(sandbox: Sandbox) -> None:
    sandbox.edit("zariz/ui/extra.py", "SUFFIX = '!'\n")
    page = PAGE_V2.replace(
        "TITLE = 'v2'", "from zariz.ui.extra import SUFFIX\nTITLE = 'v2' + SUFFIX"
    )
    notice = sandbox.edit("zariz/ui/page.py", page)
    outcome = await sandbox.reloader.handle(notice)  # missed the extra.py notice: manifest
    assert outcome.problem is None
    assert sandbox.host.screen == ["[v2!] typed"]
    assert "zariz.ui.extra" in sys.modules


@pytest.mark.parametrize("warm", [False, True])
async def test_deleting_a_module_still_imported_fails_and_restores_it(
    sandbox: Sandbox, warm: bool
) -> None:
    if warm:  # the page warms its caches after boot: the old code must not come back
        sandbox.reloader.warm()
    widgets = sys.modules["zariz.ui.widgets"]
    outcome = await sandbox.reloader.handle(sandbox.edit("zariz/ui/widgets.py", None))
    assert outcome.problem is not None and outcome.problem.kind == "import"
    assert sys.modules["zariz.ui.widgets"] is widgets
    assert sandbox.running("zariz/ui/widgets.py") == FILES["zariz/ui/widgets.py"]
    assert sandbox.host.screen == ["[v1]"]
    assert "badge" in outcome.problem.detail or "widgets" in outcome.problem.detail


async def test_deleting_a_module_nothing_imports_any_more_swaps(sandbox: Sandbox) -> None:
    sandbox.reloader.warm()
    inline = PAGE_V2.replace("from zariz.ui.widgets import badge\n",
                             "def badge(text):\n    return f'({text})'\n")
    await sandbox.reloader.handle(sandbox.edit("zariz/ui/page.py", inline))
    assert sandbox.host.screen == ["(v2) typed"]
    outcome = await sandbox.reloader.handle(sandbox.edit("zariz/ui/widgets.py", None))
    assert outcome.problem is None and "zariz.ui.widgets" not in outcome.swapped
    assert "zariz.ui.widgets" not in sys.modules
    assert not (sandbox.fs / "zariz/ui/widgets.py").exists()
    assert "app/zariz/ui/widgets.py" not in sandbox.reloader.known


@pytest.mark.parametrize("kind", ["syntax", "import", "mount", "reload"])
async def test_saving_the_file_back_as_it_was_clears_the_overlay(
    sandbox: Sandbox, kind: str
) -> None:
    path, text = {
        "syntax": ("zariz/ui/page.py", FILES["zariz/ui/page.py"] + "\ndef oops(:\n"),
        "import": ("zariz/ui/widgets.py", "raise RuntimeError('x')\n"),
        "mount": ("zariz/ui/page.py", FILES["zariz/ui/page.py"].replace(
            "def render(hand_off):\n", "def render(hand_off):\n    raise ValueError('m')\n")),
        "reload": ("zariz/sse/client.py", FILES["zariz/sse/client.py"] + "\nX = 1\n"),
    }[kind]
    outcome = await sandbox.reloader.handle(sandbox.edit(path, text))
    assert outcome.problem is not None and outcome.problem.kind == kind
    outcome = await sandbox.reloader.handle(sandbox.edit(path, FILES[path]))  # Ctrl+Z, save
    assert outcome.problem is None and outcome.swapped == []
    assert sandbox.host.shown[-1] is None and sandbox.reloader.problem is None


async def test_caches_keep_only_the_version_that_runs(sandbox: Sandbox) -> None:
    sandbox.reloader.warm()
    for n in range(5):
        text = FILES["zariz/ui/page.py"].replace("'v1'", f"'v{n + 2}'")
        assert (await sandbox.reloader.handle(sandbox.edit("zariz/ui/page.py", text))).problem \
            is None
    paths = [p for p in sandbox.reloader._code if p.endswith("page.py")]
    assert paths == ["app/zariz/ui/page.py"]
    assert sandbox.reloader._code["app/zariz/ui/page.py"][0] == digest(text)


async def test_a_stylesheet_the_page_loaded_is_known_from_its_stamp(sandbox: Sandbox) -> None:
    css = sandbox.src / "static" / "css" / "app.css"
    css.parent.mkdir(parents=True)
    css.write_text("a { color: red }", encoding="utf-8")
    # A follower tab never hears a connect notice; it loaded the sheet stamped ?v=<hash>.
    reloader = HotReloader(sandbox.host, app_dir=str(sandbox.fs),
                           baseline={"static/css/app.css": digest("a { color: red }")})
    css.write_text("a { color: blue }", encoding="utf-8")
    outcome = await reloader.handle({"version": 9, "previous": 8, "changed": {
        "static/css/app.css": digest("a { color: blue }")}})  # previous is not ours
    assert outcome.css == ["static/css/app.css"]
    assert sandbox.host.css == [("static/css/app.css", digest("a { color: blue }"))]


async def test_notices_are_handled_one_at_a_time_and_the_newest_wins(sandbox: Sandbox) -> None:
    import asyncio

    reloader = sandbox.reloader
    reloader.notice(sandbox.edit("zariz/ui/page.py", PAGE_V2))
    v3 = FILES["zariz/ui/page.py"].replace("'v1'", "'v3'")
    reloader.notice(sandbox.edit("zariz/ui/page.py", v3))  # arrives during the first
    for _ in range(100):
        await asyncio.sleep(0)
        if not reloader.stats()["busy"]:
            break
    assert sandbox.host.screen == ["[v3] typed"]
    reloader.notice("not a mapping")  # malformed: ignored, logged
    assert not reloader.stats()["busy"]


def test_the_swap_log_line_names_modules_and_time(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    import asyncio

    with caplog.at_level(logging.INFO, logger="zariz.dev"):
        asyncio.run(sandbox.reloader.handle(sandbox.edit("zariz/ui/page.py", PAGE_V2)))
    lines = [r.getMessage() for r in caplog.records if r.name == "zariz.dev"]
    assert any(
        line.startswith("[dev] hot reload: zariz.ui.page, zariz.ui.app in ")
        and line.endswith(" ms") for line in lines
    ), lines
