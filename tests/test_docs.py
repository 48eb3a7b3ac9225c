"""The equation table in docs/paper_equations.md names tests and functions that exist."""
import ast
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TABLE = (ROOT / "docs" / "paper_equations.md").read_text()


def _test_references() -> list[tuple[str, str]]:
    references, current = [], None
    for path, name in re.findall(r"`(?:([\w/]+\.py))?::(\w+)`", TABLE):
        current = path or current
        references.append((current, name))
    return references


def _functions(path: str) -> set[str]:
    tree = ast.parse((ROOT / "tests" / path).read_text())
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef)}


def test_every_test_named_in_the_equation_table_exists():
    references = _test_references()
    assert len(references) > 60
    missing = [f"{path}::{name}" for path, name in references if name not in _functions(path)]
    assert not missing, f"docs/paper_equations.md names tests that do not exist: {missing}"


def test_every_equation_has_a_row():
    rows = {int(n) for n in re.findall(r"^\| (\d+) \|", TABLE, flags=re.M)}
    assert rows == set(range(1, 56)), f"missing rows: {sorted(set(range(1, 56)) - rows)}"


@pytest.mark.parametrize("dotted", sorted(set(re.findall(r"`((?:simulate|restore|bench|fitting)\.[\w.]+)`", TABLE))))
def test_every_function_named_in_the_equation_table_exists(dotted):
    parts = dotted.split(".")
    for split in range(len(parts), 0, -1):
        try:
            target = importlib.import_module(".".join(parts[:split]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[split:]:
            target = getattr(target, attribute)
        return
    pytest.fail(f"{dotted} does not import")
