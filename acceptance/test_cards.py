"""GPU-*: the cards are the expected model, all present, healthy and alike."""

import pytest

from gpuaccept.checks import cards


@pytest.mark.requirement("GPU-COUNT")
def test_gpu_count(host_facts, profile, judge):
    judge(cards.gpu_count(host_facts, profile))


@pytest.mark.requirement("GPU-PCI-COUNT")
def test_gpu_pci_count(host_facts, profile, judge):
    judge(cards.gpu_pci_count(host_facts, profile))


@pytest.mark.requirement("GPU-MODEL")
def test_gpu_model(host_facts, gpu_index, profile, judge):
    judge(cards.gpu_model(host_facts, gpu_index, profile))


@pytest.mark.requirement("GPU-IDENTICAL")
def test_gpu_identical(host_facts, profile, judge):
    judge(cards.gpu_identical(host_facts, profile))


@pytest.mark.requirement("GPU-MEMORY")
def test_gpu_memory(host_facts, gpu_index, profile, judge):
    judge(cards.gpu_memory(host_facts, gpu_index, profile))


@pytest.mark.requirement("GPU-PERSISTENCE")
def test_gpu_persistence(host_facts, gpu_index, profile, judge):
    judge(cards.gpu_persistence(host_facts, gpu_index, profile))


@pytest.mark.requirement("GPU-ECC")
def test_gpu_ecc(host_facts, gpu_index, profile, judge):
    judge(cards.gpu_ecc(host_facts, gpu_index, profile))


@pytest.mark.requirement("GPU-RETIRED")
def test_gpu_retired(host_facts, gpu_index, profile, judge):
    judge(cards.gpu_retired(host_facts, gpu_index, profile))


@pytest.mark.requirement("GPU-XID")
def test_gpu_xid(host_facts, profile, judge):
    judge(cards.gpu_xid(host_facts, profile))
