"""HOST-DRIFT: the host as it is now against its own earlier run (--baseline)."""

import pytest

from gpuaccept.checks import drift


@pytest.mark.requirement("HOST-DRIFT")
def test_host_drift(host_facts, profile, judge):
    judge(drift.host_drift(host_facts, profile))
