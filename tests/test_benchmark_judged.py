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
from gpuaccept.checks import answers, bench_trust, load
from gpuaccept.evidence import Evidence
from gpuaccept.sources.build import build_facts
from tests.conftest import HOSTS

# dual-p40-too-slow's benchmark stopped its warm-up (it could no longer reach the floor): no finished run
BENCHED = sorted(p.parent.name for p in HOSTS.glob("*/benchmark.json") if p.parent.name != "dual-p40-too-slow")
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


def test_a_run_stopped_for_being_too_slow_is_measured_by_the_wall_clock():
    host = facts(HOSTS / "dual-p40-too-slow")
    bench = host.ollama.benchmark
    assert bench.runs == () and bench.cut is not None and bench.cut.slow and bench.cut.stage == "warm-up run 1"
    verdict = load.oll_throughput(host, P40)
    assert verdict.outcome == "fail" and "4.2 tokens/s by the wall clock: warm-up run 1 streamed" in verdict.message
    assert "the server failed or stalled" not in verdict.message, verdict  # it was slow, not broken
    assert answers.oll_answer(host, P40).outcome == "not_evaluated"


def test_a_benchmark_record_without_proc_entries_is_not_counted(tmp_path):
    folder = damaged(tmp_path, "dual-p40", edit_bench(lambda b: b.pop("processes")))
    verdict = load.oll_spread(facts(folder), P40)
    assert verdict.outcome == "not_evaluated", verdict
    assert "records no /proc entry (field processes) for the GPU processes PID 48213" in verdict.message


def test_api_ps_changing_during_the_runs_leaves_the_load_time_not_evaluated(tmp_path):
    def change(bench: dict) -> None:
        bench["loaded_at_load"][0].update(context_length=2048, size=bench["loaded_at_load"][0]["size"] - 2**30)
    verdict = load.oll_load_time(facts(damaged(tmp_path, "dual-p40", edit_bench(change))), P40)
    assert verdict.outcome == "not_evaluated", verdict
    assert "/api/ps changed between the cold load and the end (size 19.3 -> 20.3 GiB, context 2048 -> 4096)" \
        in verdict.message
    assert load.oll_load_time(facts(HOSTS / "dual-p40"), P40).outcome == "pass"


def test_differing_text_is_reported_and_fails_only_when_the_profile_requires_it(tmp_path):
    def change(bench: dict) -> None:
        text = bench["runs"][2]["text"]
        bench["runs"][2]["text"] = text[:100] + "#" + text[101:]
    host = facts(damaged(tmp_path, "dual-p40", edit_bench(change)))
    verdict = load.oll_consistent(host, P40)
    assert verdict.outcome == "pass" and "1 of 2 later measured runs differ from run 1; run 3 first at character " \
        "100" in verdict.message, verdict
    assert "not bit-reproducible (ollama/ollama#4990" in verdict.message and "ECC" not in verdict.message
    strict = dataclasses.replace(P40, ollama=dataclasses.replace(P40.ollama, consistent_text_required=True))
    required = load.oll_consistent(host, strict)
    assert required.outcome == "fail" and "no evidence of a fault" in required.message, required
    assert load.oll_consistent(facts(HOSTS / "dual-p40"), P40).outcome == "pass"


def _answer(index: int, **fields):
    return lambda b: b["answers"][index].update(fields)


TEXT = Path(__file__).parent / "data" / "captures" / "gibberish"


def _stuck() -> str:
    """The token the capture repeats ("Tạng Tạng Tạng ...": its "..." is more of the same, to the run's end)."""
    return (TEXT / "llamacpp-14228-stuck-token.txt").read_text().split()[0]


# (edit of dual-p40's benchmark.json, OLL-ANSWER's outcome, words of its message)
ANSWER_TABLE = {
    "bundled": (lambda b: None, "pass", "4 questions answered right (arithmetic, sequence, fact, reverse); "
                                        "no gibberish in 8 generated texts"),
    "wrong sum": (_answer(0, text="371"), "fail", "asked 'What is 17 multiplied by 23? Reply with the number "
                                                  "only.', the model replied '371'"),
    "right within a sentence": (_answer(0, text="17 x 23 = 391."), "pass", "4 questions answered right"),
    "digits of a longer number": (_answer(0, text="3910"), "fail", "replied '3910'"),
    "list too long": (_answer(1, text="0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12"), "fail", "expected a reply "
                                                                                          "holding '1, 2, 3"),
    "empty think block": (_answer(2, text="<think>\n\n</think>\n\nParis"), "pass", "answered right"),
    "answer only inside thinking": (_answer(2, text="<think>Paris</think> Lyon"), "fail", "replied 'Lyon'"),
    "thinking never closed": (_answer(2, text="<think>The capital of"), "not_evaluated",
                              "fact: the reply is all thinking: its <think> block never closes"),
    "question errored": (_answer(3, error="HTTP 500: llama runner process has terminated", text=None),
                         "not_evaluated", "no reply to judge for reverse: HTTP 500: llama runner process has terminated"),
    "question missing": (lambda b: b["answers"].pop(), "not_evaluated", "question(s) reverse were not asked"),
    "older record": (lambda b: b.pop("answers"), "not_evaluated", "it was recorded before the suite asked"),
    "another prompt": (_answer(0, prompt="What is 2+2?"), "not_evaluated", "a record of another suite version"),
    "record's own expectation is not trusted": (_answer(0, text="371", expect=["371"]), "fail", "replied '371'"),
    "stuck token in a run": (lambda b: b["runs"][1].update(text=" ".join([_stuck()] * 64)),
                             "fail", "measured run 2's text is gibberish (the word 'Tạng' 8 times in a row)"),
    "mixed scripts": (lambda b: b["warmup"][0].update(text=(TEXT / "llamacpp-14228-mixed-scripts.txt").read_text()),
                      "fail", "warm-up run 1's text is gibberish (a replacement character (U+FFFD"),
    "no words": (_answer(1, text="!!! ??? ..."), "fail", "question 'sequence''s text is gibberish (no word at all)"),
    "a text not recorded": (lambda b: b["runs"][0].update(text=None), "not_evaluated",
                            "records no text for measured run 1"),
    # A reply that holds the answer beside another is no answer.
    "two numbers offered": (_answer(0, text="391 or 392"), "fail", "it holds the answer, but it also names 392"),
    "the answer denied": (_answer(0, text="It is not 391, it is 392."), "fail", "it also names 392"),
    "a second line": (_answer(0, text="392\n391"), "fail", "it also names 392"),
    "guesses": (_answer(2, text="London? Paris? Berlin?"), "fail", "it asks or guesses"),
    "a question asked twice": (lambda b: b["answers"].insert(0, {**b["answers"][0], "text": "392"}), "not_evaluated",
                               "more than once"),
    "all in thinking": (_answer(0, text="<think>17*23 = 391</think>"), "not_evaluated",
                        "arithmetic: no reply outside the <think> block"),
    "an empty reply": (_answer(0, text=""), "not_evaluated", "arithmetic: an empty reply"),
}


@pytest.mark.parametrize("case", sorted(ANSWER_TABLE))
def test_oll_answer_judges_what_the_model_said(tmp_path, case):
    edit, outcome, words = ANSWER_TABLE[case]
    verdict = answers.oll_answer(facts(damaged(tmp_path, "dual-p40", edit_bench(edit))), P40)
    assert verdict.outcome == outcome and words in verdict.message, verdict


def test_a_wrong_answer_at_a_sampling_temperature_only_warns(tmp_path):
    def change(b: dict) -> None:
        b["settings"]["temperature"] = 0.7
        b["answers"][0]["text"] = "371"
    warm = dataclasses.replace(P40, ollama=dataclasses.replace(
        P40.ollama, benchmark=dataclasses.replace(P40.ollama.benchmark, temperature=0.7)))
    verdict = answers.oll_answer(facts(damaged(tmp_path, "dual-p40", edit_bench(change))), warm)
    assert verdict.outcome == "warn" and "can be wrong by chance" in verdict.message, verdict


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
    verdict = load.oll_spread(host, P40)
    if rule is None:
        assert verdict.outcome == "not_evaluated" and "no GPU process is Ollama's runner by cgroup or by name" \
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
    return [check(facts, p40) for check in (_load.oll_offload, _load.oll_spread, _load.oll_balance,
                                             _load.oll_throughput, _load.oll_load_time, _load.oll_consistent)]


@pytest.mark.parametrize(("change", "words"), [
    (lambda b: b["samples"][-1]["gpus"][0].update(mem_used_mib=900000), "more than the card's 23040 MiB"),
    (lambda b: b.update(load_ns=10**15), "the cold load took 1000000.0 s"),
    (lambda b: [r.update(done_reason="error") for r in b["runs"]], "done_reason 'error'"),
    (lambda b: [r.update(text="") for r in b["runs"]], "no text was recorded"),
])
def test_a_benchmark_that_cannot_be_true_judges_nothing(change, words):
    verdicts = _judged_with(change)
    assert all(v.outcome == "not_evaluated" for v in verdicts), [v.message for v in verdicts]
    assert all(words in v.message for v in verdicts)


def test_the_text_cap_never_cuts_a_character_into_a_replacement_character():
    """A run's text is kept to TEXT_CAP bytes; a cut inside a multi-byte character drops it, so OLL-ANSWER's
    gibberish test never reads the suite's own cut as bytes the model produced (real bad bytes still show)."""
    from gpuaccept.checks.answer_text import gibberish
    from gpuaccept.sources.ollama_bench import TEXT_CAP, capped_text

    for short in range(5):
        prose = ("Install the card carefully. " * 200)[:TEXT_CAP - short]
        text = capped_text((prose + "— done é").encode())
        assert len(text.encode()) <= TEXT_CAP and "\ufffd" not in text and gibberish(text) == "", (short, text[-5:])
    assert capped_text(b"install the card \xff") == "install the card \ufffd"
