"""The diag requirements judged directly on edited copies of the bundled dual-p40 diag.json: evidence that
does not show what a pass claims is not evaluated, never a pass."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

from gpuaccept import evidence as ev
from gpuaccept.checks import diag as checks
from gpuaccept.profile import load
from gpuaccept.sources.build import build_facts
from tests.conftest import HOSTS

PROFILE = load("dual-p40")


def judged(tmp_path: Path, change: Callable[[dict], None]):
    folder = tmp_path / "evidence"
    shutil.copytree(HOSTS / "dual-p40", folder)
    data = json.loads((folder / "diag.json").read_text())
    change(data)
    (folder / "diag.json").write_text(json.dumps(data))
    facts = build_facts(ev.Evidence.read(folder), mode="replay", source=str(folder))
    assert facts.diag is not None, facts.diag_missing
    return facts


def test_unchanged_record_passes(tmp_path):
    facts = judged(tmp_path, lambda d: None)
    for check in (checks.pcie_bandwidth, checks.pcie_replay, checks.gpu_memtest, checks.gpu_soak):
        assert {check(facts, i, PROFILE).outcome for i in (0, 1)} == {"pass"}, check
    assert checks.gpu_p2p(facts, PROFILE).outcome == "pass"


def test_a_sampler_that_stopped_mid_soak_is_not_evaluated(tmp_path):
    def stopped(d: dict) -> None:  # the soak runs 40..640 s; NVML answered only until 100 s
        d["samples"] = [s for s in d["samples"] if s["t"] < 100]
        d["sampler_error"] = "NVML failed: Unknown Error"
    facts = judged(tmp_path, stopped)
    verdict = checks.gpu_soak(facts, 0, PROFILE)
    assert verdict.outcome == "not_evaluated", verdict
    assert "do not cover the soak" in verdict.message and "Unknown Error" in verdict.message


def test_a_gpu_the_soak_did_not_load_is_not_evaluated(tmp_path):
    facts = judged(tmp_path, lambda d: d["soak"].update(gpus=[g for g in d["soak"]["gpus"] if g["index"] == 0]))
    assert checks.gpu_soak(facts, 0, PROFILE).outcome == "pass"
    verdict = checks.gpu_soak(facts, 1, PROFILE)
    assert verdict.outcome == "not_evaluated" and "no load on it" in verdict.message


def test_aer_read_after_the_tier_only_is_not_a_comparison(tmp_path):
    def after_only(d: dict) -> None:
        d["counters_before"]["aer"] = {"counts": {}, "missing": "reading the AER counters failed (exit 1)"}
        for gpu in d["counters_before"]["gpus"]:
            gpu.update(pcie_replay=None, unreported={"pcie_replay": "Not Supported"})
        for devices in d["counters_after"]["aer"]["counts"].values():
            for kinds in devices.values():
                kinds["correctable"] = 500
    facts = judged(tmp_path, after_only)
    verdict = checks.pcie_replay(facts, 1, PROFILE)
    assert verdict.outcome == "not_evaluated", verdict
    assert "AER counters (reading the AER counters failed" in verdict.message


def test_peer_copies_of_one_direction_only_are_not_evaluated(tmp_path):
    facts = judged(tmp_path, lambda d: d["p2p"].update(pairs=d["p2p"]["pairs"][:1]))
    verdict = checks.gpu_p2p(facts, PROFILE)
    assert verdict.outcome == "not_evaluated" and "no copy GPU1->GPU0" in verdict.message


def test_peer_copies_of_other_gpus_are_not_evaluated(tmp_path):
    def other(d: dict) -> None:
        d["p2p"]["pairs"] = [{**p, "a": p["a"] + 5, "b": p["b"] + 5} for p in d["p2p"]["pairs"]]
    verdict = checks.gpu_p2p(judged(tmp_path, other), PROFILE)
    assert verdict.outcome == "not_evaluated" and "GPU5->GPU6" in verdict.message


def test_a_gpu_left_out_of_the_record_leaves_p2p_not_evaluated(tmp_path):
    verdict = checks.gpu_p2p(judged(tmp_path, lambda d: d.update(gpus=d["gpus"][:1])), PROFILE)
    assert verdict.outcome == "not_evaluated" and "did not test GPU1" in verdict.message


def test_a_record_without_bus_ids_cannot_be_matched_to_the_cards(tmp_path):
    def blank(d: dict) -> None:
        for gpu in d["gpus"]:
            gpu["bus_id"] = ""
    facts = judged(tmp_path, blank)
    assert checks.pcie_bandwidth(facts, 0, PROFILE).outcome == "not_evaluated"
    assert checks.gpu_p2p(facts, PROFILE).outcome == "not_evaluated"


def test_copies_measured_with_other_settings_are_not_evaluated(tmp_path):
    def other(d: dict) -> None:
        d["settings"] = {**PROFILE.diag.evidence(), "copy_mib": 1, "soak_s": 30.0}
        for row in d["bandwidth"]["alone"]:
            row["h2d"]["gbps"] = 3.0
    facts = judged(tmp_path, other)
    verdict = checks.pcie_bandwidth(facts, 0, PROFILE)
    assert verdict.outcome == "not_evaluated", verdict
    assert "copy_mib 1 in diag.json, 256 in the profile" in verdict.message and "soak_s" not in verdict.message
    assert checks.gpu_memtest(facts, 0, PROFILE).outcome == "pass"


def test_a_soak_sampled_more_sparsely_than_the_profile_asks_is_not_evaluated(tmp_path):
    facts = judged(tmp_path, lambda d: d.update(settings={**PROFILE.diag.evidence(), "sample_hz": 0.1}))
    verdict = checks.gpu_soak(facts, 0, PROFILE)
    assert verdict.outcome == "not_evaluated" and "sample_hz" in verdict.message


def test_a_memory_test_of_more_than_was_free_is_not_evaluated(tmp_path):
    def more(d: dict) -> None:
        for m in d["memtest"]:
            m["tested_bytes"] = m["free_bytes"] * 5
    verdict = checks.gpu_memtest(judged(tmp_path, more), 0, PROFILE)
    assert verdict.outcome == "not_evaluated" and "contradictory" in verdict.message


def test_coverage_just_under_the_share_says_by_how_much(tmp_path):
    def under(d: dict) -> None:
        for m in d["memtest"]:
            m["tested_bytes"] = int(m["free_bytes"] * 0.8999)
    verdict = checks.gpu_memtest(judged(tmp_path, under), 0, PROFILE)
    assert verdict.outcome == "not_evaluated" and "89.99%, below the profile's 90.00%" in verdict.message



def test_a_soak_window_over_the_copies_is_contradictory(tmp_path):
    # The soak runs after the copies: a window that starts before they ended is a record that contradicts itself.
    def early(d: dict) -> None:
        d["soak"]["start_t"] = 0.0
    verdict = checks.gpu_soak(judged(tmp_path, early), 0, PROFILE)
    assert verdict.outcome == "not_evaluated" and "is not after the copies" in verdict.message, verdict
