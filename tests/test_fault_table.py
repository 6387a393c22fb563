"""The README's table of faults and bad input names self-tests that exist: the table cannot drift."""

from __future__ import annotations

import ast
import re

from tests.conftest import ROOT


def _table_rows() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Faults and bad input: what you see", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("| ") and not line.startswith("| fault")
            and not line.startswith("|---")]


def test_every_row_names_a_self_test_that_exists():
    rows = _table_rows()
    assert len(rows) >= 15
    for row in rows:
        named = re.findall(r"`(tests/[\w/]+\.py)::(test_\w+)`", row.rsplit("|", 2)[-2])
        assert named, f"no self-test named in: {row}"
        for path, name in named:
            tree = ast.parse((ROOT / path).read_text())
            functions = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
            assert name in functions, f"{path}::{name} (README fault table) does not exist"
