"""The diag tier (-m diag): the cards under active tests, without Ollama (PCIe copies, link errors, memory, soak)."""

import pytest

from gpuaccept.checks import diag


@pytest.mark.requirement("PCIE-BANDWIDTH")
def test_pcie_bandwidth(host_facts, gpu_index, profile, judge):
    judge(diag.pcie_bandwidth(host_facts, gpu_index, profile))


@pytest.mark.requirement("PCIE-REPLAY")
def test_pcie_replay(host_facts, gpu_index, profile, judge):
    judge(diag.pcie_replay(host_facts, gpu_index, profile))


@pytest.mark.requirement("GPU-MEMTEST")
def test_gpu_memtest(host_facts, gpu_index, profile, judge):
    judge(diag.gpu_memtest(host_facts, gpu_index, profile))


@pytest.mark.requirement("GPU-SOAK")
def test_gpu_soak(host_facts, gpu_index, profile, judge):
    judge(diag.gpu_soak(host_facts, gpu_index, profile))


@pytest.mark.requirement("GPU-P2P")
def test_gpu_p2p(host_facts, profile, judge):
    judge(diag.gpu_p2p(host_facts, profile))
