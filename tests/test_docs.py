"""The READMEs say what the suite does: every requirement documented, the commands the same everywhere."""

from __future__ import annotations

import re

from gpuaccept.catalogue import CATALOGUE
from tests.conftest import ROOT

INSTALL_RUN = "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/pytest acceptance/"
SELF_TESTS = "python3 -m venv .venv && .venv/bin/pip install -e '.[test]' && .venv/bin/pytest tests/"


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


EXIT_CODE = re.compile(r"^\| (\d) \| ([A-Z ]*) \|", re.MULTILINE)


def test_the_ci_examples_state_the_readmes_exit_codes():
    codes = {int(code): verdict.strip() for code, verdict in EXIT_CODE.findall((ROOT / "README.md").read_text())}
    assert codes[0] == "ACCEPTED" and codes[1] == "NOT ACCEPTED" and codes[6] == "INCOMPLETE"
    for ci in ("github-actions.yml", "gitlab-ci.yml"):
        comments = " ".join(line.lstrip("# ") for line in (ROOT / "docs" / "ci" / ci).read_text().splitlines()
                            if line.startswith("#"))
        for code, verdict in codes.items():
            assert str(code) in comments, f"{ci} does not say what exit {code} means"
            if verdict:
                assert f"{code} {verdict}" in comments, f"{ci} gives exit {code} another meaning than {verdict}"


RUN_FOLDER_FILES = re.compile(r"^\| `([\w.-]+/?)` \|", re.MULTILINE)


def test_the_reports_readme_names_every_file_of_a_run_folder():
    section = (ROOT / "README.md").read_text().split("## The run folder", 1)[1].split("\n## ", 1)[0]
    files = RUN_FOLDER_FILES.findall(section)
    assert "summary.json" in files and "MANIFEST.sha256" in files
    reports = (ROOT / "reports" / "README.md").read_text()
    assert [name for name in files if f"`{name}`" not in reports] == []


COMMAND = re.compile(r"^(?:\.venv/bin/|python3? |gpuaccept |pytest |cd |sha256sum |ssh-keygen )[^\n]*$", re.MULTILINE)


def test_the_chinese_readme_has_every_command_of_the_english_one():
    def commands(text: str) -> set[str]:
        return {line.strip() for block in FENCE.findall(text) for line in COMMAND.findall(block)}

    english, chinese = (ROOT / "README.md").read_text(), (ROOT / "README.zh-CN.md").read_text()
    assert commands(english), "no command found in README.md"
    assert commands(english) - commands(chinese) == set()


def readme_options() -> dict[str, tuple[str, str]]:
    """The README's Options table: option -> (metavar, ini twin)."""
    section = (ROOT / "README.md").read_text().split("\n## Options\n", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]]
        if cells and cells[0].startswith("`--"):
            name, _, metavar = cells[0].strip("`").replace("\\|", "|").partition(" ")
            assert name not in rows, f"{name} has two rows"
            rows[name] = (metavar, cells[1].strip("`"))
    return rows


def test_readme_option_table_is_the_registered_options(registered_options):
    documented = readme_options()
    assert set(documented) - set(registered_options) == set(), "README documents options the suite does not have"
    assert set(registered_options) - set(documented) == set(), "options missing from the README's Options table"
    for name, real in registered_options.items():
        assert documented[name] == (real.metavar, real.ini), (name, documented[name], real)
    assert {"--technician", "--ticket", "--sign-key"} <= set(documented)


FENCE = re.compile(r"^```[^\n]*\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def readme_outline(text: str) -> dict[str, object]:
    """What a translation must keep verbatim: headings' count, code blocks, links and the tables' keys."""
    prose = FENCE.sub("", text)
    rows = [[c.strip() for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in prose.splitlines() if line.startswith("|")]
    return {
        "## headings": len(re.findall(r"^## ", prose, re.MULTILINE)),
        "### headings": len(re.findall(r"^### ", prose, re.MULTILINE)),
        "code blocks": FENCE.findall(text),
        # each README links to the other one; every other link is the same in both
        "links": sorted(set(re.findall(r"\]\(([^)]+)\)", prose)) - {"README.md", "README.zh-CN.md"}),
        "requirement IDs": sorted(r[0] for r in rows if re.fullmatch(r"[A-Z]+-[A-Z0-9-]+( \*\((load|diag)\)\*)?", r[0])),
        "options": sorted((r[0], r[1]) for r in rows if re.fullmatch(r"`--[^`]+`", r[0])),
        "exit codes": sorted((r[0], r[1]) for r in rows if r[0].isdigit()),
        "self-tests": sorted(set(re.findall(r"`(tests/[\w/]+\.py::\w+)`", prose))),
    }


def test_the_chinese_readme_is_the_english_one_translated():
    english_text, chinese_text = (ROOT / "README.md").read_text(), (ROOT / "README.zh-CN.md").read_text()
    assert "](README.zh-CN.md)" in english_text and "](README.md)" in chinese_text, "the READMEs link each other"
    english, chinese = readme_outline(english_text), readme_outline(chinese_text)
    assert english["requirement IDs"] and english["options"] and english["exit codes"], "outline found no tables"
    for part in english:
        assert chinese[part] == english[part], f"README.zh-CN.md differs from README.md in its {part}"
