"""OLL-API, OLL-GPUS-DETECTED, OLL-MODEL: Ollama answers, found every GPU on CUDA, has the model."""

import pytest

from gpuaccept.checks import ollama


@pytest.mark.requirement("OLL-API")
def test_ollama_api(host_facts, profile, judge):
    judge(ollama.api(host_facts, profile))


@pytest.mark.requirement("OLL-GPUS-DETECTED")
def test_ollama_gpus_detected(host_facts, profile, judge):
    judge(ollama.gpus_detected(host_facts, profile))


@pytest.mark.requirement("OLL-MODEL")
def test_ollama_model(host_facts, profile, judge):
    judge(ollama.model(host_facts, profile))
