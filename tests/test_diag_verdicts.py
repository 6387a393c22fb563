"""The real suite's diag tier (-m diag), replayed on the bundled diag evidence and on damaged copies of it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from gpuaccept.catalogue import CATALOGUE
from tests.conftest import HOSTS, SuiteRun

DIAG = {rid for rid, r in CATALOGUE.items() if r.tier == "diag"}

# variant -> (the one requirement it fails, on GPU1 only; words its message must carry)
VARIANTS = {
    "dual-p40-diag-slow-link": ("PCIE-BANDWIDTH", ["alone 3.0 H2D / 3.3 D2H GB/s", "below the floor",
                                                   "the link ran at Gen1 x16 during the copies, below its Gen3 x16",
                                                   "reseat the card in a full x16 slot"]),
    "dual-p40-diag-replay-errors": ("PCIE-REPLAY", ["PCIe replay counter 0 -> 1486 (+1486)",
                                                    "AER correctable errors at the port above it (0000:00:03.0) 0 -> 213",
                                                    "signal integrity", "remove or replace the riser"]),
    "dual-p40-diag-memory-mismatch": ("GPU-MEMTEST", ["106 mismatching words", "first at 0x7f3b0068bd00 in walking ones",
                                                      "expected 0x00000400, read 0x00000000", "replace the card (RMA)"]),
    "dual-p40-diag-throttling": ("GPU-SOAK", ["peak 92 C", "throttled: HW slowdown, HW thermal slowdown",
                                              "below 87 C (slowdown 92 C - 5 C)", "raise the chassis airflow"]),
}


def test_every_diag_set_is_covered():
    assert {p.name for p in HOSTS.iterdir() if (p / "diag.json").exists()} == {"dual-p40", "h100-live-diag"} | set(VARIANTS)


def test_live_h100_capture_replays_to_its_live_verdicts(run_suite):
    # The real capture (210 s soak on an H100): copies at 55 GB/s, no link errors, 0 mismatches over 95 % of
    # free memory; the shortened soak is not evaluated and the run is INCOMPLETE, as it was live.
    run = run_suite("--replay", str(HOSTS / "h100-live-diag"), "--profile", "single-h100", "-m", "diag")
    verdicts = {c.requirement: c.properties.get("verdict") for c in run.cases}
    assert verdicts == {"PCIE-BANDWIDTH": "pass", "PCIE-REPLAY": "pass", "GPU-MEMTEST": "pass",
                        "GPU-SOAK": "not_evaluated", "GPU-P2P": "skip"}, run.stdout[-3000:]
    assert run.ret == 6
    measured = {c.requirement: c.properties.get("measured", "") for c in run.cases}
    assert "alone 55.3 H2D / 55.2 D2H GB/s" in measured["PCIE-BANDWIDTH"]
    assert "ran 210 s of the profile's 600 s" in run.messages("GPU-SOAK")
    assert "388 W of 700 W (55%)" in run.messages("GPU-SOAK")


def test_healthy_pair_passes_every_diag_requirement(run_suite):
    run = run_suite("--replay", str(HOSTS / "dual-p40"), "-m", "diag")
    # A diag-only run measures the cards; the acceptance needs the quick tier the profile requires too.
    assert run.ret == 6 and "-m left out the quick tier the profile requires" in run.stdout, run.stdout[-3000:]
    whole = run_suite("--replay", str(HOSTS / "dual-p40"), "-m", "quick or diag")
    assert whole.ret == 0, whole.stdout[-3000:]
    assert run.cases and {c.requirement for c in run.cases} == DIAG
    assert all(c.outcome == "passed" for c in run.cases), [(c.name, c.message) for c in run.cases]
    said = {c.name: c.properties.get("message", "") for c in run.cases}  # a pass's message is a property
    assert "GPU1 (0000:03:00.0) alone 11.8 H2D / 12.9 D2H GB/s" in said["test_pcie_bandwidth[gpu1]"]
    assert "600 s under load" in said["test_gpu_soak[gpu1]"] and "0 mismatches" in said["test_gpu_memtest[gpu1]"]


@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_diag_variant_fails_exactly_its_requirement(run_suite, name):
    rid, words = VARIANTS[name]
    run = run_suite("--replay", str(HOSTS / name), "-m", "diag")
    assert run.ret == 1, run.stdout[-3000:]
    assert {c.requirement for c in run.cases} == DIAG
    assert [c.name for c in run.cases if c.outcome != "passed"] == [f"{_test_of(run, rid)}[gpu1]"]
    message = run.messages(rid)
    assert "Likely cause:" in message and "Fix:" in message, message
    for word in words:
        assert word in message, (word, message)
    assert "Traceback" not in run.stdout + run.stderr


def _test_of(run: SuiteRun, rid: str) -> str:
    return next(c.name for c in run.cases if c.requirement == rid).split("[")[0]


def test_slow_link_also_fails_the_link_generation(run_suite):
    run = run_suite("--replay", str(HOSTS / "dual-p40-diag-slow-link"), "-m", "quick or diag")
    assert run.failing() == {"PCIE-BANDWIDTH", "PCIE-GEN"} and run.ret == 1, run.stdout[-3000:]
    assert {c.name for c in run.cases if c.outcome == "failed"} == {"test_pcie_gen[gpu1]",
                                                                  "test_pcie_bandwidth[gpu1]"}
    # The benchmark saw Gen3, the copies Gen1: a link that trains up for one load only is not healthy.
    assert "Gen3 under load (the benchmark), Gen1 under load (the diag copies)" in run.messages("PCIE-GEN")


def test_a_bare_replay_leaves_the_diag_tier_out(run_suite):
    run = run_suite("--replay", str(HOSTS / "dual-p40"))
    assert run.ret == 0 and run.cases and not {c.requirement for c in run.cases} & DIAG
    assert "deselected" in run.stdout


# --- diag.json as untrusted input: never a pass, never a traceback -----------------------------------------


def _damaged(tmp_path: Path, change: Callable[[str], str]) -> Path:
    folder = tmp_path / "evidence-copy"
    shutil.copytree(HOSTS / "dual-p40", folder)
    text = (folder / "diag.json").read_text()
    changed = change(text)
    assert changed != text
    (folder / "diag.json").write_text(changed)
    return folder


def _edited(change: Callable[[dict], None]) -> Callable[[str], str]:
    def apply(text: str) -> str:
        data = json.loads(text)
        change(data)
        return json.dumps(data)
    return apply


def _assert_not_evaluated(run: SuiteRun, required: set[str], words: list[str]) -> None:
    output = run.stdout + run.stderr
    assert "Traceback" not in output and "INTERNALERROR" not in output, output[-3000:]
    assert run.ret not in (0, 1, 3), output[-3000:]
    assert not run.failing() and {c.requirement for c in run.cases} == DIAG
    for rid in required:
        cases = [c for c in run.cases if c.requirement == rid]
        assert cases and all(c.outcome == "skipped" and c.properties.get("verdict") == "not_evaluated"
                             and c.message.startswith("Not evaluated") for c in cases), (rid, cases)
        for word in words:
            assert word in run.messages(rid), (rid, word, run.messages(rid))


def _first(old: str, new: str) -> Callable[[str], str]:
    return lambda text: text.replace(old, new, 1)


@pytest.mark.parametrize(("change", "words"), [
    (_first('"gbps": 11.8', '"gbps": NaN'), ["diag.json", "NaN"]),
    (_first('"gbps": 11.8', '"gbps": Infinity'), ["diag.json", "is Infinity"]),
    (_first('"gbps": 11.8', '"gbps": "11.8"'), ["diag.json", "a string"]),
    (_first('"gbps": 11.8', '"gbps": -11.8'), ["diag.json", "outside the plausible range"]),
    (_first('"gbps": 11.8', '"gbps": 1e9'), ["diag.json", "outside the plausible range"]),
    (_edited(lambda d: d.update(samples={"t": 0})), ["diag.json", "expected a list"]),
    (_edited(lambda d: d["soak"].update(start_t="soon")), ["diag.json", "soak.start_t"]),
    (_first('"pcie_replay": 0', '"pcie_replay": 9, "pcie_replay": 0'), ["diag.json", "holds the key 'pcie_replay' twice"]),
], ids=["nan", "infinity", "string", "negative", "absurd", "samples-object", "soak-start-string", "duplicate-key"])
def test_damaged_diag_record_is_not_evaluated(run_suite, tmp_path, change, words):
    run = run_suite("--replay", str(_damaged(tmp_path, change)), "-m", "diag")
    _assert_not_evaluated(run, DIAG, words)


def test_a_record_of_other_cards_is_not_evaluated(run_suite, tmp_path):
    def other_cards(data: dict) -> None:
        for gpu, bus in zip(data["gpus"], ("0000:81:00.0", "0000:82:00.0"), strict=True):
            gpu["bus_id"] = bus
    folder = _damaged(tmp_path, _edited(other_cards))
    run = run_suite("--replay", str(folder), "-m", "diag")
    _assert_not_evaluated(run, DIAG, ["0000:8", "other cards"])
    # Nor do its link samples judge PCIE-GEN: that rests on the benchmark alone.
    quick = run_suite("--replay", str(folder), "-m", "quick")
    assert "diag copies" not in quick.messages("PCIE-GEN") and quick.outcomes()["PCIE-GEN"] == {"passed"}


def test_counters_that_go_back_are_not_evaluated(run_suite, tmp_path):
    def reloaded(data: dict) -> None:  # the driver reloaded mid-tier: its counters restarted
        for gpu in data["counters_before"]["gpus"]:
            gpu.update(pcie_replay=12, ecc_corrected=3)
    run = run_suite("--replay", str(_damaged(tmp_path, _edited(reloaded))), "-m", "diag")
    _assert_not_evaluated(run, {"PCIE-REPLAY", "GPU-MEMTEST"}, ["went", "reloaded"])
    assert run.outcomes()["PCIE-BANDWIDTH"] == {"passed"}


def test_aer_counts_that_go_back_are_not_evaluated(run_suite, tmp_path):
    def reset(data: dict) -> None:
        for devices in data["counters_before"]["aer"]["counts"].values():
            for kinds in devices.values():
                kinds["correctable"] = 40
    run = run_suite("--replay", str(_damaged(tmp_path, _edited(reset))), "-m", "diag")
    _assert_not_evaluated(run, {"PCIE-REPLAY"}, ["AER correctable count", "went from 40 to 0"])


# --- the bundled diag records are the generator's ----------------------------------------------------------


def test_make_diag_reproduces_the_committed_sets(tmp_path, monkeypatch):
    from fixtures.hosts import make_diag

    shutil.copytree(HOSTS / "dual-p40", tmp_path / "dual-p40")
    monkeypatch.setattr(make_diag, "HERE", tmp_path)
    monkeypatch.setattr(make_diag, "BASE", tmp_path / "dual-p40")
    make_diag.main()
    for name in ("dual-p40", *VARIANTS):
        made = sorted(p.name for p in (tmp_path / name).iterdir())
        assert made == sorted(p.name for p in (HOSTS / name).iterdir()), name
        for file in made:
            assert (tmp_path / name / file).read_bytes() == (HOSTS / name / file).read_bytes(), (
                f"{name}/{file} differs from what python -m fixtures.hosts.make_diag writes: rerun it")


def test_make_variants_copies_carry_no_diag_record(tmp_path):
    from fixtures.hosts import make_diag

    shutil.copytree(HOSTS / "dual-p40", tmp_path / "copy")
    make_diag.strip(tmp_path / "copy")
    meta = json.loads((tmp_path / "copy" / "host.json").read_text())
    meta.update(hostname="dual-p40-x8-link", variant_of="dual-p40")
    assert not (tmp_path / "copy" / "diag.json").exists()
    assert meta == json.loads((HOSTS / "dual-p40-x8-link" / "host.json").read_text())
