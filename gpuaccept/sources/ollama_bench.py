"""The load tier's benchmark: load the model cold, warm up, then N measured runs, sampling NVML throughout.

Settings come from the profile (``[ollama.benchmark]``): fixed prompt, ``num_predict``, ``num_ctx``, seed,
temperature 0, thinking off. Metrics are Ollama's own nanosecond timings; time to first token is the
wall time to the first streamed token. Each streamed chunk must arrive within ``api_timeout_s``, and a
whole generation (as the load) must end within ``load_timeout_s``, so a stalled stream, or one that
trickles tokens, ends the benchmark with a reason instead of hanging it. Afterwards the model is
unloaded (``keep_alive`` 0) unless asked to stay. The result is a plain dict: ``benchmark.json``.

What the checks need to trust the numbers is recorded beside them: whether the page cache was dropped before
the cold load (``page_cache``, sources/page_cache.py: otherwise the load may read the model from RAM); the load carries the runs' own
options (Ollama reloads a runner whose options differ: server/sched.go), so a reload during a run shows as
its ``load_ns`` and as a changed ``/api/ps`` (``loaded_at_load`` vs ``loaded``); each run's start and end on
the sampler's clock (to hold Ollama's durations against); its text, capped at ``TEXT_CAP`` bytes (fixed seed,
temperature 0: the runs must agree); and, for every PID NVML showed, its name, command line and cgroup as
``/proc`` gave them while the model was loaded, so the checks tie GPU memory to the Ollama container.
Last, with the model still loaded, OLL-ANSWER's questions (``answers``: each prompt, its accepted answers
and the reply, gpuaccept/data/answer_prompts.py).
"""

from __future__ import annotations

import codecs
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import ollama

from gpuaccept.errors import SourceError
from gpuaccept.profile import OllamaSpec
from gpuaccept.sources.bounded_http import TooSlow
from gpuaccept.sources.nvml_sampler import Sampler
from gpuaccept.sources.ollama_api import client, reason
from gpuaccept.sources.page_cache import DROP_CACHES, prepare_cold_load

Progress = Callable[[str], None]
TEXT_CAP = 4096  # bytes of each run's text kept: num_predict bounds it too, this bounds the evidence
PROC_ROOT = Path("/proc")  # the host's process table (self-tests point it at a constructed one)
PROC_FILE_CAP = 4096


def _options(spec: OllamaSpec) -> dict[str, Any]:
    b = spec.benchmark
    return {"num_predict": b.num_predict, "num_ctx": b.num_ctx, "seed": b.seed, "temperature": b.temperature}


class Overrun(SourceError):
    """A generation that cannot be a good run: more tokens than num_predict allows, or too slow to meet the
    profile's floor whatever comes next (``slow``). It is stopped at once, and the record names it with
    what the stream did until then (``chunks`` in ``streaming_s`` after the first token)."""

    def __init__(self, message: str, *, slow: bool, chunks: int, streaming_s: float) -> None:
        super().__init__(message)
        self.slow, self.chunks, self.streaming_s = slow, chunks, streaming_s


def capped_text(data: bytes) -> str:
    """The first TEXT_CAP bytes as text. The cut may fall inside a character: an incremental decoder not told
    the input is final holds its bytes back, so the cap itself never puts a U+FFFD in the record (OLL-ANSWER
    reads one as bytes the model produced that are no text); bytes that are no UTF-8 still become U+FFFD."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    return decoder.decode(data[:TEXT_CAP], final=len(data) <= TEXT_CAP)


def limits(spec: OllamaSpec, num_predict: int | None = None) -> tuple[int, float]:
    """(most chunks, most seconds after the first token) a run may take. Ollama never streams more tokens
    than num_predict (llama runner: the prediction stops at the limit, done_reason "length"), and a chunk
    holds a token at least, so past num_predict and a margin the server is not counting. A run still
    streaming num_predict / floor seconds after its first token is below the floor even if it ended now
    (it can have at most num_predict tokens); the slack keeps a run at the floor from being cut."""
    n = spec.benchmark.num_predict if num_predict is None else num_predict
    return n + max(4, n // 20), n / spec.throughput_floor_tps * 1.25 + 2.0


def _run(c: ollama.Client, spec: OllamaSpec, sampler: Sampler, prompt: str | None = None,
         num_predict: int | None = None) -> dict[str, Any]:
    """One streamed generation of the benchmark's prompt, or of ``prompt`` with at most ``num_predict``
    tokens (OLL-ANSWER's questions: the same seed, context and temperature, so the runner is not reloaded)."""
    options = _options(spec) if num_predict is None else {**_options(spec), "num_predict": num_predict}
    n = options["num_predict"]
    start_t = sampler.now()
    start = time.monotonic()
    ttft = None
    final = None
    text = bytearray()
    chunks = 0
    most_chunks, most_s = limits(spec, n)
    stream = c.generate(model=spec.model, prompt=spec.benchmark.prompt if prompt is None else prompt, stream=True,
                        think=False, options=options, keep_alive="10m")
    try:
        for chunk in stream:
            if ttft is None and (chunk.response or chunk.thinking):
                ttft = time.monotonic() - start
            if chunk.response or chunk.thinking:
                chunks += 1
                if chunk.response and len(text) < TEXT_CAP:
                    text += chunk.response.encode()
            if chunk.done:
                final = chunk
                break
            if chunks > most_chunks:
                raise Overrun(f"the stream went past {most_chunks} chunks, more than num_predict "
                              f"({n}) allows: stopped (a server that does not count tokens)", slow=False,
                              chunks=chunks, streaming_s=round(time.monotonic() - start - (ttft or 0), 3))
            if ttft is not None and time.monotonic() - start - ttft > most_s:
                raise Overrun(f"still streaming {most_s:.1f} s after the first token ({chunks} chunks): at most "
                              f"{n} tokens in that time is under the profile's floor of "
                              f"{spec.throughput_floor_tps:g} tokens/s, so the run was stopped", slow=True,
                              chunks=chunks, streaming_s=round(time.monotonic() - start - ttft, 3))
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()  # ends the HTTP stream: the server sees the client go
    end_t = sampler.now()
    if final is None:
        raise RuntimeError("the stream ended without a final chunk")
    return {"eval_count": final.eval_count or 0, "eval_ns": final.eval_duration or 0,
            "prompt_eval_count": final.prompt_eval_count or 0, "prompt_eval_ns": final.prompt_eval_duration or 0,
            "load_ns": final.load_duration or 0, "total_ns": final.total_duration or 0,
            "ttft_s": None if ttft is None else round(ttft, 4), "done_reason": final.done_reason or "",
            "start_t": round(start_t, 4), "end_t": round(end_t, 4), "chunks": chunks,
            "text": capped_text(bytes(text))}


def answers(c: ollama.Client, spec: OllamaSpec, sampler: Sampler, progress: Progress) -> list[dict[str, Any]]:
    """OLL-ANSWER's questions, after the measured runs (their figures stay the benchmark's own): each with
    its reply, or the error that ended it, so one failed question does not hide the others."""
    from gpuaccept.data.answer_prompts import ANSWER_TOKENS, QUESTIONS

    out = []
    for q in QUESTIONS:
        entry: dict[str, Any] = {"id": q.id, "prompt": q.prompt, "expect": list(q.expect), "error": ""}
        try:
            entry.update(_run(c, spec, sampler, q.prompt, ANSWER_TOKENS))
        except (TooSlow, Overrun) as err:
            entry["error"] = str(err)
        except httpx.TimeoutException:
            entry["error"] = f"no answer within {spec.api_timeout_s:g} s (the stream stalled)"
        except Exception as err:  # HTTP 500, connection loss: recorded with the question
            entry["error"] = reason(err)
        progress(f"question {q.id}: {entry['error'] or repr(entry.get('text', '')[:60])}")
        out.append(entry)
    return out


def _proc_text(path: Path) -> str | None:
    try:
        with path.open("rb") as handle:
            return handle.read(PROC_FILE_CAP).replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return None


def processes(samples: list[dict[str, Any]], proc_root: Path) -> list[dict[str, Any]]:
    """Every PID NVML listed so far, as /proc shows it now: name, command line, cgroup (None: unreadable)."""
    pids = sorted({pid for s in samples for g in s["gpus"] for pid, _ in g["processes"]})
    return [{"pid": pid, "comm": _proc_text(proc_root / str(pid) / "comm"),
             "cmdline": _proc_text(proc_root / str(pid) / "cmdline"),
             "cgroup": _proc_text(proc_root / str(pid) / "cgroup")} for pid in pids]


class SamplingStopped(SourceError):
    """NVML stopped answering for the GPUs while they were sampled (a GPU lost, a reset required)."""


def _sampling(sampler: Sampler) -> None:
    """A lost GPU ends the benchmark at once: later runs would be measured on cards NVML no longer sees."""
    if sampler.error:
        raise SamplingStopped(sampler.error)


def run_benchmark(spec: OllamaSpec, *, keep_loaded: bool = False, progress: Progress = lambda _l: None,
                  proc_root: Path | None = None, drop_caches: Path = DROP_CACHES) -> dict[str, Any]:
    b = spec.benchmark
    proc_root = PROC_ROOT if proc_root is None else proc_root
    record: dict[str, Any] = {"model": spec.model, "load_ns": 0, "baseline_at": 0.0, "runs": [], "error": "", "samples": [],
                              "measure_from": 0.0, "measure_to": 0.0, "runner_pids": [], "loaded": [],
                              "warmup": [], "loaded_at_load": [], "processes": [], "text_cap": TEXT_CAP,
                              "answers": [],
                              "settings": {**_options(spec), "prompt": b.prompt, "warmup_runs": b.warmup_runs,
                                           "runs": b.runs, "think": False, "sample_hz": b.sample_hz}}
    quick = client(spec)
    # One generation, streamed: a token at least every api_timeout_s, the whole run within load_timeout_s.
    streamed = client(spec, spec.load_timeout_s)
    sampler = Sampler(b.sample_hz).start()
    stage = "unloading the model before the cold load"
    try:
        quick.generate(model=spec.model, prompt="", keep_alive=0)
        time.sleep(min(0.5, 2 / b.sample_hz))  # a baseline: the GPUs' processes without the model
        record["baseline_at"] = round(sampler.now(), 4)
        stage = "dropping the page cache before the cold load"
        record["page_cache"] = prepare_cold_load(spec, drop_caches)
        stage = "loading the model"
        progress(f"loading {spec.model} ...")
        loader = client(spec, spec.load_timeout_s, read_s=spec.load_timeout_s)  # silent until loaded
        # The runs' own options: a runner loaded with other ones (num_ctx...) is reloaded by the first run.
        loaded = loader.generate(model=spec.model, prompt="", keep_alive="10m", options=_options(spec))
        record["load_ns"] = loaded.load_duration or 0
        stage = "reading /api/ps after the load"
        record["loaded_at_load"] = quick.ps().model_dump(mode="json")["models"]
        for i in range(b.warmup_runs):
            stage = f"warm-up run {i + 1}"
            record["warmup"].append(_run(streamed, spec, sampler))
            _sampling(sampler)
        record["measure_from"] = round(sampler.now(), 4)
        for i in range(b.runs):
            stage = f"measured run {i + 1} of {b.runs}"
            record["runs"].append(_run(streamed, spec, sampler))
            _sampling(sampler)
            run = record["runs"][-1]
            progress(f"run {i + 1}/{b.runs}: {run['eval_count']} tokens, "
                     f"{run['eval_count'] / run['eval_ns'] * 1e9 if run['eval_ns'] else 0:.1f} tokens/s")
        record["measure_to"] = round(sampler.now(), 4)
        record["processes"] = processes(list(sampler.samples), proc_root)  # while the runner still lives
        stage = "reading /api/ps"
        record["loaded"] = quick.ps().model_dump(mode="json")["models"]
        stage = "asking OLL-ANSWER's questions"
        record["answers"] = answers(streamed, spec, sampler, progress)
    except Overrun as err:  # what the stopped stream did is OLL-THROUGHPUT's figure when no run finished
        record["error"] = f"{stage}: {err}"
        record["cut"] = {"stage": stage, "slow": err.slow, "chunks": err.chunks, "streaming_s": err.streaming_s}
    except (TooSlow, SamplingStopped) as err:  # too slow to judge, or the GPUs' sampling stopped
        record["error"] = f"{stage}: {err}"
    except httpx.TimeoutException:
        load = stage == "loading the model"
        record["error"] = (f"{stage}: no answer within {spec.load_timeout_s if load else spec.api_timeout_s:g} s "
                           f"(the {'load' if load else 'stream'} stalled)")
    except Exception as err:  # ResponseError (HTTP 500 ...), connection loss: the record says what happened
        record["error"] = f"{stage}: {reason(err)}"
    finally:
        if not record["measure_to"]:
            record["measure_to"] = round(sampler.now(), 4)
        record["samples"] = sampler.stop()
        if sampler.error:
            record["error"] = record["error"] or sampler.error
        if not keep_loaded:
            try:
                quick.generate(model=spec.model, prompt="", keep_alive=0)
            except Exception as err:  # unloading is courtesy; a failure is noted, not fatal
                record["unload_error"] = reason(err)
    record["runner_pids"] = _runner_pids(record)
    return record


def _runner_pids(record: dict[str, Any]) -> list[int]:
    """GPU processes that appeared with the model: absent from the first sample, present while measuring."""
    samples = record["samples"]
    if not samples:
        return []
    baseline = [s for s in samples if s["t"] <= record.get("baseline_at", 0)] or samples[:1]
    before = {pid for g in baseline[-1]["gpus"] for pid, _ in g["processes"]}
    during = {pid for s in samples if record["measure_from"] <= s["t"] <= record["measure_to"]
              for g in s["gpus"] for pid, _ in g["processes"]}
    return sorted(during - before) or sorted(during)
