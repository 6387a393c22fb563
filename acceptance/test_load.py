"""The load tier: the benchmark's model is fully on GPU, on every GPU, balanced, fast, right, and cool."""

import pytest

from gpuaccept.checks import answers, load


@pytest.mark.requirement("OLL-OFFLOAD")
def test_model_fully_offloaded(host_facts, profile, judge):
    judge(load.offload(host_facts, profile))


@pytest.mark.requirement("OLL-SPREAD")
def test_model_spread_over_every_gpu(host_facts, profile, judge):
    judge(load.spread(host_facts, profile))


@pytest.mark.requirement("OLL-BALANCE")
def test_model_balanced(host_facts, profile, judge):
    judge(load.balance(host_facts, profile))


@pytest.mark.requirement("OLL-THROUGHPUT")
def test_generation_throughput(host_facts, profile, judge):
    judge(load.throughput(host_facts, profile))


@pytest.mark.requirement("OLL-LOAD-TIME")
def test_model_load_time(host_facts, profile, judge):
    judge(load.load_time(host_facts, profile))


@pytest.mark.requirement("OLL-ANSWER")
def test_model_answers_correctly(host_facts, profile, judge):
    judge(answers.answer(host_facts, profile))


@pytest.mark.requirement("OLL-CONSISTENT")
def test_runs_give_identical_text(host_facts, profile, judge):
    judge(load.consistent(host_facts, profile))


@pytest.mark.requirement("GPU-THERMAL")
def test_gpu_thermal_under_load(host_facts, gpu_index, profile, judge):
    judge(load.thermal(host_facts, gpu_index, profile))
