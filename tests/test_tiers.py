"""-m names tiers: a typo or an expression that selects no requirement is a usage error, never "no tests ran"."""

from __future__ import annotations

import json

import pytest

from tests.conftest import HOSTS, ROOT


@pytest.mark.parametrize(("expression", "words"), [
    ("quik", "quik is not a tier; the tiers are: quick, load, diag"),
    ("not quick and not load and not diag", "selects no tier"),
    ("quick or", "the tiers are: quick, load, diag"),
])
def test_a_bad_tier_expression_is_a_usage_error(run_suite, expression, words):
    run = run_suite("--replay", str(HOSTS / "dual-p40"), "-m", expression)
    assert run.ret == 4
    assert words in run.stderr + run.stdout
    assert "Traceback" not in run.stderr + run.stdout


def test_a_tier_selects_its_requirements(run_suite):
    run = run_suite("--replay", str(HOSTS / "dual-p40"), "-m", "quick")
    assert run.ret == 0 and "OLL-THROUGHPUT" not in run.outcomes() and "GPU-COUNT" in run.outcomes()


DIAG_IDS = {"PCIE-BANDWIDTH", "PCIE-REPLAY", "GPU-MEMTEST", "GPU-SOAK", "GPU-P2P"}


def test_a_bare_run_leaves_the_diag_tier_out_and_says_so(run_suite):
    # The diag tier loads the cards for minutes: only -m diag runs it.
    run = run_suite("--replay", str(HOSTS / "dual-p40"))
    assert not DIAG_IDS & set(run.outcomes())
    assert "GPU-COUNT" in run.outcomes() and "OLL-THROUGHPUT" in run.outcomes()
    assert "deselected" in run.stdout


def test_minus_m_diag_selects_only_the_diag_tier(run_suite):
    run = run_suite("--replay", str(HOSTS / "dual-p40"), "-m", "diag")
    assert set(run.outcomes()) == DIAG_IDS


def test_quick_or_diag_selects_both(run_suite):
    run = run_suite("--replay", str(HOSTS / "dual-p40"), "-m", "quick or diag")
    assert set(run.outcomes()) >= DIAG_IDS and "GPU-COUNT" in run.outcomes()
    assert "OLL-THROUGHPUT" not in run.outcomes()


@pytest.mark.parametrize("value", ["2", "nan", "-600", "ten"])
def test_a_bad_soak_time_is_a_usage_error(run_suite, value):
    run = run_suite("--replay", str(HOSTS / "dual-p40"), "-m", "diag", "--soak-seconds", value)
    assert run.ret == 4
    assert "--soak-seconds" in run.stderr + run.stdout


def test_a_selection_of_part_of_a_tier_is_never_an_acceptance(run_suite):
    # dual-p40-x8-link fails PCIE-WIDTH; -k picks a test that passes there. One test is not an acceptance.
    run = run_suite("--replay", str(HOSTS / "dual-p40-x8-link"), "-k", "test_gpu_count")
    assert run.ret == 6, run.stdout[-2000:]
    assert "INCOMPLETE (1 passed; " in run.stdout and "of the selected tiers not run" in run.stdout
    summary = json.loads((run.run_dir / "summary.json").read_text())
    assert summary["verdict"] == "INCOMPLETE" and "PCIE-WIDTH" in summary["run"]["not_run"]
    assert "GPU-COUNT" not in summary["run"]["not_run"]
    whole = run_suite("--replay", str(HOSTS / "dual-p40"), "-m", "quick")  # a whole tier is an acceptance of it
    assert whole.ret == 0 and json.loads((whole.run_dir / "summary.json").read_text())["run"]["not_run"] == []
    failing = run_suite("--replay", str(HOSTS / "dual-p40-x8-link"), "-k", "test_pcie_width")
    assert failing.ret == 1  # a failure found by a partial run is still a failure
    stopped = run_suite("--replay", str(HOSTS / "dual-p40-x8-link"), "--maxfail=1")
    assert stopped.ret == 1 and "not run (pytest stopping after 1 failures (-x or --maxfail))" in stopped.stdout
    assert "chose part of the acceptance" not in stopped.stdout  # nothing was chosen: pytest stopped


def test_a_marker_that_leaves_out_a_required_tier_is_never_an_acceptance(run_suite, tmp_path):
    """dual-p40-x8-link fails PCIE-WIDTH (quick tier): -m load alone judges nothing of the cards, so it is
    INCOMPLETE naming the tier left out, never ACCEPTED; a profile may require the load tier too."""
    run = run_suite("--replay", str(HOSTS / "dual-p40-x8-link"), "-m", "load")
    assert run.ret == 6 and "-m left out the quick tier the profile requires (required_tiers)" in run.stdout, \
        run.stdout[-2000:]
    summary = json.loads((run.run_dir / "summary.json").read_text())
    assert summary["verdict"] == "INCOMPLETE" and "PCIE-WIDTH" in summary["run"]["not_run"]
    profile = tmp_path / "both.toml"
    profile.write_text((ROOT / "gpuaccept" / "profiles" / "dual-p40.toml").read_text().replace(
        'name = "dual-p40"', 'name = "dual-p40-both"\nrequired_tiers = ["quick", "load"]', 1))
    quick = run_suite("--replay", str(HOSTS / "dual-p40"), "-m", "quick", "--profile", str(profile))
    assert quick.ret == 6 and "-m left out the load tier the profile requires" in quick.stdout, quick.stdout[-2000:]
    assert run_suite("--replay", str(HOSTS / "dual-p40"), "--profile", str(profile)).ret == 0


@pytest.mark.parametrize("selection", [["--deselect", "acceptance/test_pcie.py::test_pcie_width[gpu1]"],
                                       ["-k", "not gpu1"]], ids=["deselect one card's case", "-k not gpu1"])
def test_leaving_out_one_cards_case_is_no_acceptance(run_suite, selection):
    """dual-p40-x8-link fails only on gpu1's PCIE-WIDTH: leaving that one case out once ended ACCEPTED."""
    run = run_suite("--replay", str(HOSTS / "dual-p40-x8-link"), "-m", "quick", *selection)
    assert run.ret == 6, run.stdout[-2000:]
    record = json.loads((run.run_dir / "summary.json").read_text())
    assert record["verdict"] == "INCOMPLETE" and "PCIE-WIDTH[gpu1]" in record["run"]["not_run"]
    assert "[gpu1]" in run.stdout.splitlines()[-1]  # the verdict line names the cases left out


def test_a_per_gpu_requirement_counts_each_cards_case():
    from gpuaccept.summary import unrun

    cases = [{"id": "test_pcie_width[gpu0]", "requirement": "PCIE-WIDTH"}, {"id": "test_gpu_count", "requirement": "GPU-COUNT"}]
    assert "PCIE-WIDTH[gpu1]" in unrun(cases, frozenset({"quick"}), gpus=2)
    assert "PCIE-WIDTH[gpu0]" not in unrun(cases, frozenset({"quick"}), gpus=2)
    assert not [m for m in unrun(cases, frozenset({"quick"}), gpus=1) if m.startswith("PCIE-WIDTH")]
