"""FLEET-CONSISTENT: in a fleet run, each host against the other hosts of its profile."""

import pytest

from gpuaccept.checks import fleet


@pytest.mark.requirement("FLEET-CONSISTENT")
def test_fleet_consistent(host_facts, profile, judge):
    judge(fleet.fleet_consistent(host_facts, profile))
