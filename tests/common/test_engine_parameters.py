"""Every database engine the code creates hides statement parameters: a failed statement's error, and any log line
quoting it, never carries the values (phone numbers, names, token hashes). New engines are held to it here."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENGINE_FACTORIES = {"create_async_engine", "create_engine", "engine_from_config", "async_engine_from_config"}


def _engine_calls(path: Path) -> list[tuple[int, bool]]:
    """(line, hides parameters) of each call of SQLAlchemy's engine factories in a module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    imported = {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy")
        for alias in node.names
        if alias.name in ENGINE_FACTORIES
    }
    calls = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in imported:
            hides = any(
                k.arg == "hide_parameters" and isinstance(k.value, ast.Constant) and k.value.value is True
                for k in node.keywords
            )
            calls.append((node.lineno, hides))
    return calls


def test_every_engine_hides_its_statement_parameters() -> None:
    found = {}
    for folder in ("services", "bench"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            for line, hides in _engine_calls(path):
                found[f"{path.relative_to(ROOT)}:{line}"] = hides
    assert any(name.startswith("services/common/db.py") for name in found)  # the scan sees the engines
    assert [name for name, hides in found.items() if not hides] == []
