"""Two sources of one fact must agree: a disagreement never passes, and names both values.

The suite runs for real over copies of the bundled sets with one source changed; the check functions are
also called directly on facts built from the same evidence for the cases a replay cannot show (a live run).
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from gpuaccept import profile as profiles
from gpuaccept.checks import cards, container, driver, load, ollama, pcie
from gpuaccept.checks.agreement import same_model
from gpuaccept.evidence import Evidence
from gpuaccept.sources.build import build_facts
from tests.conftest import HOSTS

P40 = profiles.load("dual-p40")
H100 = profiles.load("single-h100")
LOAD = ("OLL-OFFLOAD", "OLL-SPREAD", "OLL-BALANCE", "OLL-THROUGHPUT", "OLL-LOAD-TIME", "GPU-THERMAL")
UUID0 = "GPU-bcb96e0b-81bf-9648-8611-af34ef926bae"
H100_UUID = "GPU-d57e7086-8fcb-4715-d711-4be2f086f29a"


def copy_of(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    shutil.copytree(HOSTS / name, folder)
    return folder


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))


def replace(path: Path, old: str, new: str, count: int = -1) -> None:
    text = path.read_text()
    assert old in text, (path.name, old)
    path.write_text(text.replace(old, new, count))


def facts(folder: Path, mode: str = "replay"):
    return build_facts(Evidence.read(folder), mode=mode, source=str(folder))


def verdicts(run, requirement: str) -> dict[str, str]:
    """test case name -> the verdict the suite recorded (pass, fail, not_evaluated, ...)."""
    return {c.name: c.properties.get("verdict", c.outcome) for c in run.cases if c.requirement == requirement}


def assert_incomplete(run) -> None:
    assert run.ret == 6, run.stdout[-3000:]
    assert "gpuaccept verdict of a REPLAY (saved evidence, NOT a live run): INCOMPLETE" in run.stdout
    assert "Traceback" not in run.stdout


def x8_in_lspci_only(folder: Path) -> None:
    # The second P40's link status says x8 in lspci; nvml.json still says x16.
    blocks = (folder / "lspci-vvv.txt").read_text().split("\n\n")
    assert "Width x16 (ok)" in blocks[1]
    blocks[1] = blocks[1].replace("Width x16 (ok)", "Width x8 (downgraded)")
    (folder / "lspci-vvv.txt").write_text("\n\n".join(blocks))


# --- PCI link: lspci vs NVML -------------------------------------------------------------------------

def test_lspci_x8_against_nvml_x16_is_not_evaluated_naming_both(run_suite, tmp_path):
    folder = copy_of(tmp_path, "dual-p40")
    x8_in_lspci_only(folder)
    run = run_suite("--replay", str(folder), "-m", "quick")
    assert verdicts(run, "PCIE-WIDTH") == {"test_pcie_width[gpu0]": "pass", "test_pcie_width[gpu1]": "not_evaluated"}
    message = run.messages("PCIE-WIDTH")
    assert "NVML x16, lspci-vvv.txt x8" in message and "0000:03:00.0" in message
    assert "stale or edited" in message
    assert_incomplete(run)


def test_a_live_run_whose_link_changes_between_reads_fails():
    host = facts(HOSTS / "dual-p40-x8-link", mode="live")
    # NVML read x16 where lspci, seconds later, read x8: the link retrained.
    gpus = tuple(dataclasses.replace(g, pcie_width_current=16) for g in host.gpus)
    verdict = pcie.pcie_width(dataclasses.replace(host, gpus=gpus), 1, P40)
    assert verdict.outcome == "fail"
    assert "NVML x16, lspci-vvv.txt x8" in verdict.message and "retrained" in verdict.message


def test_nvml_maximum_above_the_cards_own_capability_is_not_evaluated():
    host = facts(HOSTS / "dual-p40")
    gpus = tuple(dataclasses.replace(g, pcie_gen_max=4, pcie_width_max=32) for g in host.gpus)
    host = dataclasses.replace(host, gpus=gpus)
    gen = pcie.pcie_gen(host, 0, P40)
    assert gen.outcome == "not_evaluated" and "NVML Gen4" in gen.message and "Gen3 (8 GT/s)" in gen.message
    width = pcie.pcie_width(host, 0, P40)
    assert width.outcome == "not_evaluated" and "NVML x32" in width.message and "own x16" in width.message


def test_a_slot_limited_maximum_is_no_disagreement():
    # NVML's maximum is what card and slot allow together: below the card's LnkCap is the PCIE-GEN fault.
    host = facts(HOSTS / "dual-p40")
    gpus = tuple(dataclasses.replace(g, pcie_gen_max=2) for g in host.gpus)
    verdict = pcie.pcie_gen(dataclasses.replace(host, gpus=gpus), 0, P40)
    assert verdict.outcome == "fail" and "Gen2 max" in verdict.message


def test_an_nvml_gpu_missing_from_the_pci_listing_is_not_evaluated(tmp_path):
    folder = copy_of(tmp_path, "dual-p40")
    edit_json(folder / "nvml.json", lambda s: s["gpus"][1].update(bus_id="00000000:81:00.0"))
    replace(folder / "lspci-vvv.txt", "0000:03:00.0", "0000:04:00.0")
    verdict = cards.gpu_pci_count(facts(folder), P40)
    assert verdict.outcome == "not_evaluated"
    assert "GPU1 (0000:81:00.0)" in verdict.message and "0000:04:00.0" in verdict.message


# --- GPU identity: duplicates, nvml.json vs nvidia-smi -q -x -----------------------------------------

def test_two_gpus_with_one_uuid_are_not_evaluated(run_suite, tmp_path):
    folder = copy_of(tmp_path, "dual-p40")
    edit_json(folder / "nvml.json", lambda s: s["gpus"][1].update(uuid=UUID0))
    run = run_suite("--replay", str(folder), "-m", "quick")
    for rid in ("GPU-COUNT", "GPU-IDENTICAL", "CTR-SEES-GPUS"):
        assert set(verdicts(run, rid).values()) == {"not_evaluated"}, (rid, run.stdout[-3000:])
        assert f"GPU0 and GPU1 report the same UUID {UUID0}" in run.messages(rid)
    assert_incomplete(run)


def test_two_gpus_with_one_bus_id_are_not_evaluated():
    host = facts(HOSTS / "dual-p40")
    host = dataclasses.replace(host, gpus=(host.gpus[0], dataclasses.replace(host.gpus[1], bus_id="0000:02:00.0")))
    for verdict in (cards.gpu_count(host, P40), cards.gpu_identical(host, P40)):
        assert verdict.outcome == "not_evaluated"
        assert "GPU0 and GPU1 report the same bus id 0000:02:00.0" in verdict.message


def test_the_gpus_of_one_board_may_share_its_serial():
    # nvmlDeviceGetSerial is the board's serial: both GPUs of a K80 or all four of an A16 report one.
    host = facts(HOSTS / "dual-p40")
    host = dataclasses.replace(host, gpus=tuple(dataclasses.replace(g, serial="0320317060550") for g in host.gpus))
    assert cards.gpu_count(host, P40).outcome == "pass"


def test_xml_and_nvml_naming_other_gpus_is_not_evaluated(run_suite, tmp_path):
    folder = copy_of(tmp_path, "h100-live")
    other = "GPU-00000000-1111-2222-3333-444444444444"
    replace(folder / "nvidia-smi-q.xml", H100_UUID, other)
    run = run_suite("--replay", str(folder), "--profile", "single-h100", "-m", "quick")
    assert set(verdicts(run, "GPU-COUNT").values()) == {"not_evaluated"}, run.stdout[-3000:]
    message = run.messages("GPU-COUNT")
    assert f"nvml.json lists {H100_UUID}" in message and f"nvidia-smi-q.xml lists {other}" in message
    assert_incomplete(run)


def test_xml_and_nvml_driver_and_memory_disagreeing_are_not_evaluated(run_suite, tmp_path):
    folder = copy_of(tmp_path, "h100-live")
    replace(folder / "nvidia-smi-q.xml", "<driver_version>580.159.04</driver_version>",
            "<driver_version>575.57.08</driver_version>")
    replace(folder / "nvidia-smi-q.xml", "<total>81559 MiB</total>", "<total>40960 MiB</total>", 1)
    run = run_suite("--replay", str(folder), "--profile", "single-h100", "-m", "quick")
    assert set(verdicts(run, "DRV-VERSION").values()) == {"not_evaluated"}, run.stdout[-3000:]
    assert "nvml.json says driver 580.159.04, nvidia-smi-q.xml says driver 575.57.08" in run.messages("DRV-VERSION")
    assert set(verdicts(run, "GPU-MEMORY").values()) == {"not_evaluated"}
    assert "nvml.json says 81559 MiB, nvidia-smi-q.xml says 40960 MiB" in run.messages("GPU-MEMORY")
    assert verdicts(run, "GPU-COUNT") == {"test_gpu_count": "pass"}  # same UUIDs and bus ids
    assert_incomplete(run)


def test_a_damaged_xml_beside_nvml_is_not_evaluated(tmp_path):
    folder = copy_of(tmp_path, "h100-live")
    (folder / "nvidia-smi-q.xml").write_text("<nvidia_smi_log><gpu>")
    verdict = cards.gpu_count(facts(folder), H100)
    assert verdict.outcome == "not_evaluated" and "evidence unreadable: nvidia-smi-q.xml" in verdict.message


def test_the_bundled_live_capture_agrees_with_itself():
    host = facts(HOSTS / "h100-live")
    assert host.smi.gpus and host.smi.driver_version == host.driver.nvml_version
    assert cards.gpu_count(host, H100).outcome == "pass"
    assert driver.drv_version(host, H100).outcome == "pass"


def test_a_container_listing_one_uuid_twice_is_not_evaluated(tmp_path):
    folder = copy_of(tmp_path, "dual-p40")
    smi = (folder / "container-nvidia-smi-L.txt").read_text().splitlines()
    (folder / "container-nvidia-smi-L.txt").write_text("\n".join([*smi, smi[1].replace("GPU 1", "GPU 2")]) + "\n")
    verdict = container.ctr_sees_gpus(facts(folder), P40)
    assert verdict.outcome == "not_evaluated" and "more than once" in verdict.message
    assert smi[1].split("UUID: ")[1].rstrip(")") in verdict.message


# --- the benchmark is of the profile's model and settings --------------------------------------------

def test_a_benchmark_of_another_model_judges_nothing(run_suite, tmp_path):
    folder = copy_of(tmp_path, "dual-p40")
    (folder / "diag.json").unlink()  # its copies would judge PCIE-GEN's under-load half without the benchmark
    edit_json(folder / "benchmark.json", lambda b: b.update(model="llama3.1:8b"))
    run = run_suite("--replay", str(folder))
    for rid in (*LOAD, "PCIE-GEN"):
        assert set(verdicts(run, rid).values()) == {"not_evaluated"}, (rid, run.stdout[-3000:])
        assert "benchmark.json is of model 'llama3.1:8b', the profile's model is 'qwen3:32b'" in run.messages(rid)
    assert_incomplete(run)


def test_a_benchmark_with_other_settings_judges_nothing(tmp_path):
    folder = copy_of(tmp_path, "dual-p40")
    edit_json(folder / "benchmark.json", lambda b: b["settings"].update(num_ctx=32768))
    host = facts(folder)
    for verdict in (load.oll_offload(host, P40), load.oll_throughput(host, P40), load.gpu_thermal(host, 0, P40)):
        assert verdict.outcome == "not_evaluated"
        assert "num_ctx 32768 in benchmark.json, 4096 in the profile" in verdict.message


@pytest.mark.parametrize(("recorded", "wanted"), [("qwen3", "qwen3:latest"), ("qwen3:latest", "qwen3")])
def test_a_name_without_a_tag_is_the_latest_tag(recorded, wanted):
    assert same_model(recorded, wanted)
    assert not same_model("qwen3:32b", "qwen3")


# --- the Ollama version is a real release, and the log is of the same server ---------------------------

@pytest.mark.parametrize(("version", "why"), [
    ("", "not a version number"),
    ("latest", "not a version number"),
    ("<script>alert(1)</script>", "not a version number"),
    ("0.0.0", "a development build"),
    ("999.0", "not a plausible Ollama release"),
    ("1!0.6.6", "not a plausible Ollama release"),
])
def test_an_ollama_version_that_is_no_release_is_not_evaluated(tmp_path, version, why):
    folder = copy_of(tmp_path, "dual-p40")
    (folder / "ollama-version.json").write_text(json.dumps({"version": version}))
    verdict = ollama.oll_api(facts(folder), P40)
    assert verdict.outcome == "not_evaluated" and why in verdict.message and repr(version) in verdict.message


def test_a_made_up_version_in_a_replay_is_not_accepted(run_suite, tmp_path):
    folder = copy_of(tmp_path, "dual-p40")
    (folder / "ollama-version.json").write_text(json.dumps({"version": "latest"}))
    run = run_suite("--replay", str(folder), "-m", "quick")
    assert verdicts(run, "OLL-API") == {"test_oll_api": "not_evaluated"}, run.stdout[-3000:]
    assert "ollama-version.json version 'latest': not a version number" in run.messages("OLL-API")
    assert_incomplete(run)


def test_a_server_log_of_another_version_is_not_evaluated(run_suite, tmp_path):
    folder = copy_of(tmp_path, "dual-p40")
    (folder / "ollama-version.json").write_text(json.dumps({"version": "0.33.0"}))
    run = run_suite("--replay", str(folder), "-m", "quick")
    assert verdicts(run, "OLL-API") == {"test_oll_api": "not_evaluated"}, run.stdout[-3000:]
    words = "the API says Ollama '0.33.0', the server log (ollama-server.log) says '0.32.1'"
    assert words in run.messages("OLL-API")
    # The log's GPU discovery, healthy as it is, cannot pass for the server that answers now.
    assert verdicts(run, "OLL-GPUS-DETECTED") == {"test_oll_gpus_detected": "not_evaluated"}
    assert words in run.messages("OLL-GPUS-DETECTED")
    assert_incomplete(run)


def test_a_matching_release_still_passes():
    assert ollama.oll_api(facts(HOSTS / "dual-p40"), P40).outcome == "pass"


def test_a_container_listing_a_gpu_of_another_host_fails_naming_it(tmp_path):
    folder = copy_of(tmp_path, "dual-p40")
    foreign = "GPU-99999999-0000-0000-0000-000000000000"
    with open(folder / "container-nvidia-smi-L.txt", "a") as handle:
        handle.write(f"GPU 2: Tesla P40 (UUID: {foreign})\n")
    verdict = container.ctr_sees_gpus(facts(folder), P40)
    assert verdict.outcome == "fail" and f"not on this host: {foreign}" in verdict.message


def test_sysfs_width_against_nvml_is_not_evaluated(tmp_path):
    folder = copy_of(tmp_path, "h100-live")
    replace(folder / "sysfs-pci.txt", "current_link_width=16", "current_link_width=8")
    verdict = pcie.pcie_width(facts(folder), 0, H100)
    assert verdict.outcome == "not_evaluated" and "NVML x16, sysfs-pci.txt x8" in verdict.message


@pytest.mark.parametrize(("change", "words"), [
    (lambda b: b.update(model=7), "evidence unreadable: benchmark.json model is a number (7), expected a string"),
    (lambda b: b.update(settings=["num_ctx", 4096]), "evidence unreadable: benchmark.json settings is a list"),
])
def test_a_benchmark_record_of_the_wrong_shape_judges_nothing(tmp_path, change, words):
    folder = copy_of(tmp_path, "dual-p40")
    edit_json(folder / "benchmark.json", change)
    verdict = load.oll_spread(facts(folder), P40)
    assert verdict.outcome == "not_evaluated" and words in verdict.message


def test_a_gpu_in_nvml_that_lspci_shows_bound_to_vfio_is_not_evaluated():
    from gpuaccept import profile as _profiles
    from gpuaccept.checks import cards as _cards
    from gpuaccept.evidence import Evidence as _Evidence
    from gpuaccept.sources.build import build_facts as _build

    evidence = _Evidence.read(HOSTS / "dual-p40")
    text = evidence.files["lspci-vvv.txt"]
    head, sep, tail = text.rpartition("Kernel driver in use: nvidia")
    evidence.files["lspci-vvv.txt"] = head + "Kernel driver in use: vfio-pci" + tail
    verdict = _cards.gpu_pci_count(_build(evidence, mode="replay", source="test"), _profiles.load("dual-p40"))
    assert verdict.outcome == "not_evaluated" and "(vfio-pci)" in verdict.message
