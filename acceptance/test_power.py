"""PWR-*: the cards run at their default power limit, within the PSU's budget."""

import pytest

from gpuaccept.checks import power


@pytest.mark.requirement("PWR-LIMIT")
def test_pwr_limit(host_facts, gpu_index, profile, judge):
    judge(power.pwr_limit(host_facts, gpu_index, profile))


@pytest.mark.requirement("PWR-BUDGET")
def test_pwr_budget(host_facts, profile, judge):
    judge(power.pwr_budget(host_facts, profile))
