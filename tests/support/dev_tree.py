"""A copy of what the page loads, for tests and benchmarks that edit sources (dev mode):
they edit the copy, never the project's tree.

``copy_tree(target, vendor=True)`` also links ``static/vendor`` (hard links: no 18 MB copy,
and real files, which StaticFiles serves - it does not follow a symlink out of its
directory)."""

from __future__ import annotations

import os
import pathlib
import shutil

from tests.support.live_server import PROJECT_ROOT


def copy_tree(target: pathlib.Path, *, vendor: bool = False) -> pathlib.Path:
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(PROJECT_ROOT / "app", target / "app", ignore=ignore)
    shutil.copytree(PROJECT_ROOT / "static" / "css", target / "static" / "css")
    shutil.copytree(PROJECT_ROOT / "static" / "boot", target / "static" / "boot")
    for name in ("index.html", "pyscript.toml"):
        shutil.copy(PROJECT_ROOT / name, target / name)
    if vendor:
        source = PROJECT_ROOT / "static" / "vendor"
        if not source.is_dir():
            raise FileNotFoundError(f"{source} is missing: run `make setup`")
        try:
            shutil.copytree(source, target / "static" / "vendor", copy_function=os.link)
        except OSError:  # another file system: copy
            shutil.rmtree(target / "static" / "vendor", ignore_errors=True)
            shutil.copytree(source, target / "static" / "vendor")
    return target


__all__ = ["copy_tree"]
