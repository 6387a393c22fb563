"""Each requirement of the catalogue has exactly one acceptance test, marked with its ID and named after
it, that calls the check named after it (read from the test modules' source, so a test that no run
collects counts too), and an action for its failure: PCIE-WIDTH is ``test_pcie_width`` calling
``pcie.pcie_width``."""

from __future__ import annotations

import ast

from gpuaccept.actions import ON_FAILURE
from gpuaccept.catalogue import CATALOGUE
from tests.conftest import ROOT


def _marked() -> dict[str, list[str]]:
    """requirement ID -> the acceptance tests marked with it (module::function)."""
    found: dict[str, list[str]] = {}
    for path in sorted((ROOT / "acceptance").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test_"):
                continue
            for mark in node.decorator_list:
                if (isinstance(mark, ast.Call) and isinstance(mark.func, ast.Attribute)
                        and mark.func.attr == "requirement" and mark.args and isinstance(mark.args[0], ast.Constant)):
                    calls = {c.func.attr for c in ast.walk(node) if isinstance(c, ast.Call)
                             and isinstance(c.func, ast.Attribute) and isinstance(c.func.value, ast.Name)}
                    found.setdefault(mark.args[0].value, []).append((path.name, node.name, calls))
    return found


def test_every_requirement_has_exactly_one_acceptance_test_and_an_action():
    marked = _marked()
    assert set(marked) == set(CATALOGUE), set(marked) ^ set(CATALOGUE)
    assert {rid: tests for rid, tests in marked.items() if len(tests) != 1} == {}
    named = {rid: rid.lower().replace("-", "_") for rid in CATALOGUE}
    assert [(rid, test) for rid, [(_, test, calls)] in marked.items()
            if test != f"test_{named[rid]}" or named[rid] not in calls] == []
    assert set(ON_FAILURE) == set(CATALOGUE)
