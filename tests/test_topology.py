"""PCIE-TOPO passes only on a path for every pair of the inventory's GPUs, reported by a source the others
do not contradict: a table of (evidence edit -> outcome, message words) over the bundled dual-p40 set,
judged in-process on build_facts."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from gpuaccept import profile as profiles
from gpuaccept.checks import pcie
from gpuaccept.evidence import Evidence
from gpuaccept.sources.build import build_facts
from tests.conftest import HOSTS

P40 = profiles.load("dual-p40")
TOPO = "nvidia-smi-topo.txt"
MATRIX = (HOSTS / "dual-p40" / TOPO).read_text()
EIGHT = ("\tGPU0\tGPU1\tGPU2\tGPU3\tGPU4\tGPU5\tGPU6\tGPU7\tCPU Affinity\n"
         + "".join(f"GPU{i}\t" + "\t".join("X" if i == j else "SYS" for j in range(8)) + "\t0-23\n" for i in range(8)))


def _nvml(change):
    def edit(folder: Path) -> None:
        path = folder / "nvml.json"
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data))
    return edit


def _matrix(text: str | None):
    def edit(folder: Path) -> None:
        if text is None:
            (folder / TOPO).unlink()
        else:
            (folder / TOPO).write_text(text)
    return edit


def _unsupported_pair(data) -> None:
    data["topology"] = []
    data.setdefault("unreported", {})["topology 0-1"] = "not supported by this GPU or driver (NVML NOT_SUPPORTED)"


def _nvlink_cards(data) -> None:
    for gpu in data["gpus"]:
        gpu["nvlink_active"] = 2


CASES = {
    "the bundled set": ([], (), "pass", "GPU0-GPU1 PHB"),
    "NVML NOT_SUPPORTED for the pair, no matrix": (
        [_nvml(_unsupported_pair), _matrix(None)], (), "not_evaluated",
        "no source reports the path of 1 of 1 GPU pair(s): GPU0-GPU1 (NVML: not supported"),
    "NVML NOT_SUPPORTED for the pair, the matrix covers it": (
        [_nvml(_unsupported_pair)], (), "pass", "GPU0-GPU1 PHB"),
    "an empty NVML topology and a matrix without rows": (
        [_nvml(lambda d: d.update(topology=[])), _matrix("\tGPU0\tGPU1\tCPU Affinity\n")], ("PHB",),
        "not_evaluated", "GPU0-GPU1 (NVML: not in the snapshot"),
    "the matrix says SYS where NVML says PHB": (
        [_matrix(MATRIX.replace("PHB", "SYS"))], (), "not_evaluated", "GPU0-GPU1: NVML says PHB, nvidia-smi-topo.txt says SYS"),
    "NV1 between two P40s": (
        [_matrix(MATRIX.replace("PHB", "NV1"))], (), "not_evaluated",
        "says GPU0-GPU1 NV1 (NVLink), but NVML reports no NVLink on GPU0 and GPU1"),
    "a matrix of eight GPUs on a two-GPU host": (
        [_matrix(EIGHT)], (), "not_evaluated", "names GPU2, GPU3, GPU4, GPU5, GPU6, GPU7, which the inventory lacks"),
    "a matrix whose header lost its leading blank": (
        [_nvml(lambda d: d.update(topology=[])), _matrix(MATRIX.lstrip())], ("PHB",), "pass", "GPU0-GPU1 PHB"),
    "the matrix's two halves disagree": (
        [_matrix(MATRIX.replace("GPU1    PHB", "GPU1    SYS"))], (), "not_evaluated",
        "GPU0-GPU1 is PHB in GPU0's row but SYS in GPU1's"),
    "a GPU's row given twice": ([_matrix(MATRIX + "GPU0     X      SYS     0-11            N/A\n")], (), "not_evaluated",
                                "the row of GPU0 appears twice"),
    "an unknown cell": ([_matrix(MATRIX.replace("X      PHB", "X      ??"))], (), "not_evaluated", "no relation"),
    "NVML names the pair twice, in both orders, with two paths": (
        [_nvml(lambda d: d.update(topology=[{"a": 0, "b": 1, "relation": "PHB"}, {"a": 1, "b": 0, "relation": "SYS"}])),
         _matrix("\tGPU0\tGPU1\tCPU Affinity\n")], ("PHB",), "not_evaluated", "NVML names two paths, PHB and SYS"),
    "NVML names the pair the other way round": (
        [_nvml(lambda d: d.update(topology=[{"a": 1, "b": 0, "relation": "PHB"}])),
         _matrix("\tGPU0\tGPU1\tCPU Affinity\n")], ("PHB",), "pass", "GPU0-GPU1 PHB"),
    "an enforcing profile the path does not meet": ([], ("PIX",), "fail", "GPU paths: GPU0-GPU1 PHB"),
    "NVLink cards with NV2 and a profile asking NV#": (
        [_nvml(_nvlink_cards), _matrix(MATRIX.replace("PHB", "NV2"))], ("NV#",), "pass", "GPU0-GPU1 NV2"),
}


@pytest.mark.parametrize("edits, allowed, outcome, words", CASES.values(), ids=CASES.keys())
def test_pcie_topo_covers_every_pair_or_says_which_it_lacks(tmp_path, edits, allowed, outcome, words):
    folder = tmp_path / "host"
    shutil.copytree(HOSTS / "dual-p40", folder)
    for edit in edits:
        edit(folder)
    profile = dataclasses.replace(P40, pcie=dataclasses.replace(P40.pcie, topology=list(allowed)))
    verdict = pcie.pcie_topo(build_facts(Evidence.read(folder), mode="replay", source=str(folder)), profile)
    assert (verdict.outcome, words in verdict.message) == (outcome, True), verdict.message
