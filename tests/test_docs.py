"""The READMEs say what the suite does: every requirement documented, the commands the same everywhere."""

from __future__ import annotations

import re

from gpuaccept.catalogue import CATALOGUE
from tests.conftest import ROOT

INSTALL_RUN = "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/pytest acceptance/"
SELF_TESTS = "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/pytest tests/"


def test_every_requirement_is_in_the_readme_table():
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^\| ([A-Z]+-[A-Z0-9-]+) ", readme, re.MULTILINE))
    assert documented == set(CATALOGUE)


def test_both_readmes_give_the_same_commands_and_ci_runs_the_test_command():
    english, chinese = (ROOT / "README.md").read_text(), (ROOT / "README.zh-CN.md").read_text()
    for text in (english, chinese):
        assert INSTALL_RUN in text and SELF_TESTS in text
        assert "pytest acceptance/ --replay fixtures/hosts/dual-p40" in text
        assert "python -m gpuaccept verify reports/" in text
    assert SELF_TESTS in (ROOT / ".ci" / "run").read_text()
    for ci in ("github-actions.yml", "gitlab-ci.yml"):
        assert "pytest acceptance/" in (ROOT / "docs" / "ci" / ci).read_text()
