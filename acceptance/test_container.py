"""CTR-*: the Ollama container sees both GPUs, is configured as Ollama reads it, and is not exposed."""

import pytest

from gpuaccept.checks import container


@pytest.mark.requirement("CTR-ENGINE")
def test_docker_engine(host_facts, profile, judge):
    judge(container.engine(host_facts, profile))


@pytest.mark.requirement("CTR-TOOLKIT")
def test_container_toolkit(host_facts, profile, judge):
    judge(container.toolkit(host_facts, profile))


@pytest.mark.requirement("CTR-RUNNING")
def test_container_running(host_facts, profile, judge):
    judge(container.running(host_facts, profile))


@pytest.mark.requirement("CTR-GPU-REQUEST")
def test_container_gpu_request(host_facts, profile, judge):
    judge(container.gpu_request(host_facts, profile))


@pytest.mark.requirement("CTR-SEES-GPUS")
def test_container_sees_gpus(host_facts, profile, judge):
    judge(container.sees_gpus(host_facts, profile))


@pytest.mark.requirement("CTR-CONFIG")
def test_container_config(host_facts, profile, judge):
    judge(container.config(host_facts, profile))


@pytest.mark.requirement("CTR-EXPOSURE")
def test_container_exposure(host_facts, profile, judge):
    judge(container.exposure(host_facts, profile))
