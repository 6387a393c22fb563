"""The load tier: OLL-OFFLOAD, OLL-SPREAD, OLL-BALANCE, OLL-THROUGHPUT, OLL-LOAD-TIME, GPU-THERMAL.

Placement is judged from NVML on the host (ground truth): the memory the model's runner process holds
on each GPU while the measured runs go. ``/api/ps`` (one number for all GPUs) and the server log's
per-device model weights are cross-checks, reported beside it.
"""

from __future__ import annotations

import statistics

from gpuaccept import ollama_env
from gpuaccept.checks.agreement import benchmark_mismatch
from gpuaccept.checks.inventory import gpu_or_verdict
from gpuaccept.checks.ollama import api_or_verdict
from gpuaccept.checks.verdict import Verdict, failed, not_evaluated, passed
from gpuaccept.facts import Benchmark, HostFacts, OllamaModel, find_model
from gpuaccept.profile import Profile

GIB = 1024.0
# NVML clocks event reasons that mean the card slowed itself down (nvmlClocksEventReason*).
THROTTLES = {0x8: "HW slowdown", 0x20: "SW thermal slowdown", 0x40: "HW thermal slowdown",
             0x80: "HW power brake slowdown"}


def bench_or_verdict(host: HostFacts, profile: Profile) -> Benchmark | Verdict:
    o = api_or_verdict(host, profile)
    if isinstance(o, Verdict):
        return o
    if o.benchmark is None:
        return not_evaluated(f"no benchmark: {o.benchmark_missing}")
    other_run = benchmark_mismatch(o.benchmark, profile)
    if other_run is not None:
        return not_evaluated(other_run)
    return o.benchmark


def runner_mib(bench: Benchmark, gpu_count: int) -> tuple[list[float], str]:
    """Per GPU, the most memory the model's runner held during the measured runs, and how it was found."""
    samples = bench.measured()
    pids = set(bench.runner_pids)
    if pids and any(p in pids for s in samples for g in s.gpus for p, _ in g.processes):
        per_gpu = [max((sum(m for p, m in g.processes if p in pids) for s in samples for g in s.gpus
                        if g.index == i), default=0.0) for i in range(gpu_count)]
        return per_gpu, f"NVML per-process memory of PID {', '.join(map(str, sorted(pids)))}"
    baseline = [s for s in bench.samples if s.t <= bench.baseline_at] or list(bench.samples[:1])
    base = {g.index: g.mem_used_mib or 0.0 for g in baseline[-1].gpus} if baseline else {}
    per_gpu = [max(((g.mem_used_mib or 0.0) - base.get(i, 0.0) for s in samples for g in s.gpus if g.index == i),
                   default=0.0) for i in range(gpu_count)]
    return per_gpu, "NVML memory used above the pre-load baseline (no per-process data)"


def _cross_checks(host: HostFacts, profile: Profile, bench: Benchmark) -> str:
    o = host.ollama
    notes = []
    loaded = find_model(bench.loaded, profile.ollama.model)
    if loaded is not None and loaded.size_vram is not None:
        notes.append(f"/api/ps: {loaded.size_vram / 2**30:.1f} GiB on GPUs in total (no per-GPU figure)")
    cuda = [f"{d} {m / GIB:.1f} GiB" for d, m in o.model_mib if d.startswith("CUDA")]
    if cuda:
        notes.append(f"server log model weights: {', '.join(cuda)}")
    return "; ".join(notes)


def _gib(values: list[float]) -> str:
    return ", ".join(f"{v / GIB:.1f} GiB on GPU{i}" for i, v in enumerate(values))


def offload(host: HostFacts, profile: Profile) -> Verdict:
    bench = bench_or_verdict(host, profile)
    if isinstance(bench, Verdict):
        return bench
    name = profile.ollama.model
    expected = "the whole model on GPU (/api/ps size_vram == size)"
    loaded: OllamaModel | None = find_model(bench.loaded, name)
    if loaded is None:
        return not_evaluated(f"{name} was not listed by /api/ps during the benchmark" +
                       (f" ({bench.error})" if bench.error else ""))
    if loaded.size_vram is None or not loaded.size:
        return not_evaluated("/api/ps gave no size_vram")
    share = loaded.size_vram / loaded.size
    measured = f"{name}: {loaded.size_vram / 2**30:.1f} of {loaded.size / 2**30:.1f} GiB on GPU ({share:.0%})"
    if loaded.size_vram >= loaded.size:
        return passed(measured, expected)
    return failed(f"{measured}, {1 - share:.0%} on the CPU", expected,
                  "the GPUs lacked free memory for every layer: a context too large (num_ctx x OLLAMA_NUM_PARALLEL), "
                  "other processes on the cards, or a GPU the server did not see",
                  "lower the context or OLLAMA_NUM_PARALLEL, free the cards, and check OLL-GPUS-DETECTED")


def spread(host: HostFacts, profile: Profile) -> Verdict:
    bench = bench_or_verdict(host, profile)
    if isinstance(bench, Verdict):
        return bench
    if not bench.measured():
        return not_evaluated(f"no GPU samples from the measured runs ({bench.error or 'none taken'})")
    want, floor = profile.gpus.count, profile.ollama.min_gpu_memory_gib * GIB
    per_gpu, how = runner_mib(bench, want)
    name = profile.ollama.model
    expected = f">= {profile.ollama.min_gpu_memory_gib:g} GiB of {name} on each of the {want} GPUs"
    checks = _cross_checks(host, profile, bench)
    measured = f"{name} holds {_gib(per_gpu)} ({how})" + (f"; {checks}" if checks else "")
    short = [i for i, m in enumerate(per_gpu) if m < floor]
    if not short:
        return passed(measured, expected)
    spread_on = ollama_env.truthy(dict(host.ollama.server_env).get("OLLAMA_SCHED_SPREAD")) or (
        host.docker.container is not None
        and ollama_env.truthy(host.docker.container.env_value("OLLAMA_SCHED_SPREAD")))
    if sum(per_gpu) == 0:
        cause = "the model did not reach the GPUs at all (see OLL-OFFLOAD and OLL-GPUS-DETECTED)"
    elif not spread_on:
        cause = "the model fits one card and OLLAMA_SCHED_SPREAD is not set, so Ollama keeps it on one GPU"
    else:
        cause = ("OLLAMA_SCHED_SPREAD is set but the server could not use every GPU: CUDA_VISIBLE_DEVICES or the "
                 "container's GPU request is too narrow, or a card lacks free memory")
    return failed(measured, expected, cause,
                  "set OLLAMA_SCHED_SPREAD=1 on the container and recreate it (`pytest acceptance/ --remediate` for "
                  "a managed one); check CTR-SEES-GPUS")


def balance(host: HostFacts, profile: Profile) -> Verdict:
    bench = bench_or_verdict(host, profile)
    if isinstance(bench, Verdict):
        return bench
    samples = bench.measured()
    if not samples:
        return not_evaluated(f"no GPU samples from the measured runs ({bench.error or 'none taken'})")
    want, ratio = profile.gpus.count, profile.ollama.balance_min_ratio
    per_gpu, how = runner_mib(bench, want)
    if min(per_gpu) <= 0:
        return not_evaluated("the model is not on every GPU: see OLL-SPREAD")
    util = [statistics.fmean([g.util_pct for s in samples for g in s.gpus if g.index == i and g.util_pct is not None]
                             or [0.0]) for i in range(want)]
    mem_ratio = min(per_gpu) / max(per_gpu)
    util_ratio = min(util) / max(util) if max(util) > 0 else 1.0
    measured = (f"memory {' / '.join(f'{m / GIB:.1f}' for m in per_gpu)} GiB (ratio {mem_ratio:.2f}), mean utilization "
                f"{' / '.join(f'{u:.0f}%' for u in util)} (ratio {util_ratio:.2f}) over {len(samples)} samples")
    expected = f"smallest/largest share >= {ratio:g} for memory and utilization (profile ollama.balance_min_ratio)"
    if mem_ratio >= ratio and util_ratio >= ratio:
        return passed(measured, expected)
    return failed(measured, expected,
                  "one card had less free memory (another process, a display, a different card), so it got fewer "
                  "layers and less of the work", "free the lighter card (nvidia-smi shows its other processes) and "
                  "make both cards the same model and VBIOS (GPU-IDENTICAL)")


def ceiling_tps(host: HostFacts, profile: Profile) -> tuple[float, str] | None:
    """Generation cannot beat one card's memory bandwidth over the bytes read per token (the weights):
    a layer split runs the cards one after the other, so two cards do not add bandwidth."""
    models = host.ollama.models or ()
    found = find_model(models, profile.ollama.model)
    if found is None or not found.size:
        return None
    bandwidth = profile.ollama.memory_bandwidth_gbs * 1e9
    return bandwidth / found.size, (f"{profile.ollama.memory_bandwidth_gbs:g} GB/s / {found.size / 1e9:.1f} GB "
                                    "of weights read per token")


def throughput(host: HostFacts, profile: Profile) -> Verdict:
    bench = bench_or_verdict(host, profile)
    if isinstance(bench, Verdict):
        return bench
    floor = profile.ollama.throughput_floor_tps
    expected = f">= {floor:g} generation tokens/s, median of the runs (profile ollama.throughput_floor_tps)"
    runs = [r for r in bench.runs if r.eval_ns]
    if not runs:
        return failed(f"the benchmark produced no measured run ({bench.error or 'no timings'})", expected,
                      "the server failed or stalled during generation", "read ollama-server.log in the evidence")
    rates = [r.tokens_per_s for r in runs]
    median = statistics.median(rates)
    ttft = [r.ttft_s for r in runs if r.ttft_s is not None]
    prompt = [r.prompt_eval_count / r.prompt_eval_ns * 1e9 for r in runs if r.prompt_eval_ns]
    measured = (f"{median:.1f} tokens/s median of {len(runs)} runs (min {min(rates):.1f}, max {max(rates):.1f})"
                + (f", prompt {statistics.median(prompt):.0f} tokens/s" if prompt else "")
                + (f", first token after {statistics.median(ttft):.2f} s" if ttft else ""))
    ceiling = ceiling_tps(host, profile)
    if ceiling is not None:
        limit, how = ceiling
        measured += f"; {median / limit:.0%} of the {limit:.1f} tokens/s ceiling ({how})"
        if median > limit * 1.1:
            return failed(measured, expected + ", and below the bandwidth ceiling",
                          "a figure above what the memory bandwidth allows was not measured on this model (wrong "
                          "model, or timings from a cache)", "check the model name and the benchmark settings")
    if bench.error:
        measured += f"; the benchmark stopped early: {bench.error}"
    if median >= floor and not bench.error:
        return passed(measured, expected)
    return failed(measured, expected,
                  "layers on the CPU (OLL-OFFLOAD), links trained down (PCIE-GEN), thermal or power throttling "
                  "(GPU-THERMAL), or the wrong CUDA runner (OLL-GPUS-DETECTED)" if not bench.error else
                  "the server failed or stalled during generation",
                  "fix the requirements named, then run again" if not bench.error else
                  "read ollama-server.log in the evidence; restart the container")


def load_time(host: HostFacts, profile: Profile) -> Verdict:
    bench = bench_or_verdict(host, profile)
    if isinstance(bench, Verdict):
        return bench
    limit = profile.ollama.load_time_max_s
    expected = f"<= {limit:g} s (profile ollama.load_time_max_s)" if limit else "reported (no limit in the profile)"
    if not bench.load_ns:
        return not_evaluated(f"the model load was not timed ({bench.error or 'no load_duration'})")
    seconds = bench.load_ns / 1e9
    found = find_model(host.ollama.models or (), profile.ollama.model)
    rate = f", {found.size / 2**20 / seconds:.0f} MiB/s" if found is not None and found.size else ""
    measured = f"{profile.ollama.model} loaded in {seconds:.1f} s{rate}"
    if limit and seconds > limit:
        return failed(measured, expected, "a slow disk under the model store, or PCIe links below x16 (PCIE-WIDTH)",
                      "put the model volume on fast local storage; fix PCIE-WIDTH")
    return passed(measured, expected)


def thermal(host: HostFacts, index: int, profile: Profile) -> Verdict:
    bench = bench_or_verdict(host, profile)
    if isinstance(bench, Verdict):
        return bench
    gpu = gpu_or_verdict(host, index)
    if isinstance(gpu, Verdict):
        return gpu
    mine = [g for s in bench.measured() for g in s.gpus if g.index == index]
    temps = [g.temp_c for g in mine if g.temp_c is not None]
    if not temps:
        return not_evaluated(f"{gpu.label}: no temperature samples from the measured runs")
    margin = profile.ollama.thermal_margin_c
    limit = (gpu.temp_slowdown_c - margin) if gpu.temp_slowdown_c else None
    reasons = sorted({name for g in mine if g.throttle for bit, name in THROTTLES.items() if g.throttle & bit})
    power = [g.power_w for g in mine if g.power_w is not None]
    measured = f"{gpu.label} peaked at {max(temps):.0f} C" + (f", {max(power):.0f} W" if power else "")
    expected = (f"below {limit:.0f} C (slowdown {gpu.temp_slowdown_c} C - {margin:g} C margin), no slowdown throttling"
                if limit else "no slowdown throttling")
    if reasons:
        return failed(f"{measured}; throttled: {', '.join(reasons)}", expected,
                      "the card slowed itself down (heat, or the PSU/power brake)",
                      "improve airflow through the passive heatsinks (chassis fans at full for P40s), check PSU cables")
    if limit is not None and max(temps) >= limit:
        return failed(measured, expected, "not enough airflow through the card's passive heatsink",
                      "raise the chassis fan curve or add a ducted fan; P40s need server airflow")
    return passed(measured, expected)
