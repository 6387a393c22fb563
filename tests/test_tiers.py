"""-m names tiers: a typo or an expression that selects no requirement is a usage error, never "no tests ran"."""

from __future__ import annotations

import pytest

from tests.conftest import HOSTS


@pytest.mark.parametrize(("expression", "words"), [
    ("quik", "quik is not a tier; the tiers are: quick, load"),
    ("not quick and not load", "selects no tier"),
    ("quick or", "the tiers are: quick, load"),
])
def test_a_bad_tier_expression_is_a_usage_error(run_suite, expression, words):
    run = run_suite("--replay", str(HOSTS / "dual-p40"), "-m", expression)
    assert run.ret == 4
    assert words in run.stderr + run.stdout
    assert "Traceback" not in run.stderr + run.stdout


def test_a_tier_selects_its_requirements(run_suite):
    run = run_suite("--replay", str(HOSTS / "dual-p40"), "-m", "quick")
    assert run.ret == 0 and "OLL-THROUGHPUT" not in run.outcomes() and "GPU-COUNT" in run.outcomes()
