"""PCIE-*: every card on a full-width link of its generation, with a large BAR1."""

import pytest

from gpuaccept.checks import pcie


@pytest.mark.requirement("PCIE-WIDTH")
def test_pcie_width(host_facts, gpu_index, profile, judge):
    judge(pcie.pcie_width(host_facts, gpu_index, profile))


@pytest.mark.requirement("PCIE-GEN")
def test_pcie_gen(host_facts, gpu_index, profile, judge):
    judge(pcie.pcie_gen(host_facts, gpu_index, profile))


@pytest.mark.requirement("PCIE-BAR1")
def test_pcie_bar1(host_facts, gpu_index, profile, judge):
    judge(pcie.pcie_bar1(host_facts, gpu_index, profile))


@pytest.mark.requirement("PCIE-ASPM")
def test_pcie_aspm(host_facts, gpu_index, profile, judge):
    judge(pcie.pcie_aspm(host_facts, gpu_index, profile))


@pytest.mark.requirement("PCIE-TOPO")
def test_pcie_topo(host_facts, profile, judge):
    judge(pcie.pcie_topo(host_facts, profile))
