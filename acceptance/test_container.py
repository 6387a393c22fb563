"""CTR-*: the Ollama container sees both GPUs, is configured as Ollama reads it, and is not exposed."""

import pytest

from gpuaccept.checks import container


@pytest.mark.requirement("CTR-ENGINE")
def test_ctr_engine(host_facts, profile, judge):
    judge(container.ctr_engine(host_facts, profile))


@pytest.mark.requirement("CTR-TOOLKIT")
def test_ctr_toolkit(host_facts, profile, judge):
    judge(container.ctr_toolkit(host_facts, profile))


@pytest.mark.requirement("CTR-RUNNING")
def test_ctr_running(host_facts, profile, judge):
    judge(container.ctr_running(host_facts, profile))


@pytest.mark.requirement("CTR-GPU-REQUEST")
def test_ctr_gpu_request(host_facts, profile, judge):
    judge(container.ctr_gpu_request(host_facts, profile))


@pytest.mark.requirement("CTR-SEES-GPUS")
def test_ctr_sees_gpus(host_facts, profile, judge):
    judge(container.ctr_sees_gpus(host_facts, profile))


@pytest.mark.requirement("CTR-CONFIG")
def test_ctr_config(host_facts, profile, judge):
    judge(container.ctr_config(host_facts, profile))


@pytest.mark.requirement("CTR-EXPOSURE")
def test_ctr_exposure(host_facts, profile, judge):
    judge(container.ctr_exposure(host_facts, profile))
