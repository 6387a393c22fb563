"""The real suite, replayed on every bundled evidence set: exactly the expected requirements fail."""

from __future__ import annotations

import pytest

from gpuaccept.catalogue import CATALOGUE
from gpuaccept.evidence import Evidence
from gpuaccept.sources.build import build_facts
from tests.conftest import HOSTS
from tests.fix_fit import misfits

NVML_NEEDED = {"GPU-COUNT", "GPU-PCI-COUNT", "GPU-MODEL", "GPU-IDENTICAL", "GPU-MEMORY", "GPU-PERSISTENCE",
               "GPU-ECC", "GPU-RETIRED", "PCIE-WIDTH", "PCIE-GEN", "PCIE-BAR1", "PCIE-ASPM", "PCIE-TOPO",
               "PWR-LIMIT"}

# evidence set -> (requirements that fail, words each failing message must contain)
EXPECTED = {
    "dual-p40": (set(), []),
    "dual-p40-one-missing-from-nvml": ({"GPU-COUNT", "GPU-PCI-COUNT", "OLL-GPUS-DETECTED"},
                                       ["0000:03:00.0", "RmInitAdapter", "discovered 1 CUDA device"]),
    "dual-p40-x8-link": ({"PCIE-WIDTH"}, ["GPU1 (0000:03:00.0) links at x8", "expected x16", "reseat"]),
    "dual-p40-driver-535": ({"DRV-VERSION"}, ["535.309.01", ">= 570", "R580"]),
    "dual-p40-driver-590": ({"DRV-VERSION"}, ["590.48.01", "do not support Pascal", "below 590"]),
    # One root cause, one message: what depends on the broken driver is not evaluated and points at it.
    "dual-p40-kmod-mismatch": ({"DRV-KMOD-MATCH"}, ["mismatch", "reboot", "client 580.159.03"]),
    "dual-p40-open-kmod": ({"GPU-COUNT", "GPU-PCI-COUNT", "DRV-KMOD-FLAVOR"}, ["open", "GSP", "proprietary"]),
    "dual-p40-vbios-differs": ({"GPU-IDENTICAL"}, ["86.02.4B.00.01", "86.02.23.00.00", "flash"]),
    "dual-p40-no-toolkit": ({"CTR-TOOLKIT", "CTR-RUNNING", "OLL-API"},
                            ['could not select device driver "" with capabilities: [[gpu]]',
                             "nvidia-ctk runtime configure --runtime=docker", "--remediate` launches it"]),
    "dual-p40-container-one-gpu": ({"CTR-GPU-REQUEST", "CTR-SEES-GPUS", "OLL-GPUS-DETECTED"},
                                   ["covers 1 of 2 GPUs (--gpus count=1: GPU0)", "missing GPU-e6b47121",
                                    "--remediate"]),
    "dual-p40-made-up-variables": ({"CTR-CONFIG"}, ["OLLAMA_GPU_LAYERS is not an Ollama setting", "num_gpu",
                                                    "OLLAMA_NUM_GPU", "remove OLLAMA_GPU_LAYERS"]),
    "dual-p40-api-exposed": ({"CTR-EXPOSURE"}, ["0.0.0.0:11434, :::11434 (every interface)", "no authentication",
                                                "-p 127.0.0.1:11434:11434"]),
    "dual-p40-all-on-one-gpu": ({"CTR-CONFIG", "OLL-SPREAD"},
                                ["qwen3:32b holds 20.3 GiB on GPU0, 0.0 GiB on GPU1",
                                 "fits one card and OLLAMA_SCHED_SPREAD is not set", "set OLLAMA_SCHED_SPREAD=1"]),
    "dual-p40-cpu-spill": ({"OLL-OFFLOAD"}, ["on the CPU", "lower the context"]),
    "dual-p40-too-slow": ({"OLL-THROUGHPUT"}, ["4.2 tokens/s", "of the 17.1 tokens/s ceiling", "throttling"]),
    "dual-p40-gpu-not-detected": ({"DRV-VERSION", "OLL-GPUS-DETECTED"},
                                  ["NVIDIA driver too old", "install the R580 driver", "535.309.01"]),
    "dual-p40-xid-79": ({"GPU-XID"}, ["Xid 79", "fell off the bus", "power cable"]),
    "dual-p40-wrong-answer": ({"OLL-ANSWER"}, ["the model replied '371'", "expected a reply holding '391'"]),
    "dual-p40-gibberish": ({"OLL-ANSWER"}, ["the word 'Tạng' 8 times in a row", "llama.cpp#14228"]),
    # The diag variants (tests/test_diag_verdicts.py runs their tier); a bare run still reads the copies'
    # link samples, so the slow link fails PCIE-GEN here.
    "dual-p40-diag-slow-link": ({"PCIE-GEN"}, ["Gen1 under load (the diag copies)", "remove the riser"]),
    "dual-p40-diag-replay-errors": (set(), []),
    "dual-p40-diag-memory-mismatch": (set(), []),
    "dual-p40-diag-throttling": (set(), []),
}
OPT_IN = {rid for rid, r in CATALOGUE.items() if r.tier == "diag"}  # a bare run leaves them out


# Saved by live runs on real machines: replayed with the profile they ran under, they must give the
# verdicts of that live run (fixtures/hosts/SOURCES.md). One exception, a newer rule: GPU-RETIRED skipped
# live (page retirement is NOT_SUPPORTED on Hopper) and is now judged by row remapping, read from the same
# run's nvidia-smi -q -x because that nvml.json predates the remapped-rows fields.
LIVE = {
    "h100-live": ("single-h100", {"GPU-IDENTICAL", "PCIE-ASPM", "PCIE-TOPO", "PWR-BUDGET",
                                  "HOST-DRIFT", "FLEET-CONSISTENT",  # no --baseline, no --hosts
                                  "GPU-PERSISTENCE",  # not evaluated: see the test below
                                  # that machine runs no Ollama container: its profile checks none
                                  "CTR-ENGINE", "CTR-TOOLKIT", "CTR-RUNNING", "CTR-GPU-REQUEST", "CTR-SEES-GPUS",
                                  "CTR-CONFIG", "CTR-EXPOSURE",
                                  # nor an Ollama server
                                  "OLL-API", "OLL-GPUS-DETECTED", "OLL-MODEL", "OLL-OFFLOAD", "OLL-SPREAD",
                                  "OLL-BALANCE", "OLL-THROUGHPUT", "OLL-LOAD-TIME", "OLL-ANSWER", "OLL-CONSISTENT",
                                  "GPU-THERMAL"}),
}


def test_every_bundled_set_has_an_expectation():
    bundled = {p.name for p in HOSTS.iterdir() if p.is_dir()}
    # h100-live-diag is a diag-tier capture: tests/test_diag_verdicts.py replays it with -m "quick or diag"
    assert bundled == set(EXPECTED) | set(LIVE) | {"h100-live-diag"}


@pytest.mark.parametrize("name", sorted(LIVE))
def test_live_capture_replays_to_its_live_verdicts(run_suite, name):
    profile, skipped = LIVE[name]
    run = run_suite("--replay", str(HOSTS / name), "--profile", profile)
    outcomes = run.outcomes()
    assert {rid for rid, outs in outcomes.items() if outs == {"skipped"}} == skipped, run.stdout[-3000:]
    assert {rid for rid, outs in outcomes.items() if outs != {"skipped"}} == set(CATALOGUE) - skipped - OPT_IN
    # That capture predates the nvidia-persistenced evidence: persistence is on, whether it survives a
    # reboot is not known, so GPU-PERSISTENCE is not evaluated and the replay is INCOMPLETE, not accepted.
    assert run.failing() == set() and run.ret == 6
    assert "survives a reboot is unknown" in run.messages("GPU-PERSISTENCE")
    assert any("0 remapped row(s)" in c.properties.get("message", "") for c in run.cases
               if c.requirement == "GPU-RETIRED")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_replay_fails_exactly_its_requirements(run_suite, name):
    failing, words = EXPECTED[name]
    run = run_suite("--replay", str(HOSTS / name))
    assert run.failing() == failing, run.stdout[-3000:]
    assert run.ret == (1 if failing else 0)
    for rid in failing:
        message = run.messages(rid)
        assert "Likely cause:" in message and "Fix:" in message, message
    for word in words:
        assert any(word in run.messages(rid) for rid in failing), (word, run.stdout[-3000:])
    assert "Traceback" not in run.stdout
    assert_fixes_fit(run, name)
    # PWR-BUDGET skips without a PSU size; every catalogue requirement but the opt-in tier's ran.
    assert run.outcomes()["PWR-BUDGET"] == {"skipped"}
    assert set(run.outcomes()) == set(CATALOGUE) - OPT_IN


def assert_fixes_fit(run, name: str) -> None:
    """Every failing case's fix names only actions that apply to what the set's evidence shows."""
    host = build_facts(Evidence.read(HOSTS / name), mode="replay", source=name)
    outcomes = run.outcomes()
    wrong = {(c.requirement, c.name): found for c in run.cases if c.outcome == "failed"
             if (found := misfits(c.requirement, c.message, host, outcomes))}
    assert not wrong, wrong


def test_healthy_pair_passes_everything_else(run_suite):
    run = run_suite("--replay", str(HOSTS / "dual-p40"))
    outcomes = run.outcomes()
    assert {rid for rid, outs in outcomes.items() if outs != {"passed"}} == {"PWR-BUDGET", "HOST-DRIFT", "FLEET-CONSISTENT"}
    assert "PSU capacity not given" in run.messages("PWR-BUDGET") and "no baseline" in run.messages("HOST-DRIFT")
    assert "a fleet run's requirement (--hosts): not a fleet run" in run.messages("FLEET-CONSISTENT")


@pytest.mark.parametrize(("watts", "outcome"), [("1000", "passed"), ("999", "failed")])
def test_psu_budget_boundary(run_suite, watts, outcome):
    # 2 x 250 W + 300 W host base = 800 W, allowed 0.8 x PSU.
    run = run_suite("--replay", str(HOSTS / "dual-p40"), "--psu-watts", watts)
    assert run.outcomes()["PWR-BUDGET"] == {outcome}


def test_every_case_carries_its_requirement_even_when_skipped(run_suite):
    run = run_suite("--replay", str(HOSTS / "dual-p40-one-missing-from-nvml"))
    assert run.cases and all(c.requirement in CATALOGUE for c in run.cases)
    assert any(c.outcome == "skipped" for c in run.cases)


def test_per_gpu_cases_have_readable_ids(run_suite):
    run = run_suite("--replay", str(HOSTS / "dual-p40-x8-link"))
    failed = [c.name for c in run.cases if c.outcome == "failed"]
    assert failed == ["test_pcie_width[gpu1]"]


def test_replay_is_announced_everywhere(run_suite):
    run = run_suite("--replay", str(HOSTS / "dual-p40"))
    assert "REPLAY of saved evidence" in run.stdout and "NOT a live run" in run.stdout
    html = (run.run_dir / "report.html").read_text()
    assert "REPLAY of saved evidence" in html
    assert run.cases[0].properties.get("requirement")
    assert "-replay" in run.run_dir.name


def test_saved_run_folder_replays_to_the_same_verdicts(run_suite):
    first = run_suite("--replay", str(HOSTS / "dual-p40-xid-79"))
    second = run_suite("--replay", str(first.run_dir))
    assert [(c.name, c.outcome) for c in first.cases] == [(c.name, c.outcome) for c in second.cases]


def test_runs_never_share_a_folder(run_suite):
    a = run_suite("--replay", str(HOSTS / "dual-p40"))
    b = run_suite("--replay", str(HOSTS / "dual-p40"))
    assert a.run_dir != b.run_dir and (a.run_dir / "report.html").exists() and (b.run_dir / "junit.xml").exists()


def test_empty_evidence_folder_evaluates_nothing_and_does_not_exit_zero(run_suite, tmp_path):
    empty = tmp_path / "nothing"
    empty.mkdir()
    run = run_suite("--replay", str(empty))
    assert run.ret == 6
    assert "gpuaccept verdict of a REPLAY (saved evidence, NOT a live run): INCOMPLETE" in run.stdout
    assert run.failing() == set()
    verdicts = {c.requirement: c.properties.get("verdict") for c in run.cases}
    assert verdicts["GPU-COUNT"] == "not_evaluated" and verdicts["PWR-BUDGET"] == "skip"  # not applicable
    assert "nvml.json is not in the evidence folder" in run.messages("GPU-COUNT")


def test_unreadable_evidence_is_not_evaluated_and_not_accepted(run_suite, tmp_path):
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "nvml.json").write_text("{not json")
    run = run_suite("--replay", str(broken))
    assert run.ret == 6 and "GPU-COUNT" not in run.failing()
    assert "evidence unreadable: nvml.json is not valid JSON" in run.messages("GPU-COUNT")
    assert "Traceback" not in run.stdout


def test_xdist_gives_the_same_verdicts(run_suite):
    serial = run_suite("--replay", str(HOSTS / "dual-p40-x8-link"))
    parallel = run_suite("--replay", str(HOSTS / "dual-p40-x8-link"), "-n", "2")
    assert sorted((c.name, c.outcome) for c in serial.cases) == sorted((c.name, c.outcome) for c in parallel.cases)


def test_quick_marker_selects_the_host_tier(run_suite):
    run = run_suite("--replay", str(HOSTS / "dual-p40"), "-m", "quick")
    assert set(run.outcomes()) == {rid for rid, r in CATALOGUE.items() if r.tier == "quick"}


def test_report_charts_the_benchmark_on_the_placement_rows(run_suite):
    run = run_suite("--replay", str(HOSTS / "dual-p40-all-on-one-gpu"))
    html = (run.run_dir / "report.html").read_text()
    # pytest-html keeps row extras in its embedded data; the chart is inline SVG, one per charted row.
    assert html.count("GPU utilization and memory during the benchmark") == 2
    assert "shaded: the measured runs" in html and "polyline" in html


def test_a_constructed_example_says_so_in_the_header_and_the_summary(run_suite):
    import json

    run = run_suite("--replay", str(HOSTS / "dual-p40"))
    header = next(line for line in run.stdout.splitlines() if line.startswith("gpuaccept: REPLAY"))
    assert "constructed: a bundled example assembled from real captures" in header
    summary = json.loads((run.run_dir / "summary.json").read_text())
    assert summary["run"]["provenance"].startswith("constructed:")
    live = run_suite("--replay", str(HOSTS / "h100-live"), "--profile", "single-h100")
    assert json.loads((live.run_dir / "summary.json").read_text())["run"]["provenance"].startswith("captured:")


def test_the_fix_rules_catch_a_fix_that_does_not_fit():
    """The walk above can fail: fixes that name actions the evidence rules out are caught, fitting ones not."""
    host = build_facts(Evidence.read(HOSTS / "dual-p40-no-toolkit"), mode="replay", source="test")
    outcomes = {"CTR-TOOLKIT": {"failed"}, "PCIE-WIDTH": {"passed"}, "GPU-XID": {"passed"}}
    assert misfits("CTR-RUNNING", "x. Fix: `pytest acceptance/ --remediate` launches it (...).", host, outcomes) \
        == ["says --remediate launches it while CTR-TOOLKIT fails (the launch is refused)"]
    assert misfits("OLL-API", "x. Fix: `docker start ollama` (see CTR-RUNNING).", host, outcomes) \
        == ["says `docker start` for a container that is not there or already runs"]
    assert misfits("GPU-COUNT", "x. Fix: power off, reseat the card; see PCIE-WIDTH.", host, outcomes) == [
        "says reseat where no link, count or lost-card evidence shows a seating fault", "points at PCIE-WIDTH, which passed"]
    assert misfits("CTR-RUNNING", "x. Fix: fix CTR-TOOLKIT first (...); then `pytest acceptance/ --remediate` "
                   "launches it (...). Remediation: will not launch", host, outcomes) == []
