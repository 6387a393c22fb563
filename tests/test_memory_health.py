"""GPU-XID by class and GPU-RETIRED (page retirement, ECC off, row remapping) over real captures."""

from __future__ import annotations

import dataclasses
import json

import pytest

from gpuaccept import profile as profiles
from gpuaccept.checks import cards
from gpuaccept.evidence import Evidence
from gpuaccept.sources.build import build_facts
from tests.conftest import CAPTURES, HOSTS

P40 = profiles.load("dual-p40")
H100 = profiles.load("single-h100")
REAL_XIDS = CAPTURES / "driver" / "dmesg-T-xid-43-31-94-driver-535.183.01.txt"  # a real node's NVRM lines


def facts_with(folder: str = "dual-p40", *, dmesg: str | None = None, gpu0: dict | None = None, drop=()):
    evidence = Evidence.read(HOSTS / folder)
    if dmesg is not None:  # after the set's own head (the driver's load), so the log covers this boot
        evidence.files["dmesg.txt"] = evidence.files["dmesg.txt"] + dmesg
    if gpu0 is not None:
        snap = json.loads(evidence.files["nvml.json"])
        snap["gpus"][0].update(gpu0)
        evidence.files["nvml.json"] = json.dumps(snap)
    for name in drop:
        evidence.files.pop(name)
    return build_facts(evidence, mode="replay", source="test")


def test_a_contained_ecc_error_among_application_xids_fails():
    verdict = cards.gpu_xid(facts_with(dmesg=REAL_XIDS.read_text()), P40)
    assert verdict.outcome == "fail"
    assert "Xid 94" in verdict.message and "contained ECC error" in verdict.message
    assert "python3.10 pid 2512125" in verdict.measured  # the process of the Xid 31 is named


def test_application_xids_alone_warn_with_the_process():
    text = "".join(line for line in REAL_XIDS.read_text().splitlines(keepends=True) if "): 94," not in line)
    verdict = cards.gpu_xid(facts_with(dmesg=text), P40)
    assert verdict.outcome == "warn"
    assert "Xid 43 on 0000:00:05 x2" in verdict.measured and "pt_main_thread pid 1045242" in verdict.measured
    assert "usually not the card" in verdict.message


def test_xid_63_is_left_to_gpu_retired_and_an_unknown_xid_fails():
    line = "[ 812.1] NVRM: Xid (PCI:0000:02:00): 63, pid='<unknown>', name=<unknown>, Row Remapper: New row marked\n"
    facts = facts_with(dmesg=line)
    assert cards.gpu_xid(facts, P40).outcome == "pass"
    # The kernel retired a page this boot, NVML counts none and none pending: the sources disagree.
    disagree = cards.gpu_retired(facts, 0, P40)
    assert disagree.outcome == "not_evaluated" and "Xid 63" in disagree.message
    agree = cards.gpu_retired(facts_with(dmesg=line, gpu0={"retired_pages_pending": True}), 0, P40)
    assert agree.outcome == "fail" and "Xid 63 logged 1 time(s)" in agree.measured
    unknown = cards.gpu_xid(facts_with(dmesg=line.replace("63,", "977,")), P40)
    assert unknown.outcome == "fail" and "not in the suite's catalogue" in unknown.message


@pytest.mark.parametrize(("values", "outcome", "words"), [
    ({}, "pass", "0 retired page(s)"),
    ({"retired_pages_sbe": 2}, "warn", "single-bit errors"),
    ({"retired_pages_dbe": 1}, "fail", "uncorrectable (double-bit)"),
    ({"retired_pages_pending": True}, "fail", "waiting to be retired"),
    ({"retired_pages_sbe": 63}, "fail", "page-retirement budget"),
    ({"ecc_enabled": False}, "warn", "ECC is off"),
    ({"ecc_enabled": False, "retired_pages_pending": True}, "fail", "waiting to be retired"),
])
def test_page_retirement_on_a_p40(values, outcome, words):
    verdict = cards.gpu_retired(facts_with(gpu0=values), 0, P40)
    assert (verdict.outcome, words in verdict.message) == (outcome, True), verdict.message


@pytest.mark.parametrize(("values", "outcome", "words"), [
    ({"remapped_rows_correctable": 0, "remapped_rows_uncorrectable": 0, "remapped_rows_pending": False,
      "remapped_rows_failure": False}, "pass", "0 remapped row(s)"),
    ({"remapped_rows_correctable": 1, "remapped_rows_uncorrectable": 0, "remapped_rows_pending": False,
      "remapped_rows_failure": False}, "warn", "rows were remapped"),
    ({"remapped_rows_correctable": 0, "remapped_rows_uncorrectable": 1, "remapped_rows_pending": True,
      "remapped_rows_failure": False}, "fail", "remap is pending"),
    ({"remapped_rows_correctable": 0, "remapped_rows_uncorrectable": 8, "remapped_rows_pending": False,
      "remapped_rows_failure": True}, "fail", "could not be remapped"),
])
def test_row_remapping_on_a_hopper(values, outcome, words):
    verdict = cards.gpu_retired(facts_with("h100-live", gpu0=values), 0, H100)
    assert (verdict.outcome, words in verdict.message) == (outcome, True), verdict.message


def test_an_older_snapshot_takes_remapped_rows_from_the_same_runs_xml_and_without_it_is_not_evaluated():
    with_xml = facts_with("h100-live")  # its nvml.json predates remapped rows; its XML has them (all zero)
    assert with_xml.gpus[0].remapped_rows_pending is False
    assert cards.gpu_retired(with_xml, 0, H100).outcome == "pass"
    alone = facts_with("h100-live", drop=("nvidia-smi-q.xml",))
    verdict = cards.gpu_retired(alone, 0, H100)
    assert verdict.outcome == "not_evaluated" and "older snapshot schema" in verdict.message


@pytest.mark.parametrize("field", ["retired_pages_sbe", "retired_pages_dbe", "ecc_uncorrected_aggregate"])
def test_a_counter_that_could_not_be_read_is_unknown_never_zero(field):
    facts = facts_with(gpu0={field: None, "unreported": {field: "NVML error UNKNOWN"}})
    check = cards.gpu_ecc if field.startswith("ecc") else cards.gpu_retired
    verdict = check(facts, 0, P40)
    assert verdict.outcome == "not_evaluated" and "NVML error UNKNOWN" in verdict.message


def test_a_p40_snapshot_records_remapped_rows_as_not_supported():
    gpu = facts_with().gpus[0]
    assert dataclasses.asdict(gpu)["remapped_rows_pending"] is None


def test_a_kernel_log_that_lost_the_boot_judges_no_xid_as_unknown():
    """A wrapped ring buffer: the real Xid capture alone, without the boot's start or the driver's load."""
    head = Evidence.read(HOSTS / "dual-p40").files["dmesg.txt"]
    quiet = "[ 9000.1] nvidia-uvm: Loaded the UVM driver, major device number 505.\n"

    def judged(log: str):
        evidence = Evidence.read(HOSTS / "dual-p40")
        evidence.files["dmesg.txt"] = log
        return cards.gpu_xid(build_facts(evidence, mode="replay", source="test"), P40)

    lost = judged(quiet)
    assert lost.outcome == "not_evaluated", lost.message
    assert "does not reach back to this boot (its first line is at [ 9000.1])" in lost.message
    assert judged(head + quiet).outcome == "pass"
    app = "[ 9001.2] NVRM: Xid (PCI:0000:02:00): 13, pid=2512, name=python3, Graphics Exception\n"
    assert judged(quiet + app).outcome == "not_evaluated" and "Xid 13" in judged(quiet + app).message
    hardware = "[ 9002.3] NVRM: Xid (PCI:0000:02:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.\n"
    assert judged(quiet + hardware).outcome == "fail"  # a fault in what is there is a fault, whatever is lost
    boot = "[    0.000000] Linux version 6.8.0-51-generic (buildd@lcy02-amd64-091) #52-Ubuntu SMP\n"
    assert judged(boot + quiet).outcome == "pass"


def test_a_driver_reload_late_in_the_boot_does_not_stand_for_the_boot():
    def judged(log: str):
        evidence = Evidence.read(HOSTS / "dual-p40")
        evidence.files["dmesg.txt"] = log
        return cards.gpu_xid(build_facts(evidence, mode="replay", source="test"), P40)

    reload = "[86001.2] NVRM: loading NVIDIA UNIX x86_64 Kernel Module  580.159.03  Tue Jun 17 16:30:06 UTC 2025\n"
    assert judged(reload).outcome == "not_evaluated"  # Xids before the reload, earlier in this boot, are lost
    caller = "[    0.000000] [    T0] Linux version 6.8.0-51-generic (buildd@lcy02-amd64-091) #52-Ubuntu SMP\n"
    assert judged(caller + reload).outcome == "pass"  # a kernel built with CONFIG_PRINTK_CALLER
