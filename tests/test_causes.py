"""Causes from evidence, never from a guess: where the evidence cannot show a cause (sources that
contradict each other, a source that hung or was cut), the message says so and names what happened.
In-process over the bundled sets."""

from __future__ import annotations

import json

from gpuaccept import evidence as ev
from gpuaccept import profile as profiles
from gpuaccept.checks import cards
from gpuaccept.evidence import Evidence
from gpuaccept.fleet.remote import NVML_REMOTE
from gpuaccept.sources.build import build_facts
from tests.conftest import HOSTS

P40 = profiles.load("dual-p40")


def test_gpu_count_names_no_card_cause_on_evidence_gpu_pci_count_calls_contradictory():
    evidence = Evidence.read(HOSTS / "dual-p40-one-missing-from-nvml")
    snap = json.loads(evidence.files[ev.NVML])
    snap["gpus"][0]["bus_id"] = "00000000:81:00.0"  # a card the PCI listing does not have
    evidence.files[ev.NVML] = json.dumps(snap)
    facts = build_facts(evidence, mode="replay", source="test")
    assert cards.gpu_pci_count(facts, P40).outcome == "unevaluated"
    count = cards.gpu_count(facts, P40)
    assert count.outcome == "fail" and "not known: the sources disagree" in count.message, count.message
    assert "RmInitAdapter" not in count.message and "initialise" not in count.message
    # The same set without the contradiction keeps the kernel's own cause.
    honest = cards.gpu_count(build_facts(Evidence.read(HOSTS / "dual-p40-one-missing-from-nvml"), mode="replay",
                                         source="test"), P40)
    assert honest.outcome == "fail" and "not known" not in honest.message


def test_a_remote_nvidia_smi_that_hung_is_named_not_hidden_behind_nvml():
    evidence = Evidence.read(HOSTS / "dual-p40")
    evidence.files.pop(ev.NVML)
    evidence.files.pop(ev.SMI_XML, None)
    evidence.absent = {**evidence.absent, ev.NVML: NVML_REMOTE,
                       ev.SMI_XML: "`nvidia-smi -q -x` did not finish within 20 s (nvidia-smi is missing or failed)"}
    verdict = cards.gpu_count(build_facts(evidence, mode="replay", source="test"), P40)
    assert verdict.outcome == "unevaluated"
    assert "`nvidia-smi -q -x` did not finish within 20 s" in verdict.message, verdict.message


def test_a_driver_that_ignores_pascal_is_named_not_blamed_on_the_bios():
    """A 595-branch driver says the P40 needs the 580 legacy branch and ignores it: GPU-COUNT and
    GPU-PCI-COUNT point at DRV-VERSION and the R580 branch, never at RmInitAdapter or Above 4G Decoding."""
    evidence = Evidence.read(HOSTS / "dual-p40-one-missing-from-nvml")
    evidence.files["dmesg.txt"] += (
        "[    4.300001] NVRM: The NVIDIA Tesla P40 GPU installed in this system is\n"
        "               NVRM:  supported through the NVIDIA 580.xx Legacy drivers. Please\n"
        "               NVRM:  visit http://www.nvidia.com/object/unix.html for more\n"
        "               NVRM:  information.  The 595.45.04 NVIDIA driver will ignore\n"
        "               NVRM:  this GPU.  Continuing probe...\n")
    facts = build_facts(evidence, mode="replay", source="test")
    for verdict in (cards.gpu_count(facts, P40), cards.gpu_pci_count(facts, P40)):
        assert verdict.outcome == "fail", verdict.message
        assert "supported through the NVIDIA 580.xx legacy branch (see DRV-VERSION)" in verdict.message
        assert "R580" in verdict.message and "Above 4G" not in verdict.message and "RmInitAdapter" not in verdict.message
