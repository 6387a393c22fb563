"""The Ollama requirements and the load tier, live, against the Ollama stand-in and the simulated NVML.

The stand-in (tests/fakes/ollama_server.py) places the model as Ollama would and writes the GPUs' state
that the simulated libnvidia-ml serves, so the suite's sampler, placement and balance logic run on
values that follow the placement. Docker is not involved here (tests/test_container_engine.py is).
"""

from __future__ import annotations

import json

import pytest

from tests.conftest import HOSTS, ROOT
from tests.fakes.ollama_server import OllamaStandIn, Scenario

PROFILE = str(ROOT / "tests" / "data" / "profiles" / "dual-p40-standin.toml")
OLL = {"OLL-API", "OLL-GPUS-DETECTED", "OLL-MODEL", "OLL-OFFLOAD", "OLL-SPREAD", "OLL-BALANCE", "OLL-THROUGHPUT",
       "OLL-LOAD-TIME", "GPU-THERMAL"}
LOAD = {"OLL-OFFLOAD", "OLL-SPREAD", "OLL-BALANCE", "OLL-THROUGHPUT", "OLL-LOAD-TIME", "GPU-THERMAL"}
P40_MIB = [g["memory_total_mib"] for g in json.loads((HOSTS / "dual-p40" / "nvml.json").read_text())["gpus"]]


@pytest.fixture
def serve(run_suite, monkeypatch, tmp_path):
    """Start the stand-in with a scenario, run the suite live against it, return (run, stand-in)."""
    state = tmp_path / "gpu-state.json"
    monkeypatch.setenv("GPUACCEPT_FAKE_NVML", str(HOSTS / "dual-p40" / "nvml.json"))
    monkeypatch.setenv("GPUACCEPT_FAKE_NVML_LIVE", str(state))

    def run(scenario: Scenario, *args: str):
        with OllamaStandIn(P40_MIB, state, scenario) as standin:
            run.standin = standin
            result = run_suite("-p", "tests.fakes.nvml_plugin", "--profile", PROFILE, "--ollama-url", standin.url,
                               "--docker-host", f"unix://{tmp_path}/no-docker.sock", *args)
        return result

    return run


def oll(run) -> dict[str, set[str]]:
    return {rid: outs for rid, outs in run.outcomes().items() if rid in OLL}


def test_balanced_pair_passes_the_load_tier(serve):
    run = serve(Scenario(spread=True))
    outcomes = oll(run)
    assert {rid for rid, o in outcomes.items() if o != {"passed"}} == {"OLL-GPUS-DETECTED"}, run.stdout[-3000:]
    assert "no Ollama server log" in run.messages("OLL-GPUS-DETECTED")  # no container: no docker logs
    bench = json.loads((run.run_dir / "evidence" / "benchmark.json").read_text())
    assert len(bench["runs"]) == 3 and bench["runner_pids"] == [48213]
    assert len(bench["samples"]) >= 10 and bench["settings"]["think"] is False
    spread = run.messages("OLL-SPREAD") or ""
    assert run.outcomes()["PCIE-GEN"] == {"passed"}
    # The saved evidence replays to the same verdicts.
    replay = serve(Scenario(), "--replay", str(run.run_dir))
    assert oll(replay) == outcomes
    assert spread == (replay.messages("OLL-SPREAD") or "")


def test_all_on_one_gpu_names_the_missing_spread(serve):
    run = serve(Scenario(spread=False))
    assert {rid for rid, o in oll(run).items() if "failed" in o} == {"OLL-SPREAD"}, run.stdout[-3000:]
    message = run.messages("OLL-SPREAD")
    assert "qwen3:32b holds 20.3 GiB on GPU0, 0.0 GiB on GPU1" in message
    assert "fits one card and OLLAMA_SCHED_SPREAD is not set" in message
    assert run.outcomes()["OLL-BALANCE"] == {"skipped"}


def test_cpu_spill_fails_offload(serve):
    run = serve(Scenario(cpu_mib=3 * 1024))
    assert {rid for rid, o in oll(run).items() if "failed" in o} == {"OLL-OFFLOAD"}, run.stdout[-3000:]
    assert "on the CPU" in run.messages("OLL-OFFLOAD")


def test_slow_generation_fails_throughput_with_the_ceiling(serve):
    run = serve(Scenario(tokens_per_s=4.2))
    assert {rid for rid, o in oll(run).items() if "failed" in o} == {"OLL-THROUGHPUT"}, run.stdout[-3000:]
    message = run.messages("OLL-THROUGHPUT")
    assert "4.2 tokens/s median of 3 runs" in message and "ceiling" in message and ">= 8" in message


def test_http_500_fails_clearly(serve):
    run = serve(Scenario(fail_generate=500))
    failing = {rid for rid, o in oll(run).items() if "failed" in o}
    assert "OLL-THROUGHPUT" in failing, run.stdout[-3000:]
    assert "HTTP 500: llama runner process has terminated" in run.messages("OLL-THROUGHPUT")
    assert "Traceback" not in run.stdout


def test_a_stalled_stream_cannot_hang_the_run(serve):
    run = serve(Scenario(stall_after=3))
    assert "OLL-THROUGHPUT" in {rid for rid, o in oll(run).items() if "failed" in o}, run.stdout[-3000:]
    assert "stalled" in run.messages("OLL-THROUGHPUT")


def test_link_stuck_at_gen1_under_load_fails_pcie_gen(serve):
    run = serve(Scenario(pcie_gen_under_load=1))
    assert run.outcomes()["PCIE-GEN"] == {"failed"}
    assert "Gen1 under load" in run.messages("PCIE-GEN")


def test_thermal_throttling_fails_gpu_thermal(serve):
    run = serve(Scenario(temp_c=89, throttle=0x40))
    assert run.outcomes()["GPU-THERMAL"] == {"failed"}
    assert "HW thermal slowdown" in run.messages("GPU-THERMAL")


def test_missing_model_skips_the_benchmark(serve):
    run = serve(Scenario(models=[]))
    assert run.outcomes()["OLL-MODEL"] == {"failed"}
    assert "ollama pull qwen3:32b" in run.messages("OLL-MODEL")
    assert all(run.outcomes()[rid] == {"skipped"} for rid in LOAD)
    assert "is not installed (see OLL-MODEL)" in run.messages("OLL-THROUGHPUT")


def test_quick_marker_leaves_the_benchmark_out(serve):
    run = serve(Scenario(), "-m", "quick")
    assert not (run.run_dir / "evidence" / "benchmark.json").exists()
    assert oll(run)["OLL-API"] == {"passed"} and not (set(oll(run)) & LOAD)


def test_unreachable_api_fails_oll_api_only(run_suite, monkeypatch, tmp_path):
    monkeypatch.setenv("GPUACCEPT_FAKE_NVML", str(HOSTS / "dual-p40" / "nvml.json"))
    run = run_suite("-p", "tests.fakes.nvml_plugin", "--profile", PROFILE, "--ollama-url", "http://127.0.0.1:9",
                    "--docker-host", f"unix://{tmp_path}/no.sock")
    assert {rid for rid, o in oll(run).items() if "failed" in o} == {"OLL-API"}
    assert "--ollama-url" in run.messages("OLL-API")


def test_remediate_pulls_a_missing_model_with_progress(serve):
    run = serve(Scenario(models=[]), "--remediate")
    assert run.outcomes()["OLL-MODEL"] == {"passed"}, run.stdout[-3000:]
    assert "pulling qwen3:32b [####################] 100% of 20.2 GB" in run.stdout
    record = json.loads((run.run_dir / "remediation.json").read_text())
    assert [(a["kind"], a["status"]) for a in record["actions"] if a["kind"] == "pull"] == [("pull", "done")]
    # The benchmark ran after the pull, on the repaired machine.
    assert run.outcomes()["OLL-THROUGHPUT"] == {"passed"}


def test_the_model_is_unloaded_afterwards_unless_asked_to_stay(serve):
    serve(Scenario())
    assert serve.standin.loaded is None  # keep_alive 0 after the benchmark
    serve(Scenario(), "--keep-loaded")
    assert serve.standin.loaded == {0: pytest.approx(10.15 * 1024), 1: pytest.approx(10.15 * 1024)}
