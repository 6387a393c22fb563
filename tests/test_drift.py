"""HOST-DRIFT: a host against its own earlier run (--baseline), figure by figure, both values named.

In-process: the comparison over figures of a bundled host with one edit each (what fails, warns, is not
compared, and why). Through the suite: a healthy replay, then a degraded copy of the same host replayed
with --baseline on the first run's folder; its replay compares the same figures again; a baseline of
another host or one edited since is refused in one line; latest-accepted finds the newest accepted live run.
"""

from __future__ import annotations

import copy
import json
import shutil

import pytest

from gpuaccept import drift, manifest
from gpuaccept.evidence import Evidence
from gpuaccept.sources.build import build_facts
from tests.conftest import HOSTS


@pytest.fixture(scope="module")
def healthy() -> dict:
    return drift.figures(build_facts(Evidence.read(HOSTS / "dual-p40"), mode="replay", source="x"), "qwen3:32b")


def edited(figures: dict, change) -> dict:
    now = copy.deepcopy(figures)
    change(now)
    return now


def _gpu1(key, value):
    return lambda f: f["gpus"][1].__setitem__(key, value)


def _bench(key, factor):
    return lambda f: f["benchmark"].__setitem__(key, f["benchmark"][key] * factor)


@pytest.mark.parametrize(("change", "fails", "warns"), [
    (lambda f: None, [], []),
    (_gpu1("serial", "0320317069999"), ["GPU1 (0000:03:00.0) serial changed: 0320317060551 then, 0320317069999 now"], []),
    (_gpu1("vbios", "86.02.39.00.01"), ["VBIOS changed: 86.02.23.00.00 then, 86.02.39.00.01 now"], []),
    (_gpu1("width", 8), ["GPU1 (0000:03:00.0) link width fell: x16 then, x8 now"], []),
    (_gpu1("gen_max", 1), ["link generation fell: Gen3 then, Gen1 now"], []),
    (_gpu1("retired_dbe", 2), ["double-bit retired pages grew: 0 then, 2 now"], []),
    (_gpu1("power_limit_w", 200.0), ["enforced power limit changed: 250 W then, 200 W now"], []),
    (_bench("tokens_per_s", 0.8), ["generation fell 20%: 10.9 tokens/s then, 8.72 tokens/s now"], []),
    (_bench("tokens_per_s", 0.95), [], []),  # within the profile's 10 %
    (_bench("load_s", 1.5), ["model load time rose 50%: 9.8 s then, 14.7 s now"], []),
    (lambda f: f.__setitem__("driver", "580.95.05"), [], ["driver changed: 580.159.03 then, 580.95.05 now"]),
    (lambda f: f.__setitem__("model_digest", "0" * 64), [], ["model digest changed"]),
])
def test_what_changed_is_named_with_both_values(healthy, change, fails, warns):
    found = drift.compare(healthy, edited(healthy, change), 10.0)
    assert len(found.fail) == len(fails) and all(any(f in line for line in found.fail) for f in fails), found.fail
    assert len(found.warn) == len(warns) and all(any(w in line for line in found.warn) for w in warns), found.warn
    assert found.compared > 20


def test_figures_measured_otherwise_are_not_compared_and_say_why(healthy):
    slower = edited(healthy, _bench("tokens_per_s", 0.5))
    slower["benchmark"]["settings"] = {**slower["benchmark"]["settings"], "num_ctx": 8192}
    found = drift.compare(healthy, slower, 10.0)
    assert found.fail == [] and "tokens/s and load time (the benchmark ran with other settings)" in found.not_compared
    cold = edited(healthy, lambda f: f["benchmark"].update(page_cache="dropped", load_s=60.0))
    found = drift.compare(healthy, cold, 10.0)
    assert found.fail == [] and "model load time (page cache warm then, dropped now)" in found.not_compared


def test_a_baseline_read_from_a_file_is_never_trusted_to_be_well_typed(healthy):
    hostile = {"gpus": [{"index": 1, "bus_id": "0000:03:00.0", "serial": 5, "width": float("nan"), "gen_max": True,
                         "power_limit_w": "250"}, "no"], "benchmark": {"settings": [], "tokens_per_s": 1e309},
               "diag": "x", "driver": ["580"]}
    found = drift.compare(hostile, healthy, 10.0)  # no exception: what is not a value of its kind is not compared
    assert found.fail == ["1 GPU(s) then, 2 now"] and found.warn == []
    assert "GPU1 (0000:03:00.0) serial (not reported in one run)" in found.not_compared
    assert "tokens/s and load time (the benchmark ran with other settings)" in found.not_compared
    assert found.compared == 1  # the number of cards: the one figure of its kind


def _degraded(tmp_path):
    folder = tmp_path / "degraded"
    shutil.copytree(HOSTS / "dual-p40", folder)
    nvml = json.loads((folder / "nvml.json").read_text())
    nvml["gpus"][1].update(pcie_width_current=8, serial="0320317069999")
    (folder / "nvml.json").write_text(json.dumps(nvml))
    bench = json.loads((folder / "benchmark.json").read_text())
    for run in bench["runs"]:
        run["eval_ns"] = int(run["eval_ns"] * 1.3)
        run["total_ns"] = int(run["total_ns"] * 1.3)
        run["end_t"] = run["start_t"] + (run["end_t"] - run["start_t"]) * 1.3
    (folder / "benchmark.json").write_text(json.dumps(bench))
    return folder


def test_a_degraded_copy_against_the_healthy_run_fails_naming_then_and_now(run_suite, tmp_path):
    first = run_suite("--replay", str(HOSTS / "dual-p40"), "-m", "quick")
    assert first.ret == 0 and first.outcomes()["HOST-DRIFT"] == {"skipped"}
    assert "no baseline: --baseline RUN" in first.messages("HOST-DRIFT")
    later = run_suite("--replay", str(_degraded(tmp_path)), "-m", "quick", "--baseline", str(first.run_dir))
    assert later.outcomes()["HOST-DRIFT"] == {"failed"}, later.stdout[-2000:]
    said = later.messages("HOST-DRIFT")
    assert f"since run {first.run_dir.name}" in said
    assert "GPU1 (0000:03:00.0) serial changed: 0320317060551 then, 0320317069999 now" in said
    assert "GPU1 (0000:03:00.0) link width fell: x16 then, x8 now" in said
    assert "generation fell 23%: 10.9 tokens/s then, 8.38 tokens/s now" in said
    assert "another card is in that slot" in said and "the link trains lower" in said
    record = json.loads((later.run_dir / "summary.json").read_text())
    assert record["requirements"]["HOST-DRIFT"]["action"] == "investigate"
    kept = json.loads((later.run_dir / "evidence" / "baseline.json").read_text())
    assert kept["folder"] == first.run_dir.name and kept["figures"]["gpus"][1]["width"] == 16
    again = run_suite("--replay", str(later.run_dir), "-m", "quick")  # its own baseline.json: the same verdict
    assert again.outcomes()["HOST-DRIFT"] == {"failed"} and again.messages("HOST-DRIFT") == said


def test_a_baseline_of_another_host_or_edited_since_is_refused_in_one_line(run_suite, tmp_path):
    other = run_suite("--replay", str(HOSTS / "dual-p40-x8-link"), "-m", "quick")
    refused = run_suite("--replay", str(HOSTS / "dual-p40"), "-m", "quick", "--baseline", str(other.run_dir))
    assert refused.ret == 4 and "is a run of dual-p40-x8-link, not of this host (dual-p40)" in refused.stderr
    assert "Traceback" not in refused.stderr + refused.stdout
    mine = run_suite("--replay", str(HOSTS / "dual-p40"), "-m", "quick")
    (mine.run_dir / "evidence" / "nvml.json").write_text("{}")
    refused = run_suite("--replay", str(HOSTS / "dual-p40"), "-m", "quick", "--baseline", str(mine.run_dir))
    assert refused.ret == 4 and "does not verify (evidence/nvml.json" in refused.stderr
    gone = run_suite("--replay", str(HOSTS / "dual-p40"), "-m", "quick", "--baseline", str(tmp_path / "nowhere"))
    assert gone.ret == 4 and "is not a folder" in gone.stderr


def test_latest_accepted_finds_the_newest_accepted_live_run_of_this_host(run_suite, tmp_path):
    none_yet = run_suite("--replay", str(HOSTS / "dual-p40"), "-m", "quick", "--baseline", "latest-accepted")
    assert none_yet.outcomes()["HOST-DRIFT"] == {"skipped"}
    assert "no accepted live run of dual-p40 under" in none_yet.messages("HOST-DRIFT")
    # The replay above is accepted but no live run: made one (and resealed), it is the baseline found.
    record = json.loads((none_yet.run_dir / "summary.json").read_text())
    record["run"]["mode"] = "live"
    (none_yet.run_dir / "summary.json").write_text(json.dumps(record))
    manifest.write(none_yet.run_dir)
    later = run_suite("--replay", str(_degraded(tmp_path)), "-m", "quick", "--baseline", "latest-accepted")
    assert later.outcomes()["HOST-DRIFT"] == {"failed"}
    assert f"since run {none_yet.run_dir.name}" in later.messages("HOST-DRIFT")


def test_no_card_compared_is_no_drift_judged(healthy):
    from gpuaccept.checks.drift import host_drift
    from gpuaccept.profile import load

    unknown = {**healthy, "gpus": None}  # NVML could not list the cards
    found = drift.compare(unknown, unknown, 10.0)
    assert found.cards == 0 and "the cards (NVML gave no inventory in either run)" in found.not_compared
    unpaired = drift.compare({**healthy, "gpus": [{}, {}]}, healthy, 10.0)
    assert unpaired.cards == 0 and sum("to pair it with" in line for line in unpaired.not_compared) == 4
    facts = build_facts(Evidence.read(HOSTS / "dual-p40"), mode="replay", source="x")
    import dataclasses

    record = {"folder": "earlier", "finished_at": "2026-12-01T00:00:00+00:00", "verdict": "ACCEPTED",
              "figures": {**healthy, "gpus": [{}, {}]}}
    verdict = host_drift(dataclasses.replace(facts, baseline=record, baseline_missing=None), load("dual-p40"))
    assert verdict.outcome == "not_evaluated" and "no card of run earlier" in verdict.message


@pytest.mark.parametrize("edit", [
    lambda f: f["gpus"][0].__setitem__("index", [0]),
    lambda f: f["gpus"][0].__setitem__("retired_sbe", 10**400),
    lambda f: f["diag"]["links"][0].__setitem__("index", {}) if "diag" in f else None,
    lambda f: f["gpus"][1].__setitem__("bus_id", ["0000:03:00.0"]),
])
def test_values_no_float_holds_or_no_key_can_be_are_not_compared_never_a_traceback(healthy, edit):
    found = drift.compare(edited(healthy, edit), healthy, 10.0)  # before the fix: TypeError, OverflowError
    assert found.fail == [] and found.cards > 0


def test_a_benchmark_stopped_as_too_slow_is_its_rate_by_the_wall_clock(run_suite, tmp_path):
    first = run_suite("--replay", str(HOSTS / "dual-p40"), "-m", "quick")
    slow = tmp_path / "slow"
    shutil.copytree(HOSTS / "dual-p40-too-slow", slow)
    meta = json.loads((slow / "host.json").read_text())
    (slow / "host.json").write_text(json.dumps({**meta, "hostname": "dual-p40"}))
    later = run_suite("--replay", str(slow), "-m", "quick", "--baseline", str(first.run_dir))
    said = later.messages("HOST-DRIFT")
    assert later.outcomes()["HOST-DRIFT"] == {"failed"} and "generation fell" in said and "10.9 tokens/s then" in said


def test_a_linked_baseline_is_refused_and_a_newer_acceptance_that_no_longer_verifies_is_named(run_suite, tmp_path):
    first = run_suite("--replay", str(HOSTS / "dual-p40"), "-m", "quick")
    link = tmp_path / "link"
    link.symlink_to(first.run_dir)
    refused = run_suite("--replay", str(HOSTS / "dual-p40"), "-m", "quick", "--baseline", str(link))
    assert refused.ret == 4 and "is a symbolic link" in refused.stderr
    for folder, when in ((first.run_dir, "2026-11-01T00:00:00+00:00"), (None, "2026-12-01T00:00:00+00:00")):
        if folder is None:
            folder = run_suite("--replay", str(HOSTS / "dual-p40"), "-m", "quick").run_dir
            newer = folder
        record = json.loads((folder / "summary.json").read_text())
        record["run"].update(mode="live", finished_at=when)
        (folder / "summary.json").write_text(json.dumps(record))
        manifest.write(folder)
    (newer / "evidence" / "dmesg.txt").write_text("edited after the run\n")
    later = run_suite("--replay", str(HOSTS / "dual-p40"), "-m", "quick", "--baseline", "latest-accepted")
    said = " ".join(c.properties.get("message", "") for c in later.cases if c.requirement == "HOST-DRIFT")
    assert later.outcomes()["HOST-DRIFT"] == {"passed"} and f"compared with run {first.run_dir.name}" in said
    assert f"Newer accepted runs of this host that do not verify, passed over: {newer.name}" in said
