"""FLEET-CONSISTENT's comparison, in-process: who is the odd host out, with its value and the fleet's."""

from __future__ import annotations

import copy

import pytest

from gpuaccept import drift
from gpuaccept.evidence import Evidence
from gpuaccept.fleet.consistency import compare
from gpuaccept.sources.build import build_facts
from tests.conftest import HOSTS


@pytest.fixture(scope="module")
def p40() -> dict:
    return drift.figures(build_facts(Evidence.read(HOSTS / "dual-p40"), mode="live", source="x"), "qwen3:32b")


def fleet(p40: dict, **odd) -> dict:
    """Five hosts with p40's figures; ``odd`` maps a host to an edit of its figures."""
    hosts = {f"h{i}": copy.deepcopy(p40) for i in range(5)}
    for host, change in odd.items():
        change(hosts[host])
    return hosts


def rate(value):
    return lambda f: f["benchmark"].__setitem__("tokens_per_s", value)


def test_the_odd_driver_is_named_and_the_agreeing_hosts_pass(p40):
    hosts = fleet(p40, h3=lambda f: f.update(driver="580.65.06"))
    assert compare("h3", hosts, 3.5, 5).odd == ["driver 580.65.06, where 4 of 5 hosts have 580.159.03"]
    assert compare("h0", hosts, 3.5, 5).odd == []
    assert "driver" in compare("h0", hosts, 3.5, 5).compared


def test_a_tie_names_every_host_that_differs(p40):
    hosts = {h: f for h, f in fleet(p40, h0=lambda f: f.update(image="ollama/ollama:0.31.0")).items()
             if h in ("h0", "h1")}
    assert compare("h0", hosts, 3.5, 5).odd == [
        "container image ollama/ollama:0.31.0, the hosts disagree with no value most of them share: also "
        "localhost/ollama-standin:0.32.1 (1)"]
    assert compare("h1", hosts, 3.5, 5).odd != []


def test_a_slow_host_is_an_outlier_by_the_median_absolute_deviation(p40):
    hosts = fleet(p40, h0=rate(10.0), h1=rate(10.2), h2=rate(9.9), h3=rate(10.1), h4=rate(8.2))
    (said,) = compare("h4", hosts, 3.5, 5).odd
    assert said.startswith("generation tokens/s 8.2, 18% below the fleet's median of 10 over 5 hosts (median absolute deviation 0.1)")
    assert compare("h2", hosts, 3.5, 5).odd == []  # 1 % below: within both limits
    near = fleet(p40, h0=rate(10.0), h1=rate(10.0), h2=rate(10.0), h3=rate(10.0), h4=rate(9.7))
    assert compare("h4", near, 3.5, 5).odd == []  # MAD 0, but only 3 % below the median: no outlier


def test_two_hosts_tell_no_outlier_and_a_lone_host_has_no_peers(p40):
    two = {h: f for h, f in fleet(p40, h1=rate(5.0)).items() if h in ("h0", "h1")}
    assert compare("h1", two, 3.5, 5).odd == []
    assert compare("h0", {"h0": p40}, 3.5, 5).peers == 0


def test_figures_from_a_file_are_checked_before_use(p40):
    hostile = {"h0": p40, "h1": {"driver": 580, "gpus": "no", "benchmark": {"tokens_per_s": float("nan")}},
               "h2": "not figures", "h3": copy.deepcopy(p40)}
    found = compare("h0", hostile, 3.5, 5)
    assert found.odd == [] and found.peers == 2


def test_a_median_of_no_rate_is_no_comparison(p40):
    hosts = fleet(p40, h0=rate(-1.0), h1=rate(0.0), h2=rate(0.0))
    assert "generation tokens/s" not in compare("h0", {h: hosts[h] for h in ("h0", "h1", "h2")}, 3.5, 5).compared


def test_this_host_is_judged_on_its_own_evidence_never_on_the_files_word(p40):
    import dataclasses

    from gpuaccept.checks.fleet import fleet_consistent
    from gpuaccept.profile import load

    odd = build_facts(Evidence.read(HOSTS / "dual-p40-driver-535"), mode="live", source="h1")
    record = {"host": "h1", "profile": "dual-p40", "hosts": {"h1": p40, "h2": p40, "h3": p40}}  # h1's entry lies
    verdict = fleet_consistent(dataclasses.replace(odd, fleet_peers=record, fleet_peers_missing=None), load("dual-p40"))
    assert verdict.outcome == "not_evaluated" and "contradict its evidence on driver, kernel module" in verdict.message
    mine = drift.figures(odd, "qwen3:32b")
    honest = {"host": "h1", "profile": "dual-p40", "hosts": {"h1": mine, "h2": p40, "h3": p40}}
    verdict = fleet_consistent(dataclasses.replace(odd, fleet_peers=honest, fleet_peers_missing=None), load("dual-p40"))
    assert verdict.outcome == "fail" and "driver 535.309.01, where 2 of 3 hosts have 580.159.03" in verdict.message
