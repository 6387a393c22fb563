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
    assert cards.gpu_pci_count(facts, P40).outcome == "not_evaluated"
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
    assert verdict.outcome == "not_evaluated"
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


def test_the_memory_an_older_branch_reports_advises_no_rma():
    """An ECC-on P40 reports 22919 MiB on R470: GPU-MEMORY points at DRV-VERSION, it does not fail the card."""
    evidence = Evidence.read(HOSTS / "dual-p40")
    snap = json.loads(evidence.files[ev.NVML])
    for gpu in snap["gpus"]:
        gpu["memory_total_mib"] = 22919
    evidence.files[ev.NVML] = json.dumps(snap)
    evidence.files.pop(ev.SMI_XML, None)  # the XML of the same run would say 23040: not this capture
    facts = build_facts(evidence, mode="replay", source="test")
    verdict = cards.gpu_memory(facts, 0, P40)
    assert verdict.outcome == "not_evaluated" and "R470 and R440" in verdict.message and "DRV-VERSION" in verdict.message
    snap["gpus"][0]["memory_total_mib"] = 22000  # no branch reports this: the card is short
    evidence.files[ev.NVML] = json.dumps(snap)
    short = cards.gpu_memory(build_facts(evidence, mode="replay", source="test"), 0, P40)
    assert short.outcome == "fail" and "RMA" in short.message


def _ollama_facts(edit):
    evidence = Evidence.read(HOSTS / "dual-p40")
    edit(evidence)
    return build_facts(evidence, mode="replay", source="test")


def test_a_card_of_the_same_compute_but_another_name_is_not_the_profiles():
    from gpuaccept.checks import ollama as ollama_checks

    def geforce(evidence):
        evidence.files["ollama-server.log"] = evidence.files["ollama-server.log"].replace(
            'description="Tesla P40"', 'description="NVIDIA GeForce GTX 1080 Ti"', 1)

    verdict = ollama_checks.oll_gpus_detected(_ollama_facts(geforce), P40)
    assert verdict.outcome == "fail" and "NVIDIA GeForce GTX 1080 Ti (compute 6.1) is not the profile's card" in verdict.message


def test_the_api_down_fix_fits_what_the_container_evidence_shows():
    from gpuaccept.checks import ollama as ollama_checks

    def down(items):
        def edit(evidence):
            evidence.files["ollama-version.json"] = json.dumps({"error": "no answer from http://127.0.0.1:11434/api/version: "
                                                                         "ConnectError: [Errno 111] Connection refused"})
            if items is not None:
                evidence.files["docker-inspect.json"] = json.dumps(items(json.loads(evidence.files["docker-inspect.json"])))
        return edit

    none = ollama_checks.oll_api(_ollama_facts(down(lambda _items: [])), P40)
    assert "there is no container named ollama" in none.message and "--remediate` launches it" in none.message
    assert "docker start" not in none.message

    def stopped(items):
        items[0]["State"].update(Status="exited", Running=False, Pid=0)
        return items

    assert "`docker start ollama`" in ollama_checks.oll_api(_ollama_facts(down(stopped)), P40).message
    running = ollama_checks.oll_api(_ollama_facts(down(None)), P40)
    assert "docker start" not in running.message and "publishes another port" in running.message
