"""What was benchmarked: the bundled benchmark records hold together, and damaged copies of them give the
verdict an expert would (the runner outside the container, fewer layers in the log, a reload, differing text).

The bundled sets were made by the suite's own benchmark against the Ollama stand-in (make_variants.py);
the damage is done to copies under tmp_path.
"""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest

from gpuaccept import profile as profiles
from gpuaccept.checks import bench_trust, load
from gpuaccept.evidence import Evidence
from gpuaccept.sources.build import build_facts
from tests.conftest import HOSTS

BENCHED = sorted(p.parent.name for p in HOSTS.glob("*/benchmark.json"))
P40 = profiles.load("dual-p40")


def facts(folder: Path):
    return build_facts(Evidence.read(folder), mode="replay", source=str(folder))


def damaged(tmp_path: Path, name: str, edit) -> Path:
    folder = tmp_path / name
    shutil.copytree(HOSTS / name, folder)
    edit(folder)
    return folder


def edit_bench(change):
    def edit(folder: Path) -> None:
        bench = json.loads((folder / "benchmark.json").read_text())
        change(bench)
        (folder / "benchmark.json").write_text(json.dumps(bench))
    return edit


@pytest.mark.parametrize("name", BENCHED)
def test_every_bundled_benchmark_holds_together(name):
    host = facts(HOSTS / name)
    bench = host.ollama.benchmark
    assert bench is not None and len(bench.runs) == 3 and len(bench.warmup) == 1
    assert bench_trust.clock_mismatch(bench) is None  # Ollama's durations fit the wall clock around each run
    assert bench_trust.reloads(bench) == []
    tie = bench_trust.runner_tie(host, bench)
    assert isinstance(tie, bench_trust.Tie) and tie.pids == {48213}, tie
    assert tie.rule == f"tied to container ollama by cgroup ({host.docker.container.id[:12]})"
    assert host.ollama.offloaded is not None  # the log read after the benchmark holds its load
    assert len({r.text for r in bench.runs}) == 1 and all(len(r.text.encode()) <= bench.text_cap for r in bench.runs)
    for run in bench.runs:  # the rate Ollama reports is what the stream took
        assert run.eval_ns / 1e9 == pytest.approx(run.wall_s, rel=0.05)


def test_a_benchmark_record_without_proc_entries_is_not_counted(tmp_path):
    folder = damaged(tmp_path, "dual-p40", edit_bench(lambda b: b.pop("processes")))
    verdict = load.spread(facts(folder), P40)
    assert verdict.outcome == "unevaluated", verdict
    assert "records no /proc entry (field processes) for the GPU processes PID 48213" in verdict.message


def test_api_ps_changing_during_the_runs_leaves_the_load_time_not_evaluated(tmp_path):
    def change(bench: dict) -> None:
        bench["loaded_at_load"][0].update(context_length=2048, size=bench["loaded_at_load"][0]["size"] - 2**30)
    verdict = load.load_time(facts(damaged(tmp_path, "dual-p40", edit_bench(change))), P40)
    assert verdict.outcome == "unevaluated", verdict
    assert "/api/ps changed between the cold load and the end (size 19.3 -> 20.3 GiB, context 2048 -> 4096)" \
        in verdict.message
    assert load.load_time(facts(HOSTS / "dual-p40"), P40).outcome == "pass"


def test_differing_text_warns_and_fails_when_the_profile_requires_it(tmp_path):
    def change(bench: dict) -> None:
        text = bench["runs"][2]["text"]
        bench["runs"][2]["text"] = text[:100] + "#" + text[101:]
    host = facts(damaged(tmp_path, "dual-p40", edit_bench(change)))
    verdict = load.consistent(host, P40)
    assert verdict.outcome == "warn" and "measured run 3 differs from run 1 at character 100" in verdict.message
    strict = dataclasses.replace(P40, ollama=dataclasses.replace(P40.ollama, consistent_text_required=True))
    assert load.consistent(host, strict).outcome == "fail"
    assert load.consistent(facts(HOSTS / "dual-p40"), P40).outcome == "pass"


def test_a_runner_outside_the_container_is_not_counted(run_suite, tmp_path):
    # The API answered from an Ollama outside the inspected container (a second server on the host).
    folder = damaged(tmp_path, "dual-p40", edit_bench(
        lambda b: b["processes"][0].update(cgroup="0::/system.slice/ollama.service")))
    run = run_suite("--replay", str(folder))
    outcomes = run.outcomes()
    assert {rid for rid in ("OLL-OFFLOAD", "OLL-SPREAD", "OLL-BALANCE") if outcomes[rid] == {"skipped"}} == \
        {"OLL-OFFLOAD", "OLL-SPREAD", "OLL-BALANCE"}, run.stdout[-3000:]
    message = run.messages("OLL-SPREAD")
    assert "no GPU process is in container ollama's cgroup" in message and \
        "PID 48213 (llama-server, cgroup /system.slice/ollama.service)" in message, message
    assert outcomes["OLL-THROUGHPUT"] == {"passed"}


def test_fewer_layers_in_the_log_fail_offload_though_api_ps_says_all(run_suite, tmp_path):
    def edit(folder: Path) -> None:
        log = folder / "ollama-server.log"
        text = log.read_text()
        assert "offloaded 65/65 layers to GPU" in text
        log.write_text(text.replace("offloaded 65/65 layers to GPU", "offloaded 58/65 layers to GPU"))
    run = run_suite("--replay", str(damaged(tmp_path, "dual-p40", edit)))
    assert run.outcomes()["OLL-OFFLOAD"] == {"failed"}, run.stdout[-3000:]
    message = run.messages("OLL-OFFLOAD")
    assert "server log: offloaded 58/65 layers to GPU" in message and "short of the whole model by server log" \
        in message and "file-size fallback" in message, message


@pytest.mark.parametrize(("cgroup", "comm", "cmdline", "rule"), [
    ("0::/system.slice/ollama.service", "ollama", "/usr/bin/ollama runner --model x", "ollama.service unit's cgroup"),
    ("0::/user.slice/session-2.scope", "ollama", "/usr/bin/ollama runner --model x", "process name"),  # 0.12-0.24
    ("0::/user.slice/session-2.scope", "ollama", "/usr/bin/ollama serve", None),  # the server is not the runner
    (None, "llama-server", "llama-server --model x", "process name"),
])
def test_without_a_container_the_runner_is_tied_by_unit_or_name(tmp_path, cgroup, comm, cmdline, rule):
    # Ollama as a systemd service: no container to match, so the unit's cgroup, else the runner's name.
    folder = damaged(tmp_path, "dual-p40", edit_bench(
        lambda b: b["processes"][0].update(cgroup=cgroup, comm=comm, cmdline=cmdline)))
    host = facts(folder)
    host = dataclasses.replace(host, docker=dataclasses.replace(host.docker, container=None))
    verdict = load.spread(host, P40)
    if rule is None:
        assert verdict.outcome == "unevaluated" and "no GPU process is Ollama's runner by cgroup or by name" \
            in verdict.message, verdict
    else:
        assert verdict.outcome == "pass" and rule in verdict.message, verdict


def _judged_with(change):
    import json as _json

    from gpuaccept import profile as _profiles
    from gpuaccept.checks import load as _load
    from gpuaccept.evidence import Evidence as _Evidence
    from gpuaccept.sources.build import build_facts as _build

    evidence = _Evidence.read(HOSTS / "dual-p40")
    bench = _json.loads(evidence.files["benchmark.json"])
    change(bench)
    evidence.files["benchmark.json"] = _json.dumps(bench)
    facts = _build(evidence, mode="replay", source="test")
    p40 = _profiles.load("dual-p40")
    return [check(facts, p40) for check in (_load.offload, _load.spread, _load.balance, _load.throughput,
                                             _load.load_time, _load.consistent)]


@pytest.mark.parametrize(("change", "words"), [
    (lambda b: b["samples"][-1]["gpus"][0].update(mem_used_mib=900000), "more than the card's 23040 MiB"),
    (lambda b: b.update(load_ns=10**15), "the cold load took 1000000.0 s"),
    (lambda b: [r.update(done_reason="error") for r in b["runs"]], "done_reason 'error'"),
    (lambda b: [r.update(text="") for r in b["runs"]], "no text was recorded"),
])
def test_a_benchmark_that_cannot_be_true_judges_nothing(change, words):
    verdicts = _judged_with(change)
    assert all(v.outcome == "unevaluated" for v in verdicts), [v.message for v in verdicts]
    assert all(words in v.message for v in verdicts)
