"""drivers/ imports nothing MicroPython lacks and nothing of the CPython gateway (a source scan)."""

import ast
from pathlib import Path

import pytest

DRIVERS_DIR = Path(__file__).parent.parent / "drivers"
FORBIDDEN = frozenset({
    "typing", "dataclasses", "asyncio", "pathlib", "sqlite3", "enum", "abc", "logging",
    "serial", "pymodbus", "gateway",
})


def imported_modules(source):
    """Top-level names of every module the source imports, at any depth (also inside functions)."""
    names = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
        elif _is_literal_dunder_import(node):
            names.add(str(node.args[0].value).split(".")[0])
    return names


def _is_literal_dunder_import(node):
    return (isinstance(node, ast.Call) and getattr(node.func, "id", None) == "__import__"
            and bool(node.args) and isinstance(node.args[0], ast.Constant))


DRIVER_FILES = sorted(DRIVERS_DIR.glob("*.py"))


def test_the_scan_sees_every_kind_of_import():
    source = ("import typing\nfrom gateway.x import y\ndef f():\n    import logging\n"
              "    __import__('enum')\nfrom . import sibling\n")
    assert imported_modules(source) == {"typing", "gateway", "logging", "enum"}


def test_there_are_driver_modules_to_scan():
    names = {path.stem for path in DRIVER_FILES}
    assert {"modbus_rtu", "registers", "dlt645"} <= names


@pytest.mark.parametrize("path", DRIVER_FILES, ids=lambda path: path.name)
def test_driver_module_imports_nothing_forbidden(path):
    found = imported_modules(path.read_text(encoding="utf-8")) & FORBIDDEN
    assert not found, f"{path.name} imports {sorted(found)}: not on MicroPython, or CPython-only"
