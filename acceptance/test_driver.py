"""DRV-*: a supported driver, loaded as one consistent version, of the right flavour."""

import pytest

from gpuaccept.checks import driver


@pytest.mark.requirement("DRV-VERSION")
def test_drv_version(host_facts, profile, judge):
    judge(driver.drv_version(host_facts, profile))


@pytest.mark.requirement("DRV-KMOD-MATCH")
def test_drv_kmod_match(host_facts, profile, judge):
    judge(driver.drv_kmod_match(host_facts, profile))


@pytest.mark.requirement("DRV-KMOD-FLAVOR")
def test_drv_kmod_flavor(host_facts, profile, judge):
    judge(driver.drv_kmod_flavor(host_facts, profile))


@pytest.mark.requirement("DRV-NOUVEAU")
def test_drv_nouveau(host_facts, profile, judge):
    judge(driver.drv_nouveau(host_facts, profile))
