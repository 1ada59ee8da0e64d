"""The library's layout rules (issue 15): one idea per module, no module over about 500
lines, and no private name imported from another module (a name another module needs is
public where it is defined)."""

import ast
import importlib
from pathlib import Path

import pytest

LIBRARY = Path(__file__).resolve().parents[1] / "course_lib"
MODULES = sorted(LIBRARY.rglob("*.py"))
MAX_LINES = 500


def _name(path: Path) -> str:
    parts = path.relative_to(LIBRARY.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_module_is_short(path):
    n = len(path.read_text().splitlines())
    assert n <= MAX_LINES, f"{_name(path)} has {n} lines; split it by idea (at most about {MAX_LINES})."


@pytest.mark.parametrize("path", MODULES, ids=_name)
def test_no_private_name_from_another_module(path):
    tree = ast.parse(path.read_text())
    private = [(node.lineno, alias.name) for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
               for alias in node.names if alias.name.startswith("_") and not alias.name.startswith("__")]
    assert not private, f"{_name(path)} imports private names {private}; make them public where they are defined."


@pytest.mark.parametrize("path", [p for p in MODULES if p.name == "__init__.py"], ids=_name)
def test_package_exports_exist(path):
    module = importlib.import_module(_name(path))
    missing = [n for n in getattr(module, "__all__", ()) if not hasattr(module, n)]
    assert not missing, f"{_name(path)}.__all__ names {missing}, which it does not define."
