"""The load tier: the benchmark's model is fully on GPU, on every GPU, balanced, fast, right, and cool."""

import pytest

from gpuaccept.checks import answers, load


@pytest.mark.requirement("OLL-OFFLOAD")
def test_oll_offload(host_facts, profile, judge):
    judge(load.oll_offload(host_facts, profile))


@pytest.mark.requirement("OLL-SPREAD")
def test_oll_spread(host_facts, profile, judge):
    judge(load.oll_spread(host_facts, profile))


@pytest.mark.requirement("OLL-BALANCE")
def test_oll_balance(host_facts, profile, judge):
    judge(load.oll_balance(host_facts, profile))


@pytest.mark.requirement("OLL-THROUGHPUT")
def test_oll_throughput(host_facts, profile, judge):
    judge(load.oll_throughput(host_facts, profile))


@pytest.mark.requirement("OLL-LOAD-TIME")
def test_oll_load_time(host_facts, profile, judge):
    judge(load.oll_load_time(host_facts, profile))


@pytest.mark.requirement("OLL-ANSWER")
def test_oll_answer(host_facts, profile, judge):
    judge(answers.oll_answer(host_facts, profile))


@pytest.mark.requirement("OLL-CONSISTENT")
def test_oll_consistent(host_facts, profile, judge):
    judge(load.oll_consistent(host_facts, profile))


@pytest.mark.requirement("GPU-THERMAL")
def test_gpu_thermal(host_facts, gpu_index, profile, judge):
    judge(load.gpu_thermal(host_facts, gpu_index, profile))
