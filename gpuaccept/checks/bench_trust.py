"""Whether the benchmark measured what the load tier judges: whose GPU memory, one load, honest clocks.

- The runner's PIDs are tied to Ollama by the host's /proc as the benchmark recorded it: the container's
  cgroup (its id from docker-inspect), else the ``ollama.service`` unit's cgroup, else the runner's name
  (``llama-server`` from Ollama 0.30, ``ollama runner`` in 0.12-0.24). A GPU process that none of these
  ties to Ollama is never counted as the model's.
- A reload during the runs (a run's ``load_duration`` of a real load, or ``/api/ps`` changing between the
  cold load and the end) means the cold load did not time the configuration that ran.
- Ollama's durations must fit the wall clock the suite measured around each call.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from gpuaccept.facts import Benchmark, BenchRun, HostFacts, find_model

# A warm request's load_duration is the scheduler handing over the loaded runner (milliseconds); a reload
# reads the weights again, which takes seconds for any model worth benchmarking on these cards.
RELOAD_NS = 500_000_000
# Ollama's total_duration runs from the handler's start to the last token; the wall clock around the call
# adds only the HTTP round trip and the client's parsing (milliseconds), so they differ by far less than this.
CLOCK_SLACK_S = 0.3
CLOCK_SLACK_SHARE = 0.10


@dataclass(frozen=True)
class Tie:
    pids: frozenset[int]
    rule: str  # how the PIDs were tied to Ollama, for the message


def _seen(bench: Benchmark) -> set[int]:
    return {pid for s in bench.measured() for g in s.gpus for pid, _ in g.processes}


def _describe(bench: Benchmark, pids: set[int]) -> str:
    info = {p.pid: p for p in bench.processes}
    return ", ".join(f"PID {pid} ({(info[pid].comm or '?') if pid in info else '?'}, cgroup "
                     f"{(info[pid].cgroup or 'unreadable').split('::')[-1] if pid in info else 'not recorded'})"
                     for pid in sorted(pids))


def runner_tie(host: HostFacts, bench: Benchmark) -> Tie | str:
    """The GPU processes that are Ollama's runner, and the rule that tied them; or why none could be tied."""
    seen = _seen(bench)
    if not seen:
        return Tie(frozenset(), "NVML listed no GPU process during the measured runs")
    procs = [p for p in bench.processes if p.pid in seen]
    if not procs:
        return (f"benchmark.json records no /proc entry (field processes) for the GPU processes {_describe(bench, seen)}: "
                "their memory cannot be tied to Ollama's runner")
    container = host.docker.container
    readable = [p for p in procs if p.cgroup]
    if container is not None and container.exists and container.id and readable:
        tied = {p.pid for p in readable if container.id in p.cgroup}
        if not tied:
            return (f"no GPU process is in container {container.name}'s cgroup (docker-inspect Id "
                    f"{container.id[:12]}): {_describe(bench, seen)}; the server that answered the benchmark is not "
                    "this container's (another Ollama on the host?), so its memory is not counted")
        return Tie(frozenset(tied), f"tied to container {container.name} by cgroup ({container.id[:12]})")
    unit = {p.pid for p in readable if "/ollama.service" in p.cgroup}
    if unit:
        return Tie(frozenset(unit), "tied by the ollama.service unit's cgroup (no container known)")
    named = {p.pid for p in procs if (p.comm or "").strip() == "llama-server"
             or ((p.comm or "").strip() == "ollama" and " runner" in f" {p.cmdline or ''}")}
    if named:
        why = "no container known" if container is None or not container.exists else "cgroups unreadable"
        return Tie(frozenset(named), f"tied by process name (llama-server / ollama runner; {why})")
    return (f"no GPU process is Ollama's runner by cgroup or by name: {_describe(bench, seen)}; "
            "their memory is not counted as the model's")


def runner_mib(bench: Benchmark, gpu_count: int, tie: Tie) -> tuple[list[float], str]:
    """Per GPU, the most memory the tied runner held during the measured runs, and how it was found.

    Per-process memory NVML cannot report (None) is unknown, never 0: the per-GPU delta over the pre-load
    baseline stands in, and the message says so."""
    samples = bench.measured()
    values = [m for s in samples for g in s.gpus for p, m in g.processes if p in tie.pids]
    if values and all(m is not None for m in values):
        per_gpu = [max((sum(m or 0.0 for p, m in g.processes if p in tie.pids) for s in samples for g in s.gpus
                        if g.index == i), default=0.0) for i in range(gpu_count)]
        return per_gpu, f"NVML per-process memory of PID {', '.join(map(str, sorted(tie.pids)))}, {tie.rule}"
    baseline = [s for s in bench.samples if s.t <= bench.baseline_at] or list(bench.samples[:1])
    base = {g.index: g.mem_used_mib or 0.0 for g in baseline[-1].gpus} if baseline else {}
    per_gpu = [max(((g.mem_used_mib or 0.0) - base.get(i, 0.0) for s in samples for g in s.gpus if g.index == i),
                   default=0.0) for i in range(gpu_count)]
    if values:
        how = (f"NVML cannot report the per-process memory of PID {', '.join(map(str, sorted(tie.pids)))} "
               f"(unknown, not 0; {tie.rule}): memory used above the pre-load baseline instead, per GPU")
    else:
        how = f"memory used above the pre-load baseline, per GPU ({tie.rule})"
    return per_gpu, how


def reloads(bench: Benchmark) -> list[str]:
    """Signs that the model was loaded again after the cold load."""
    found = [f"{label} (load_duration {run.load_ns / 1e9:.2f} s)" for label, run in labelled(bench)
             if run.load_ns >= RELOAD_NS]
    before = find_model(bench.loaded_at_load, bench.model)
    after = find_model(bench.loaded, bench.model)
    if before is not None and after is not None:
        changed = []
        if before.size != after.size:
            changed.append(f"size {before.size / 2**30:.1f} -> {after.size / 2**30:.1f} GiB")
        if before.context_length != after.context_length:
            changed.append(f"context {before.context_length} -> {after.context_length}")
        if changed:
            found.append(f"/api/ps changed between the cold load and the end ({', '.join(changed)})")
    return found


def labelled(bench: Benchmark) -> list[tuple[str, BenchRun]]:
    return ([(f"warm-up run {i + 1}", r) for i, r in enumerate(bench.warmup)]
            + [(f"measured run {i + 1}", r) for i, r in enumerate(bench.runs)])


def clock_mismatch(bench: Benchmark) -> str | None:
    """The first measured run whose reported durations do not fit the wall clock around it, or None."""
    for i, run in enumerate(bench.runs):
        label = f"measured run {i + 1}"
        if not run.eval_ns:
            continue
        wall = run.wall_s
        if wall is None:
            return f"{label}: benchmark.json holds no wall time (fields start_t, end_t) to hold Ollama's durations against"
        total = run.total_ns / 1e9
        slack = max(CLOCK_SLACK_S, CLOCK_SLACK_SHARE * wall)
        if abs(total - wall) > slack:
            return (f"{label}: Ollama's total_duration says {total:.2f} s, the wall clock around the call "
                    f"{wall:.2f} s (tolerance {slack:.2f} s)")
        if run.eval_ns + run.prompt_eval_ns > run.total_ns * 1.01:
            return (f"{label}: eval_duration {run.eval_ns / 1e9:.2f} s + prompt_eval_duration "
                    f"{run.prompt_eval_ns / 1e9:.2f} s exceed total_duration {total:.2f} s")
        if run.eval_count <= 0:
            return f"{label}: eval_duration {run.eval_ns / 1e9:.2f} s for eval_count {run.eval_count}"
        cap = bench.settings.get("num_predict") if isinstance(bench.settings, dict) else None
        if isinstance(cap, int) and run.eval_count > cap + 1:
            return f"{label}: eval_count {run.eval_count} above num_predict {cap}"
    return None


def first_difference(a: str, b: str) -> int | None:
    if a == b:
        return None
    return len(os.path.commonprefix([a, b]))


def implausible(host: HostFacts, bench: Benchmark) -> str | None:
    """What in benchmark.json cannot be true of this host or of one benchmark, or None.

    Each number is checked against what bounds it: a card's memory, 100 % utilization, the benchmark's
    own span of samples; a run that Ollama ended with an error or that produced no text is no measurement.
    """
    totals = {g.index: g.memory_total_mib for g in host.gpus if g.memory_total_mib}
    for sample in bench.samples:
        for g in sample.gpus:
            total = totals.get(g.index)
            if g.mem_used_mib is not None and total and g.mem_used_mib > total * 1.02:
                return (f"benchmark.json says GPU{g.index} used {g.mem_used_mib:.0f} MiB at {sample.t:.1f} s, more "
                        f"than the card's {total} MiB")
            if g.util_pct is not None and not 0 <= g.util_pct <= 100:
                return f"benchmark.json says GPU{g.index} was {g.util_pct:g} % busy at {sample.t:.1f} s"
    span = max((s.t for s in bench.samples), default=None)
    # The sampler starts before the cold load, so a load far longer than every sample's span cannot be true.
    # The margin is wide: the load and the first sample are not timed on one clock.
    if span is not None and bench.load_ns / 1e9 > 3 * span + 60:
        return (f"benchmark.json says the cold load took {bench.load_ns / 1e9:.1f} s, but its samples span only "
                f"{span:.1f} s")
    for label, run in labelled(bench):
        if run.done_reason not in ("", "stop", "length"):
            return f"{label} ended with done_reason {run.done_reason!r}: Ollama did not finish it"
        if run.eval_count and run.text is not None and run.chunks and not run.text:
            return f"{label}: eval_count {run.eval_count} but no text was recorded"
    return None
