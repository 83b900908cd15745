"""The core knows no transport, no ORM and no scheduler."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import campusbot

FORBIDDEN = ("nio", "telegram", "sqlalchemy", "alembic", "apscheduler", "aiohttp")
PACKAGE = Path(campusbot.__file__).parent


def imported_modules(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_core_and_content_import_no_outer_layer_in_their_source() -> None:
    for folder in ("core", "content"):
        for path in (PACKAGE / folder).rglob("*.py"):
            for name in imported_modules(path):
                top = name.split(".")[0]
                assert top not in FORBIDDEN, f"{path} imports {name}"
                outer = ("campusbot.storage", "campusbot.channels", "campusbot.app", "campusbot.cli")
                assert not name.startswith(outer), f"{path} imports {name}"


def test_importing_the_core_loads_no_outer_layer() -> None:
    # A fresh interpreter, so that what other tests imported does not hide a leak.
    code = (
        "import sys, pkgutil, importlib, campusbot.core as core\n"
        "for m in pkgutil.walk_packages(core.__path__, 'campusbot.core.'): importlib.import_module(m.name)\n"
        f"print(sorted(n for n in sys.modules if n.split('.')[0] in {FORBIDDEN!r}))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
