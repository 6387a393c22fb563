"""GPU-XID by class, on real captures and the wordings NVIDIA's driver branches use (domain-facts §14):
a lost card is Xid 79 in every wording, SXid is NVSwitch's, "caused by previous Xid N" is judged as N, a
recovery action is named, an application Xid of Ollama's own runner fails, and each is counted per GPU.
In-process over the bundled dual-p40 set, whose kernel log reaches back to the driver's load."""

from __future__ import annotations

import pytest

from gpuaccept import profile as profiles
from gpuaccept.checks import cards
from gpuaccept.evidence import Evidence
from gpuaccept.sources.build import build_facts
from tests.conftest import CAPTURES, HOSTS

P40 = profiles.load("dual-p40")
LOST_REAL = (CAPTURES / "driver" / "dmesg-fallen-off-bus-10de-26b5-open-570.158.01.txt").read_text()


def judged(lines: str):
    evidence = Evidence.read(HOSTS / "dual-p40")
    evidence.files["dmesg.txt"] += lines
    facts = build_facts(evidence, mode="replay", source="test")
    return facts, cards.gpu_xid(facts, P40)


CASES = {
    "a lost card in the 570 open module's words (real capture)": (
        LOST_REAL, "fail", "Xid 79 ('fallen off the bus' notice) on 0000:b3:00.0 x1"),
    "GPU at <bus> has fallen off the bus": (
        "[ 900.1] NVRM: GPU at PCI:0000:03:00: has fallen off the bus.\n", "fail", "fell off the bus"),
    "GPU <bus>: GPU has fallen off the bus": (
        "[ 900.1] NVRM: GPU 0000:03:00.0: GPU has fallen off the bus.\n", "fail", "on 0000:03:00.0 x1"),
    "a notice beside its own Xid 79 line is one event": (
        "[ 900.1] NVRM: GPU 0000:03:00.0: GPU has fallen off the bus.\n"
        "[ 900.2] NVRM: Xid (PCI:0000:03:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.\n",
        "fail", "1 Xid event(s): Xid 79 on 0000:03:00 x1"),
    "an NVSwitch SXid is no GPU Xid": (
        "[ 900.1] nvidia-nvswitch0: SXid (PCI:0000:05:00.0): 20034, Fatal, Link 30 LTSSM Fault Up\n", "warn",
        "1 NVSwitch SXid event(s) (20034)"),
    "Xid 45 caused by a previous Xid 149 is judged as 149": (
        "[ 900.1] NVRM: Xid (PCI:0000:02:00): 45, pid=3011, name=python3, Ch 00000010, caused by previous Xid 149\n",
        "fail", "Xid 45 (caused by Xid 149)"),
    "Xid 154 names the recovery action": (
        "[ 900.1] NVRM: Xid (PCI:0000:02:00): 154, GPU recovery action changed from 0x0 (None) to 0x2 "
        "(Node Reboot Required)\n", "fail", "recovery action changed (NVML nvmlDeviceGpuRecoveryAction_t): Node Reboot Required"),
    "an MMU fault of Ollama's runner": (
        "[ 900.1] NVRM: Xid (PCI:0000:03:00): 31, pid=4242, name=ollama, Ch 00000008, intr 10000000. MMU Fault\n",
        "fail", "the model server under acceptance faulted on these cards: ollama pid 4242 (Xid 31)"),
    "an MMU fault of another program": (
        "[ 900.1] NVRM: Xid (PCI:0000:03:00): 31, pid=4242, name=python3, Ch 00000008, intr 10000000. MMU Fault\n",
        "warn", "usually not the card"),
    "one Xid on two GPUs, counted per GPU": (
        "[ 900.1] NVRM: Xid (PCI:0000:02:00): 48, pid=0, DBE\n[ 901.1] NVRM: Xid (PCI:0000:03:00): 48, pid=0, DBE\n"
        "[ 902.1] NVRM: Xid (PCI:0000:03:00): 48, pid=0, DBE\n", "fail", "Xid 48 on 0000:02:00 x1, 0000:03:00 x2"),
}


@pytest.mark.parametrize("lines, outcome, words", CASES.values(), ids=CASES.keys())
def test_gpu_xid_judges_each_class_as_nvidia_does(lines, outcome, words):
    _, verdict = judged(lines)
    assert (verdict.outcome, words in verdict.message) == (outcome, True), verdict.message


def test_a_lost_card_back_in_nvml_is_still_a_failure_and_the_count_names_it():
    """After a PCI rescan the card is back in NVML: GPU-COUNT passes, GPU-XID still fails on the notice."""
    facts, verdict = judged("[ 900.1] NVRM: GPU 0000:03:00.0: GPU has fallen off the bus.\n")
    assert cards.gpu_count(facts, P40).outcome == "pass" and verdict.outcome == "fail"
    assert "reseat the card and its 8-pin EPS power cable" in verdict.message
