"""OLL-LOAD-TIME says what it timed: the disk (page cache dropped first) or a warm page cache, and why.

The drop is tried only where the profile asks for a cold load, the API URL names this host and the suite runs
as root; the file written is a stand-in for /proc/sys/vm/drop_caches (never the machine's own)."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

from gpuaccept import profile as profiles
from gpuaccept.checks.load import oll_load_time
from gpuaccept.evidence import Evidence
from gpuaccept.facts import PageCache
from gpuaccept.sources.build import build_facts
from gpuaccept.sources.page_cache import prepare_cold_load
from tests.conftest import HOSTS, ROOT

P40 = profiles.load("dual-p40")
COLD = dataclasses.replace(P40.ollama, cold_load=True, url="http://127.0.0.1:11434")


@pytest.fixture
def drop_file(tmp_path):
    path = tmp_path / "drop_caches"
    path.write_text("0\n")
    return path


def test_a_cold_load_as_root_on_this_host_drops_the_cache(drop_file, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    assert prepare_cold_load(COLD, drop_file) == {"state": "dropped",
                                                   "why": f"sync; echo 3 > {drop_file} right before the timed load"}
    assert drop_file.read_text() == "3\n"


@pytest.mark.parametrize(("spec", "euid", "why"), [
    (P40.ollama, 0, "does not ask for a cold load"),
    (dataclasses.replace(COLD, url="http://gpu-07.example:11434"), 0, "names another host (gpu-07.example)"),
    (dataclasses.replace(COLD, url="http://[::1"), 0, "names another host (none)"),
    (COLD, 1000, "not running as root"),
])
def test_no_drop_says_why_and_writes_nothing(spec, euid, why, drop_file, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: euid)
    result = prepare_cold_load(spec, drop_file)
    assert result["state"] == "warm" and why in result["why"], result
    assert drop_file.read_text() == "0\n"


def test_a_link_where_the_sysctl_should_be_is_not_followed(tmp_path, drop_file, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    link = tmp_path / "link"
    link.symlink_to(drop_file)
    result = prepare_cold_load(COLD, link)
    assert result["state"] == "warm" and "could not be written" in result["why"], result
    assert drop_file.read_text() == "0\n"


def test_the_benchmark_records_the_drop_before_the_timed_load(drop_file, monkeypatch, tmp_path):
    from gpuaccept.sources.ollama_bench import run_benchmark
    from tests.fakes.nvml_lib import FakeNvmlLib
    from tests.fakes.ollama_server import OllamaStandIn, Scenario

    monkeypatch.setattr(os, "geteuid", lambda: 0)
    snapshot = json.loads((HOSTS / "dual-p40" / "nvml.json").read_text())
    state = tmp_path / "gpu-state.json"
    with OllamaStandIn([g["memory_total_mib"] for g in snapshot["gpus"]], state, Scenario(spread=True)) as standin:
        FakeNvmlLib(snapshot, live=str(state)).install()
        try:
            spec = profiles.load(str(ROOT / "tests" / "data" / "profiles" / "dual-p40-standin.toml")).ollama
            spec = dataclasses.replace(spec, cold_load=True, url=standin.url)
            bench = run_benchmark(spec, proc_root=tmp_path / "proc",
                                  drop_caches=drop_file)
        finally:
            FakeNvmlLib.uninstall()
    assert bench["page_cache"]["state"] == "dropped" and drop_file.read_text() == "3\n", bench["page_cache"]
    assert bench["load_ns"] > 0 and not bench["error"], bench["error"]


HEALTHY = build_facts(Evidence.read(HOSTS / "dual-p40"), mode="replay", source="test")  # qwen3:32b, 20.2 GB


def _host(load_s: float, cache: PageCache | None, width: int | None = 16):
    bench = dataclasses.replace(HEALTHY.ollama.benchmark, load_ns=int(load_s * 1e9), page_cache=cache)
    gpus = tuple(dataclasses.replace(g, pcie_width_current=width) for g in HEALTHY.gpus)
    return dataclasses.replace(HEALTHY, gpus=gpus, ollama=dataclasses.replace(HEALTHY.ollama, benchmark=bench))


WARM = PageCache("warm", "the profile does not ask for a cold load (ollama.cold_load = false)")
DROPPED = PageCache("dropped", "sync; echo 3 > /proc/sys/vm/drop_caches right before the timed load")
LIMIT = dataclasses.replace(P40, ollama=dataclasses.replace(P40.ollama, load_time_max_s=60))

# (load seconds, page cache, link width, profile) -> (outcome, words): the default warning limit for 19266 MiB is
# 35 s + the file at 1024 MiB/s from RAM (53.8 s) or at 200 MiB/s from the disk (131.3 s).
TABLE = [
    ((9.8, WARM, 16, P40), "pass", ["from a warm page cache", "may have come from RAM", "within 54 s",
                                    "1024 MiB/s from RAM"]),
    ((9.8, None, 16, P40), "pass", ["not recorded", "within 54 s"]),
    ((80.0, WARM, 16, P40), "warn", ["within 54 s", "may have come from RAM or from the disk",
                                     "every link is at its full width", "ollama.cold_load = true"]),
    ((80.0, WARM, None, P40), "warn", ["the link width of GPU 0, GPU 1 is not reported"]),
    ((1e-9, WARM, 16, P40), "not_evaluated", ["faster than any host copies a model"]),
    ((80.0, WARM, 8, P40), "warn", ["GPU 0 at x8 of x16", "PCIE-WIDTH"]),
    ((80.0, DROPPED, 16, P40), "pass", ["from the disk", "within 131 s", "200 MiB/s from the disk"]),
    ((200.0, DROPPED, 16, P40), "warn", ["read from the disk under the model store", "NVMe"]),
    ((61.0, DROPPED, 16, LIMIT), "fail", ["<= 60 s (profile ollama.load_time_max_s)", "disk under the model store"]),
    ((9.8, PageCache("cold", ""), 16, P40), "not_evaluated", ["neither dropped nor warm"]),
]


@pytest.mark.parametrize(("case", "outcome", "words"), TABLE, ids=[f"{c[0][0]}s-{c[0][1] and c[0][1].state}-x{c[0][2]}"
                                                                   for c in TABLE])
def test_load_time_says_what_it_timed_and_warns_past_the_models_default(case, outcome, words):
    load_s, cache, width, profile = case
    verdict = oll_load_time(_host(load_s, cache, width), profile)
    assert verdict.outcome == outcome, verdict.message
    for word in words:
        assert word in verdict.message, (word, verdict.message)


def test_a_model_of_unknown_size_is_reported_with_no_default_limit():
    """No size in /api/tags: no default warning limit can be worked out; the time is reported, nothing raises."""
    host = _host(80.0, WARM)
    models = tuple(dataclasses.replace(m, size=0) for m in host.ollama.models)
    verdict = oll_load_time(dataclasses.replace(host, ollama=dataclasses.replace(host.ollama, models=models)), P40)
    assert verdict.outcome == "pass" and "the model's size is not known for a default" in verdict.message, verdict
