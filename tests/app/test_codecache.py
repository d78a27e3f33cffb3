"""zariz.codecache: PyScript's package precompiled into the snapshot, taken only when the
file is byte for byte the source it was compiled from."""

from __future__ import annotations

import importlib
import importlib.machinery
import json
import pathlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from zariz import codecache
from zariz.codecache import CodeCache, pyscript_sources

from tests.support.live_server import PROJECT_ROOT

PACKAGE = {
    "pkgcc": {
        "__init__.py": "from pkgcc.util import twice\nVALUE = twice(21)\n",
        "util.py": "def twice(x):\n    return 2 * x\n",
        "README.md": "not Python",
        "js_modules": {"__init__.py": "NAME = 'nested שלום'\n"},
    },
}


def generated_script(tree: dict[str, object]) -> str:
    """The script PyScript runs at start-up, made the way @pyscript/core's stdlib.js makes
    it (the `write` walk; its `import pyscript` at the end)."""
    python = ["import os as _os", "from pathlib import Path as _Path", "_path = None"]

    def write(base: str, literal: dict[str, object]) -> None:
        for key, value in literal.items():
            python.append(f'_path = _Path("{base}/{key}")')
            if isinstance(value, str):
                python.append(f'_path.write_text({json.dumps(value)},encoding="utf-8")')
            else:
                python.append(f'if not _os.path.exists("{base}/{key}"):')
                python.append("    _path.mkdir(parents=True, exist_ok=True)")
                assert isinstance(value, dict)
                write(f"{base}/{key}", value)

    write(".", tree)
    python.append("import pkgcc as _pyscript")
    python.extend(f"del {ref}" for ref in ("_Path", "_path", "_os", "_pyscript"))
    return "\n".join(python) + "\n"


@pytest.fixture
def clean_import(tmp_path: pathlib.Path) -> Iterator[pathlib.Path]:
    """tmp_path on sys.path, and nothing of pkgcc left behind (modules, the loader)."""
    before = importlib.machinery.SourceFileLoader.__dict__.get("source_to_code")
    sys.path.insert(0, str(tmp_path))
    sys.dont_write_bytecode, old_flag = True, sys.dont_write_bytecode
    try:
        yield tmp_path
    finally:
        sys.dont_write_bytecode = old_flag
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n.split(".")[0] == "pkgcc"]:
            del sys.modules[name]
        importlib.invalidate_caches()
        assert importlib.machinery.SourceFileLoader.__dict__.get("source_to_code") is before
        assert codecache.installed() is None


def run_script(script: str, cwd: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(cwd)
    importlib.invalidate_caches()
    exec(compile(script, "<pyscript>", "exec"), {})


def test_the_sources_are_what_the_script_writes(tmp_path: pathlib.Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    script = generated_script(PACKAGE).replace("import pkgcc as _pyscript", "_pyscript = 0")
    found = pyscript_sources(script, "/home/pyodide")
    assert found == {
        "/home/pyodide/pkgcc/__init__.py": PACKAGE["pkgcc"]["__init__.py"].encode(),  # type: ignore[index]
        "/home/pyodide/pkgcc/util.py": b"def twice(x):\n    return 2 * x\n",
        "/home/pyodide/pkgcc/js_modules/__init__.py":
            "NAME = 'nested שלום'\n".encode(),
    }
    # ... byte for byte what running the script puts on disk.
    run_script(script, tmp_path, monkeypatch)
    for path, source in pyscript_sources(script, str(tmp_path)).items():
        assert pathlib.Path(path).read_bytes() == source


@pytest.mark.parametrize("script", [
    "print('hello')\n",
    # Only what the script always writes: a write under a condition is not taken.
    'if x:\n    _path = _Path("./x.py")\n    _path.write_text("x = 1", encoding="utf-8")\n',
    '_path = _Path("./x.py")\n_path.write_bytes(b"x = 1")\n',
    '_path = _Path("./x.py")\n_path.write_text("x = 1", encoding="latin-1")\n',
    '_path = _Path("./x.txt")\n_path.write_text("x = 1", encoding="utf-8")\n',
    'path = _Path("./x.py")\npath.write_text("x = 1", encoding="utf-8")\n',
])
def test_a_script_in_another_shape_is_refused(script: str) -> None:
    with pytest.raises(ValueError, match="writes no Python file"):
        pyscript_sources(script, "/home/pyodide")


def test_a_source_that_does_not_compile_fails_the_build() -> None:
    with pytest.raises(SyntaxError):
        CodeCache().add("/x/broken.py", b"def broken(:\n")


def test_imports_take_the_compiled_code(clean_import: pathlib.Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    script = generated_script(PACKAGE)
    cache = CodeCache.from_pyscript(script, str(clean_import))
    assert len(cache) == 3
    compiled = []
    real = compile

    def counting_compile(source: object, filename: object, *args: object, **kw: object) -> object:
        compiled.append(filename)
        return real(source, filename, *args, **kw)  # type: ignore[call-overload]

    undo = cache.install()
    try:
        assert codecache.installed() is cache
        monkeypatch.setattr("builtins.compile", counting_compile)
        run_script(script, clean_import, monkeypatch)  # writes the files and imports
        monkeypatch.undo()
        module = sys.modules["pkgcc"]
        assert module.VALUE == 42
        assert module.__file__ == str(clean_import / "pkgcc" / "__init__.py")
        assert sorted(cache.hits) == sorted(
            str(clean_import / "pkgcc" / name) for name in ("__init__.py", "util.py"))
        assert cache.misses == []
        # Only the script itself was compiled: neither module.
        assert compiled == ["<pyscript>"], compiled
        importlib.import_module("pkgcc.js_modules")
        assert len(cache.hits) == 3
    finally:
        undo()


def test_a_file_that_differs_by_a_byte_is_compiled_from_its_source(
    clean_import: pathlib.Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    script = generated_script(PACKAGE)
    cache = CodeCache.from_pyscript(script, str(clean_import))
    edited = generated_script({"pkgcc": {**PACKAGE["pkgcc"],  # type: ignore[dict-item]
                                         "util.py": "def twice(x):\n    return 3 * x\n"}})
    undo = cache.install()
    try:
        run_script(edited, clean_import, monkeypatch)
        assert sys.modules["pkgcc"].VALUE == 63  # the file's code, not the cached one
        assert cache.misses == [str(clean_import / "pkgcc" / "util.py")]
        assert cache.hits == [str(clean_import / "pkgcc" / "__init__.py")]
    finally:
        undo()


def test_another_folder_is_not_taken(clean_import: pathlib.Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    script = generated_script(PACKAGE)
    cache = CodeCache.from_pyscript(script, "/somewhere/else")
    undo = cache.install()
    try:
        run_script(script, clean_import, monkeypatch)
        assert sys.modules["pkgcc"].VALUE == 42
        assert cache.hits == [] and cache.misses == []
    finally:
        undo()


# A docstring, an assert and annotations: what -O/-OO and an inherited
# `from __future__ import annotations` (this module has one) would each compile otherwise.
SOURCE = b'''"""Doc."""
import sys
x: int = 1
def f(a: list[int], *b, **k) -> int:
    """Doc of f."""
    assert a, "empty"
    return [y for y in a][0]
'''


def test_the_cached_code_is_the_code_importlib_compiles(tmp_path: pathlib.Path) -> None:
    cache = CodeCache()
    path = str(tmp_path / "m.py")
    cache.add(path, SOURCE)
    code = cache.code_for(path, bytearray(SOURCE))
    assert code is not None
    loader = importlib.machinery.SourceFileLoader("m", path)
    assert code == loader.source_to_code(SOURCE, path)  # flags, consts, line table
    assert code.co_filename == path
    assert cache.code_for(path, "text, not bytes") is None  # importlib hands bytes
    assert cache.code_for(str(tmp_path / "other.py"), SOURCE) is None


def test_another_optimization_level_or_more_arguments_compile_as_usual(
    tmp_path: pathlib.Path,
) -> None:
    path = tmp_path / "m.py"
    path.write_bytes(SOURCE)
    cache = CodeCache()
    cache.add(str(path), SOURCE)
    loader = importlib.machinery.SourceFileLoader("m", str(path))
    undo = cache.install()
    try:
        optimized = loader.source_to_code(SOURCE, str(path), _optimize=2)
        assert optimized == compile(SOURCE, str(path), "exec", dont_inherit=True, optimize=2)
        assert optimized != cache.code_for(str(path), SOURCE)  # -OO: no docstrings, asserts
        cache.hits.clear()
        assert cache.hits == []
        assert loader.source_to_code(SOURCE, str(path)) is cache.code_for(str(path), SOURCE)
    finally:
        undo()


def test_a_later_pythons_extra_arguments_go_to_importlibs_own(tmp_path: pathlib.Path) -> None:
    """CPython 3.15's importlib calls source_to_code(data, path, fullname): the wrapper must
    pass it on (and compile), not fail every import."""
    path = str(tmp_path / "m.py")
    cache = CodeCache()
    cache.add(path, SOURCE)
    seen: list[tuple[Any, ...]] = []

    def importlibs_own(self: Any, data: Any, path: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append((args, kwargs))
        return "compiled"

    wrapper = codecache._source_to_code(cache, importlibs_own)
    assert wrapper(None, SOURCE, path, "m") == "compiled"
    assert wrapper(None, SOURCE, path, fullname="m", _optimize=-1) == "compiled"
    assert seen == [(("m",), {}), ((), {"fullname": "m", "_optimize": -1})]
    assert cache.hits == []
    assert wrapper(None, SOURCE, path, _optimize=-1) is cache.code_for(path, SOURCE)


def test_one_cache_at_a_time_and_undo_restores_the_loader() -> None:
    loader = importlib.machinery.SourceFileLoader
    before = loader.__dict__.get("source_to_code")
    first = CodeCache()
    undo = first.install()
    try:
        assert codecache.installed() is first
        assert loader.__dict__.get("source_to_code") is not before
        with pytest.raises(RuntimeError, match="installed already"):
            CodeCache().install()
        assert codecache.installed() is first
    finally:
        undo()
    undo()  # twice: nothing more
    assert codecache.installed() is None
    assert loader.__dict__.get("source_to_code") is before
    CodeCache().install()()  # installable again once undone
    assert loader.__dict__.get("source_to_code") is before


def test_undo_under_someone_elses_wrapper_says_so() -> None:
    loader = importlib.machinery.SourceFileLoader
    before = loader.__dict__.get("source_to_code")
    undo = CodeCache().install()
    ours = loader.__dict__["source_to_code"]
    loader.source_to_code = lambda self, data, path, **kw: ours(self, data, path, **kw)  # type: ignore[method-assign]
    try:
        with pytest.raises(RuntimeError, match="replaced over the code cache"):
            undo()
    finally:
        loader.source_to_code = ours  # type: ignore[method-assign]
        undo()
    assert loader.__dict__.get("source_to_code") is before
    assert codecache.installed() is None


def test_the_real_pyscript_start_up_script(tmp_path: pathlib.Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The script @pyscript/core (node_modules, the version we vendor) generates, made by
    its own stdlib.js under node: every file it writes is found, byte for byte, and
    compiles."""
    stdlib_js = PROJECT_ROOT / "node_modules" / "@pyscript" / "core" / "src" / "stdlib.js"
    node = shutil.which("node")
    assert node and stdlib_js.is_file(), "needs `make setup` (node, node_modules)"
    made = subprocess.run(
        [node, "--input-type=module", "-e",
         f"import {{ stdlib }} from {json.dumps(stdlib_js.as_uri())};"
         " process.stdout.write(stdlib);"],
        capture_output=True, text=True, timeout=60, check=True)
    script = made.stdout
    assert "import pyscript as _pyscript" in script
    found = pyscript_sources(script, str(tmp_path))
    names = {pathlib.Path(p).relative_to(tmp_path).as_posix() for p in found}
    assert {"pyscript/__init__.py", "pyscript/web.py", "pyscript/ffi.py"} <= names
    assert len(found) >= 11
    run_script(script.replace("import pyscript as _pyscript", "_pyscript = None"),
               tmp_path, monkeypatch)
    written = {str(p): p.read_bytes() for p in tmp_path.rglob("*.py")}
    assert written == found
    assert len(CodeCache.from_pyscript(script, str(tmp_path))) == len(found)
