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
       "OLL-LOAD-TIME", "OLL-ANSWER", "OLL-CONSISTENT", "GPU-THERMAL"}
LOAD = {"OLL-OFFLOAD", "OLL-SPREAD", "OLL-BALANCE", "OLL-THROUGHPUT", "OLL-LOAD-TIME", "OLL-ANSWER", "OLL-CONSISTENT",
        "GPU-THERMAL"}
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


def said(run, rid: str) -> str:
    """The verdict's message, whatever the outcome (a passed case carries it as a property only)."""
    return "\n".join(c.properties.get("message", "") for c in run.cases if c.requirement == rid)


def oll(run) -> dict[str, set[str]]:
    return {rid: outs for rid, outs in run.outcomes().items() if rid in OLL}


def test_balanced_pair_passes_the_load_tier(serve):
    run = serve(Scenario(spread=True))
    outcomes = oll(run)
    # No container, so no docker logs: discovery and the log's offloaded layers are not known.
    assert {rid for rid, o in outcomes.items() if o != {"passed"}} == {"OLL-GPUS-DETECTED", "OLL-OFFLOAD"}, \
        run.stdout[-3000:]
    assert "no Ollama server log" in run.messages("OLL-GPUS-DETECTED")
    offload = run.messages("OLL-OFFLOAD")
    assert "Not evaluated" in offload and "missing: ollama-server.log" in offload, offload
    assert "/api/ps 20.3 of 20.3 GiB on GPU (100%)" in offload and "the runner holds 20.3 GiB (100%" in offload
    bench = json.loads((run.run_dir / "evidence" / "benchmark.json").read_text())
    assert len(bench["runs"]) == 3 and bench["runner_pids"] == [48213]
    # The cold load ran with the runs' options: the stand-in reloads a runner of another num_ctx, and none did.
    assert bench["loaded_at_load"][0]["context_length"] == 4096 and run.outcomes()["OLL-LOAD-TIME"] == {"passed"}
    # The profile asks for no cold load: the record and the verdict say the load came from a warm page cache.
    assert bench["page_cache"]["state"] == "warm" and "from a warm page cache" in said(run, "OLL-LOAD-TIME")
    assert all(r["load_ns"] < 500_000_000 for r in bench["warmup"] + bench["runs"])
    assert [p["comm"] for p in bench["processes"]] == ["llama-server"]
    assert "tied by process name (llama-server / ollama runner; no container known)" in said(run, "OLL-SPREAD")
    assert {r["text"] for r in bench["runs"]} == {" w0 w1 w2 w3 w4 w5 w6 w7"}
    assert "3 measured runs gave the same 24 characters" in said(run, "OLL-CONSISTENT")
    assert [(a["id"], a["text"], a["done_reason"]) for a in bench["answers"]][:1] == [("arithmetic", "391", "stop")]
    assert "4 questions answered right (arithmetic, sequence, fact, reverse); no gibberish in 8 generated texts" \
        in said(run, "OLL-ANSWER")
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
    assert "short of the whole model by /api/ps" in run.messages("OLL-OFFLOAD")


def test_api_ps_claiming_the_whole_model_is_not_believed_against_nvml(serve):
    # From 0.30 /api/ps may say 100% from a file-size fallback; the runner's NVML memory says 60%.
    run = serve(Scenario(cpu_mib=8 * 1024, ps_claims_all=True))
    assert run.outcomes()["OLL-OFFLOAD"] == {"failed"}, run.stdout[-3000:]
    message = run.messages("OLL-OFFLOAD")
    assert "/api/ps 20.3 of 20.3 GiB on GPU (100%)" in message and "the runner holds 12.3 GiB (61%" in message
    assert "short of the whole model by NVML" in message and "file-size fallback" in message


def test_slow_generation_fails_throughput_with_the_ceiling(serve):
    run = serve(Scenario(tokens_per_s=4.2))
    assert {rid for rid, o in oll(run).items() if "failed" in o} == {"OLL-THROUGHPUT"}, run.stdout[-3000:]
    message = run.messages("OLL-THROUGHPUT")
    assert "4.2 tokens/s median of 3 runs" in message and "ceiling" in message and ">= 8" in message
    assert "Likely cause: at 25% of the 17.1 tokens/s ceiling, with no throttling" in message, message
    assert "fix the requirements named" not in message


def test_slow_generation_names_the_throttling_and_the_link_measured(serve):
    run = serve(Scenario(tokens_per_s=4.2, temp_c=89, throttle=0x40, pcie_gen_under_load=1))
    assert run.outcomes()["OLL-THROUGHPUT"] == {"failed"}, run.stdout[-3000:]
    message = run.messages("OLL-THROUGHPUT")
    assert "GPU0 (0000:02:00.0) throttled during the runs (HW thermal slowdown; GPU-THERMAL)" in message, message
    assert "GPU1 (0000:03:00.0)'s link ran at Gen1 under load, Gen3 possible (PCIE-GEN)" in message
    assert "cool or power the throttled card" in message


def test_a_reload_during_the_runs_leaves_the_load_time_not_evaluated(serve):
    run = serve(Scenario(reload_on_run=2))  # the first measured run finds its runner gone
    assert run.outcomes()["OLL-LOAD-TIME"] == {"skipped"}, run.stdout[-3000:]
    message = run.messages("OLL-LOAD-TIME")
    assert "Not evaluated" in message and "measured run 1 (load_duration 0.6" in message, message
    assert "did not time the configuration that ran" in message


def test_per_process_memory_nvml_cannot_report_is_unknown_not_zero(serve):
    run = serve(Scenario(process_mib_unknown=True))
    assert run.outcomes()["OLL-SPREAD"] == {"passed"} and run.outcomes()["OLL-BALANCE"] == {"passed"}, \
        run.stdout[-3000:]
    message = said(run, "OLL-SPREAD")
    assert "holds 10.2 GiB on GPU0, 10.2 GiB on GPU1" in message, message
    assert "NVML cannot report the per-process memory of PID 48213 (unknown, not 0" in message
    assert "memory used above the pre-load baseline instead" in message
    bench = json.loads((run.run_dir / "evidence" / "benchmark.json").read_text())
    assert any(m is None for s in bench["samples"] for g in s["gpus"] for _, m in g["processes"])


def test_an_unrelated_process_on_the_cards_is_not_counted_as_the_model(serve):
    # The model sits on GPU0; another user's job starts on GPU1 with it. Counted, it would pass the spread.
    run = serve(Scenario(spread=False, intruder_mib=4096))
    assert run.outcomes()["OLL-SPREAD"] == {"failed"}, run.stdout[-3000:]
    message = run.messages("OLL-SPREAD")
    assert "holds 20.3 GiB on GPU0, 0.0 GiB on GPU1" in message and "PID 48213," in message, message
    bench = json.loads((run.run_dir / "evidence" / "benchmark.json").read_text())
    assert {p["pid"]: p["comm"] for p in bench["processes"]} == {48213: "llama-server", 51234: "python3"}


def test_durations_that_disagree_with_the_wall_clock_leave_throughput_not_evaluated(serve):
    run = serve(Scenario(clock_scale=0.3))
    assert run.outcomes()["OLL-THROUGHPUT"] == {"skipped"}, run.stdout[-3000:]
    message = run.messages("OLL-THROUGHPUT")
    assert "Not evaluated: Ollama's durations disagree with the wall clock: measured run 1" in message, message
    assert "total_duration says 0.2" in message and "the wall clock around the call 0.7" in message


def test_text_that_differs_between_runs_is_a_report_never_a_hardware_cause(serve):
    """GPU inference with a layer split is not bit-reproducible (ollama/ollama#4990): a differing run is
    reported (how many, where) and blames no card; the answers are what is judged."""
    run = serve(Scenario(vary_text_run=3))  # the second measured run
    case = next(c for c in run.cases if c.requirement == "OLL-CONSISTENT")
    assert case.outcome == "passed" and case.properties["verdict"] == "pass", run.stdout[-3000:]
    message = case.properties["message"]
    assert "1 of 2 later measured runs differ from run 1; run 2 first at character 13" in message, message
    assert "'w4 w5" in message and "'x4 w5" in message and "no evidence of a fault" in message
    assert "corruption" not in message and "ECC" not in message
    assert run.outcomes()["OLL-THROUGHPUT"] == {"passed"} and run.outcomes()["OLL-ANSWER"] == {"passed"}


def test_a_wrong_answer_fails_naming_the_question_and_the_reply(serve):
    run = serve(Scenario(answers="wrong"))
    assert run.outcomes()["OLL-ANSWER"] == {"failed"}, run.stdout[-3000:]
    message = run.messages("OLL-ANSWER")
    assert "asked 'What is 17 multiplied by 23? Reply with the number only.', the model replied '371'" in message
    assert "expected a reply holding '391'" in message and "llama.cpp#14228" in message, message
    assert run.ret == 1


def test_gibberish_fails_even_when_every_run_agrees(serve):
    """A stuck decoder gives the same nonsense every run: OLL-CONSISTENT is content, OLL-ANSWER is not."""
    run = serve(Scenario(answers="gibberish"))
    assert run.outcomes()["OLL-ANSWER"] == {"failed"} and run.outcomes()["OLL-CONSISTENT"] == {"passed"}
    message = run.messages("OLL-ANSWER")
    assert "warm-up run 1's text is gibberish (the word 'Tạng' 8 times in a row)" in message, message


def test_a_reasoning_models_empty_think_block_is_not_the_reply(serve):
    run = serve(Scenario(think_block=True))
    assert run.outcomes()["OLL-ANSWER"] == {"passed"}, run.messages("OLL-ANSWER")
    bench = json.loads((run.run_dir / "evidence" / "benchmark.json").read_text())
    assert bench["answers"][2]["text"] == "<think>\n\n</think>\n\nParis"


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
