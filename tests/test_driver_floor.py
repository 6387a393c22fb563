"""DRV-VERSION follows the deployed Ollama: the floor each release documents or enforces, named with its source.

Table: (driver, Ollama's API version, its log version, compute capabilities) -> (outcome, words in the message).
The releases and floors are those of ollama/ollama's docs/gpu.md(x) and discover/cuda_compat.go at its tags; the
535-through-0.24 and 580-on-0.32 rows are ollama/ollama#17290's two P40s.
"""

from __future__ import annotations

import dataclasses

import pytest

from gpuaccept import profile as profiles
from gpuaccept.checks.driver import drv_version
from gpuaccept.evidence import Evidence
from gpuaccept.sources.build import build_facts
from tests.conftest import HOSTS

P40 = profiles.load("dual-p40")
HEALTHY = build_facts(Evidence.read(HOSTS / "dual-p40"), mode="replay", source="test")


def _host(driver: str, api: str, log: str, ccs: tuple[str | None, ...] = ("6.1", "6.1")):
    gpus = tuple(dataclasses.replace(g, compute_capability=cc) for g, cc in zip(HEALTHY.gpus, ccs, strict=True))
    return dataclasses.replace(
        HEALTHY, gpus=gpus,
        driver=dataclasses.replace(HEALTHY.driver, nvml_version=driver, kernel_module_version=driver),
        smi=dataclasses.replace(HEALTHY.smi, gpus=None, driver_version=None, missing="not in this table"),
        ollama=dataclasses.replace(HEALTHY.ollama, version=api, log_version=log))


TABLE = [
    # ollama/ollama#17290: 535 ran both P40s on the GPU through 0.24.0 (documented floor 531) ...
    (("535.309.01", "0.24.0", ""), "pass", [">= 531", "Ollama 0.24.0 (API)", "driver version 531 and newer"]),
    # ... and lost them from 0.30.0, where cuda_compat.go drops compute capability < 7 below 570.
    (("535.309.01", "0.30.0", ""), "fail", [">= 570", "Ollama 0.30.0", "drops the cards", "cuda_compat.go",
                                            "compute capability 6.1", "R580"]),
    (("535.309.01", "0.32.1", ""), "fail", [">= 570", "Ollama 0.32.1"]),
    (("580.159.03", "0.32.1", ""), "pass", [">= 570", "Ollama 0.32.1", "< 590"]),
    # The API is down: the server log's version line is the release.
    (("535.309.01", "", "0.24.0"), "pass", ["Ollama 0.24.0 (server log)"]),
    # A newer card on an older driver: 0.30.0 keeps the 531 floor for compute 7+, 0.30.11 raised it to 550.
    (("545.23.08", "0.30.0", "", ("8.9", "8.9")), "pass", [">= 531", "compute capability 8.9"]),
    (("545.23.08", "0.30.11", "", ("8.9", "8.9")), "fail", [">= 550", "Ollama 0.30.11", "550 and newer"]),
    (("545.23.08", "0.30.11-rc1", "", ("8.9", "8.9")), "fail", [">= 550"]),
    (("545.23.08", "0.30.11-rc0", "", ("8.9", "8.9")), "pass", [">= 531"]),
    # One Pascal card beside a newer one: the stricter floor is every card's.
    (("560.35.03", "0.32.1", "", ("6.1", "8.9")), "fail", [">= 570", "compute capability 6.1, 8.9"]),
    # No compute capability reported: the stricter floor, said so.
    (("560.35.03", "0.32.1", "", (None, None)), "fail", [">= 570", "not every one of which reports"]),
    # A release newer than the table: its newest rule, said so.
    (("580.159.03", "0.40.0", ""), "pass", [">= 570", "newer than 0.32.15", "assumed"]),
    # Before 0.9.3 no driver floor is written anywhere: the profile's floor, and why.
    (("535.309.01", "0.6.8", ""), "fail", [">= 570 (profile driver.min_version", "names no driver floor"]),
    # Nothing says which Ollama runs: the profile's floor, and why.
    (("535.309.01", "", ""), "fail", ["profile driver.min_version", "release is not known"]),
    (("535.309.01", "banana", ""), "fail", ["profile driver.min_version", "cannot be used"]),
    # The branch that dropped Pascal fails whatever Ollama's floor is.
    (("590.48.01", "0.24.0", ""), "fail", ["do not support Pascal", "below 590"]),
]


@pytest.mark.parametrize(("case", "outcome", "words"), TABLE, ids=[" ".join(map(str, c[0][:3])) for c in TABLE])
def test_the_driver_floor_is_the_deployed_ollamas(case, outcome, words):
    verdict = drv_version(_host(*case), P40)
    assert verdict.outcome == outcome, verdict.message
    for word in words:
        assert word in verdict.message, (word, verdict.message)


def test_a_profile_that_does_not_follow_ollama_keeps_its_own_floor():
    pinned = dataclasses.replace(P40, driver=dataclasses.replace(P40.driver, follow_ollama=False))
    verdict = drv_version(_host("535.309.01", "0.24.0", ""), pinned)
    assert verdict.outcome == "fail" and "driver.follow_ollama = false" in verdict.message, verdict.message


def test_an_ollama_release_the_evidence_does_not_agree_on_is_not_followed():
    """The API says 0.24.0 and the server log 0.32.1 (OLL-API calls that another server's log): 535 is not
    passed on 0.24.0's lenient floor; the profile's floor applies and says why."""
    verdict = drv_version(_host("535.309.01", "0.24.0", "0.32.1"), P40)
    assert verdict.outcome == "fail" and "profile driver.min_version" in verdict.message, verdict.message
    assert "the log is of another server" in verdict.message


@pytest.mark.parametrize("unknown", [None, "", " 6.1", "x.y", "61"])
def test_one_card_that_does_not_say_its_compute_capability_gets_the_strict_floor(unknown):
    verdict = drv_version(_host("560.35.03", "0.32.1", "", ("8.9", unknown)), P40)
    assert verdict.outcome == "fail" and ">= 570" in verdict.message, verdict.message


@pytest.mark.parametrize("version", ["1!0.1", "99999999999999999999999.0", "0.0.0"])
def test_an_implausible_ollama_version_is_not_a_release_to_follow(version):
    verdict = drv_version(_host("535.309.01", version, ""), P40)
    assert verdict.outcome == "fail" and "cannot be used" in verdict.message, verdict.message
