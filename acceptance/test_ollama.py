"""OLL-API, OLL-GPUS-DETECTED, OLL-MODEL: Ollama answers, found every GPU on CUDA, has the model."""

import pytest

from gpuaccept.checks import ollama


@pytest.mark.requirement("OLL-API")
def test_oll_api(host_facts, profile, judge):
    judge(ollama.oll_api(host_facts, profile))


@pytest.mark.requirement("OLL-GPUS-DETECTED")
def test_oll_gpus_detected(host_facts, profile, judge):
    judge(ollama.oll_gpus_detected(host_facts, profile))


@pytest.mark.requirement("OLL-MODEL")
def test_oll_model(host_facts, profile, judge):
    judge(ollama.oll_model(host_facts, profile))
