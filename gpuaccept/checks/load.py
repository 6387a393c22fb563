"""The load tier: OLL-OFFLOAD, OLL-SPREAD, OLL-BALANCE, OLL-THROUGHPUT, OLL-LOAD-TIME, OLL-CONSISTENT, GPU-THERMAL
(OLL-ANSWER: answers.py).

Placement is judged from NVML on the host (ground truth): the memory the model's runner process holds
on each GPU while the measured runs go, the runner tied to Ollama by cgroup or name (bench_trust.py).
``/api/ps`` (one number for all GPUs) and the server log's per-device model weights are cross-checks,
reported beside it; OLL-OFFLOAD needs /api/ps, the log's offloaded layers and NVML to agree.
"""

from __future__ import annotations

import statistics

from gpuaccept import ollama_env
from gpuaccept.checks import bench_trust, container, pointers
from gpuaccept.checks.agreement import benchmark_mismatch
from gpuaccept.checks.inventory import gpu_or_verdict
from gpuaccept.checks.ollama import api_or_verdict
from gpuaccept.checks.verdict import Verdict, failed, not_evaluated, passed, skipped, warned
from gpuaccept.facts import Benchmark, CutRun, HostFacts, OllamaModel, find_model
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
    impossible = bench_trust.implausible(host, o.benchmark)
    if impossible is not None:
        return not_evaluated(impossible)
    return o.benchmark


def runner_mib(host: HostFacts, bench: Benchmark, gpu_count: int) -> tuple[list[float], str] | Verdict:
    """Per GPU, the most memory Ollama's runner held during the measured runs, and how it was found."""
    tie = bench_trust.runner_tie(host, bench)
    if isinstance(tie, str):
        return not_evaluated(tie)
    return bench_trust.runner_mib(bench, gpu_count, tie)


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


def oll_offload(host: HostFacts, profile: Profile) -> Verdict:
    """Three accounts must agree: /api/ps (from Ollama 0.30 it can say 100% from a file-size fallback),
    the server log's ``offloaded N/M layers to GPU`` of the benchmark's load, and the NVML memory of the runner."""
    bench = bench_or_verdict(host, profile)
    if isinstance(bench, Verdict):
        return bench
    name = profile.ollama.model
    ratio = profile.ollama.offload_min_nvml_ratio
    expected = (f"the whole model on GPU: /api/ps size_vram == size, the server log's `offloaded N/N layers`, and "
                f"the runner's NVML memory >= {ratio:.0%} of /api/ps size (profile ollama.offload_min_nvml_ratio)")
    loaded: OllamaModel | None = find_model(bench.loaded, name)
    if loaded is None:
        return not_evaluated(f"{name} was not listed by /api/ps during the benchmark" +
                       (f" ({bench.error})" if bench.error else ""))
    if loaded.size_vram is None or not loaded.size:
        return not_evaluated("/api/ps gave no size_vram")
    share = loaded.size_vram / loaded.size
    ok: dict[str, bool] = {"/api/ps": loaded.size_vram >= loaded.size}
    parts = [f"/api/ps {loaded.size_vram / 2**30:.1f} of {loaded.size / 2**30:.1f} GiB on GPU ({share:.0%})"]
    missing: list[str] = []
    layers = host.ollama.offloaded
    if layers is not None:
        ok["server log"] = layers[0] >= layers[1]
        parts.append(f"server log: offloaded {layers[0]}/{layers[1]} layers to GPU")
    else:
        missing.append("ollama-server.log: " + (host.ollama.log_missing or
                                                 "no `offloaded N/M layers to GPU` line for the benchmark's load"))
    found = runner_mib(host, bench, profile.gpus.count) if bench.measured() else \
        not_evaluated(f"no GPU samples from the measured runs ({bench.error or 'none taken'})")
    if isinstance(found, Verdict):
        missing.append(f"NVML: {found.message.removeprefix('not evaluated: ')}")
    else:
        held = sum(found[0]) * 2**20
        ok["NVML"] = held >= ratio * loaded.size
        parts.append(f"NVML: the runner holds {held / 2**30:.1f} GiB ({held / loaded.size:.0%} of /api/ps size; "
                     f"{found[1]})")
    measured = f"{name}: " + "; ".join(parts)
    bad = [source for source, good in ok.items() if not good]
    if bad:
        cause = ("the GPUs lacked free memory for every layer: a context too large (num_ctx x OLLAMA_NUM_PARALLEL), "
                 "other processes on the cards, or a GPU the server did not see")
        if ok["/api/ps"]:
            cause += ("; /api/ps says 100% but Ollama 0.30+ derives it from the runner's log with a file-size "
                      "fallback, so it is not proof")
        detected = pointers.check_these(host, profile, "OLL-GPUS-DETECTED")
        return failed(f"{measured}; short of the whole model by {', '.join(bad)}, the rest on the CPU", expected,
                      cause, f"lower the context or OLLAMA_NUM_PARALLEL and free the cards; {detected}")
    if missing:
        return not_evaluated(f"{measured}; missing: {'; '.join(missing)}")
    return passed(measured, expected)


def oll_spread(host: HostFacts, profile: Profile) -> Verdict:
    bench = bench_or_verdict(host, profile)
    if isinstance(bench, Verdict):
        return bench
    if not bench.measured():
        return not_evaluated(f"no GPU samples from the measured runs ({bench.error or 'none taken'})")
    want, floor = profile.gpus.count, profile.ollama.min_gpu_memory_gib * GIB
    found = runner_mib(host, bench, want)
    if isinstance(found, Verdict):
        return found
    per_gpu, how = found
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
    sees = pointers.check_these(host, profile, "CTR-SEES-GPUS", "CTR-GPU-REQUEST")
    if spread_on:
        fix = (f"give the container every GPU (its GPU request, no narrower CUDA_VISIBLE_DEVICES) and free memory on "
               f"each card; {sees}")
    else:
        remediate = "" if container.change_blocker(host, profile) else " (`pytest acceptance/ --remediate` for a managed one)"
        fix = f"set OLLAMA_SCHED_SPREAD=1 on the container and recreate it{remediate}; {sees}"
    return failed(measured, expected, cause, fix)


def oll_balance(host: HostFacts, profile: Profile) -> Verdict:
    bench = bench_or_verdict(host, profile)
    if isinstance(bench, Verdict):
        return bench
    samples = bench.measured()
    if not samples:
        return not_evaluated(f"no GPU samples from the measured runs ({bench.error or 'none taken'})")
    want, ratio = profile.gpus.count, profile.ollama.balance_min_ratio
    found = runner_mib(host, bench, want)
    if isinstance(found, Verdict):
        return found
    per_gpu, _ = found
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


def oll_throughput(host: HostFacts, profile: Profile) -> Verdict:
    bench = bench_or_verdict(host, profile)
    if isinstance(bench, Verdict):
        return bench
    floor = profile.ollama.throughput_floor_tps
    expected = f">= {floor:g} generation tokens/s, median of the runs (profile ollama.throughput_floor_tps)"
    runs = [r for r in bench.runs if r.eval_ns]
    cut = bench.cut
    if not runs and cut is not None and cut.slow and cut.chunks > 1 and cut.streaming_s > 0:
        return _cut_too_slow(host, profile, bench, cut, expected)
    if not runs:
        return failed(f"the benchmark produced no measured run ({bench.error or 'no timings'})", expected,
                      "the server failed or stalled during generation", "read ollama-server.log in the evidence")
    wrong_clock = bench_trust.clock_mismatch(bench)
    if wrong_clock is not None:
        return not_evaluated(f"Ollama's durations disagree with the wall clock: {wrong_clock}; tokens/s computed "
                             "from them would not be this run's (benchmark.json runs)")
    rates = [r.tokens_per_s for r in runs]
    median = statistics.median(rates)
    ttft = [r.ttft_s for r in runs if r.ttft_s is not None]
    prompt = [r.prompt_eval_count / r.prompt_eval_ns * 1e9 for r in runs if r.prompt_eval_ns]
    measured = (f"{median:.1f} tokens/s median of {len(runs)} runs (min {min(rates):.1f}, max {max(rates):.1f})"
                + (f", prompt {statistics.median(prompt):.0f} tokens/s" if prompt else "")
                + (f", first token after {statistics.median(ttft):.2f} s" if ttft else ""))
    ceiling = ceiling_tps(host, profile)
    share = ""
    if ceiling is not None:
        limit, how = ceiling
        share = f"{median / limit:.0%} of the {limit:.1f} tokens/s ceiling"
        measured += f"; {share} ({how})"
        if median > limit * 1.1:
            return failed(measured, expected + ", and below the bandwidth ceiling",
                          "a figure above what the memory bandwidth allows was not measured on this model (wrong "
                          "model, or timings from a cache)", "check the model name and the benchmark settings")
    if bench.error:
        measured += f"; the benchmark stopped early: {bench.error}"
    if median >= floor and not bench.error:
        return passed(measured, expected)
    if bench.error:
        return failed(measured, expected, "the server failed or stalled during generation",
                      "read ollama-server.log in the evidence; restart the container")
    cause, fix = slow_reasons(host, profile, bench, share)
    return failed(measured, expected, cause, fix)


def _cut_too_slow(host: HostFacts, profile: Profile, bench: Benchmark, cut: CutRun, expected: str) -> Verdict:
    """No run finished because the benchmark stopped one that could no longer reach the floor: its rate by
    the wall clock is the figure (Ollama gives its own timings only in a finished run's last chunk)."""
    rate = cut.chunks / cut.streaming_s
    measured = (f"{rate:.1f} tokens/s by the wall clock: {cut.stage} streamed {cut.chunks} tokens in "
                f"{cut.streaming_s:.1f} s after its first and was stopped, since it could no longer reach the floor")
    ceiling = ceiling_tps(host, profile)
    share = ""
    if ceiling is not None:
        share = f"{rate / ceiling[0]:.0%} of the {ceiling[0]:.1f} tokens/s ceiling"
        measured += f"; {share} ({ceiling[1]})"
    cause, fix = slow_reasons(host, profile, bench, share)
    return failed(measured, expected, cause, fix)


def slow_reasons(host: HostFacts, profile: Profile, bench: Benchmark, share: str) -> tuple[str, str]:
    """What the evidence measured that slows generation: throttling, links below their generation under
    load, model layers on the CPU. (cause, fix) for the message."""
    causes, fixes = [], []
    samples = bench.measured()
    for gpu in host.gpus:
        mine = [g for s in samples for g in s.gpus if g.index == gpu.index]
        throttled = sorted({n for g in mine if g.throttle for bit, n in THROTTLES.items() if g.throttle & bit})
        if throttled:
            causes.append(f"{gpu.label} throttled during the runs ({', '.join(throttled)}; GPU-THERMAL)")
            fixes.append("cool or power the throttled card (GPU-THERMAL)")
        gens = [g.pcie_gen for g in mine if g.pcie_gen is not None]
        if gens and gpu.pcie_gen_max and max(gens) < gpu.pcie_gen_max:
            causes.append(f"{gpu.label}'s link ran at Gen{max(gens)} under load, Gen{gpu.pcie_gen_max} possible "
                          "(PCIE-GEN)")
            fixes.append("reseat the card or set the slot's PCIe generation in the BIOS (PCIE-GEN)")
    loaded = find_model(bench.loaded, profile.ollama.model)
    if loaded is not None and loaded.size and loaded.size_vram is not None and loaded.size_vram < loaded.size:
        causes.append(f"{1 - loaded.size_vram / loaded.size:.0%} of the model on the CPU (/api/ps; OLL-OFFLOAD)")
    elif host.ollama.offloaded is not None and host.ollama.offloaded[0] < host.ollama.offloaded[1]:
        causes.append(f"only {host.ollama.offloaded[0]}/{host.ollama.offloaded[1]} layers on GPU (server log; "
                      "OLL-OFFLOAD)")
    if len(causes) > len(fixes):
        fixes.append("free GPU memory or lower the context so every layer fits (OLL-OFFLOAD)")
    at = f"at {share}, " if share else ""
    if causes:
        return f"{at}measured: {'; '.join(causes)}", "; ".join(dict.fromkeys(fixes)) + ", then run again"
    if pointers.passing(host, profile, "OLL-GPUS-DETECTED"):
        return (f"{at}with no throttling, every link at its full generation under load, the whole model on GPU and "
                "every GPU discovered on the expected runner (OLL-GPUS-DETECTED passed): the server itself is slow "
                "(an old Ollama version, or the model's build)",
                "compare with the same model and Ollama version on a known-good host; update Ollama")
    return (f"{at}with no throttling, every link at its full generation under load and the whole model on GPU: "
            "the runner itself may be slow (a CPU or wrong CUDA runner: OLL-GPUS-DETECTED did not pass; an old "
            "Ollama version)",
            "check OLL-GPUS-DETECTED and the Ollama version; compare with the same model on a known-good host")


# OLL-LOAD-TIME's default warning limit, from the model's size: a runner's start plus the copy at a rate below
# which something is wrong. Real loads of 8-31 B models take 20-34 s with the file in RAM (ollama/ollama#13552,
# #16599); from RAM the copy runs at the link's rate (about 12 GB/s at Gen3 x16), so below 1 GiB/s the link or the
# host is the bottleneck; from disk a SATA SSD reads about 500 MB/s and an HDD 30-100 MB/s (ollama/ollama#12431).
RUNNER_START_S = 35.0
LOAD_FLOOR_MIB_S = {"dropped": 200.0, "warm": 1024.0}
# No load beats this: eight cards each at PCIe Gen5 x16 (about 63 GB/s) is 480 GiB/s; a rate past it is a wrong
# figure (a load_duration of a few ns, a size no model has), never a fast host.
LOAD_CEILING_MIB_S = 8 * 63e9 / 2**20


def _page_cache(bench: Benchmark) -> tuple[str | None, str, str]:
    """("dropped" | "warm" | None when not recorded, a few words for the measured value, the reason)."""
    cache = bench.page_cache
    if cache is None:
        return None, "page cache not recorded", "whether the page cache was dropped first is not recorded"
    if cache.state == "dropped":
        return "dropped", "from the disk", f"the page cache was dropped first ({cache.why})"
    return "warm", "from a warm page cache", (f"the page cache was not dropped ({cache.why}): the model file may "
                                              "have come from RAM, so this time says little about the disk")


def load_warn_limit(profile: Profile, size_mib: float | None, cache: str | None) -> tuple[float, str] | None:
    """(seconds, where the figure comes from) for OLL-LOAD-TIME's warning, or None when it cannot be known."""
    if profile.ollama.load_time_warn_s:
        return profile.ollama.load_time_warn_s, "profile ollama.load_time_warn_s"
    if not size_mib:
        return None
    rate = LOAD_FLOOR_MIB_S["warm" if cache is None else cache]
    seconds = RUNNER_START_S + size_mib / rate
    return seconds, (f"default for {size_mib / 1024:.1f} GiB: {RUNNER_START_S:g} s for the runner's start + the file "
                     f"at {rate:g} MiB/s {'from the disk' if cache == 'dropped' else 'from RAM'}")


def _slow_load_cause(host: HostFacts, cache: str | None) -> tuple[str, str]:
    """Why a load took long, as far as the evidence of the links and the page cache shows it."""
    narrow = [f"GPU {g.index} at x{g.pcie_width_current} of x{g.pcie_width_max}" for g in host.gpus
              if g.pcie_width_current and g.pcie_width_max and g.pcie_width_current < g.pcie_width_max]
    unknown = [f"GPU {g.index}" for g in host.gpus if not (g.pcie_width_current and g.pcie_width_max)]
    links = (f"links narrower than they can be ({', '.join(narrow)}) copy the model slower" if narrow else
             f"the link width of {', '.join(unknown)} is not reported" if unknown or not host.gpus else
             "every link is at its full width")
    if cache == "dropped":
        return (f"the file was read from the disk under the model store, which may read slowly; {links}",
                "put the model volume on fast local storage (NVMe or SSD), not an HDD or a network share"
                + ("; fix PCIE-WIDTH" if narrow else ""))
    return (f"the page cache was not dropped, so the file may have come from RAM or from the disk; {links}",
            "compare the time between 'starting runner' and 'runner started' in ollama-server.log; set "
            "ollama.cold_load = true and run as root to time the disk" + ("; fix PCIE-WIDTH" if narrow else ""))


def oll_load_time(host: HostFacts, profile: Profile) -> Verdict:
    bench = bench_or_verdict(host, profile)
    if isinstance(bench, Verdict):
        return bench
    if not bench.load_ns:
        return not_evaluated(f"the model load was not timed ({bench.error or 'no load_duration'})")
    again = bench_trust.reloads(bench)
    if again:
        return not_evaluated(f"the model was loaded again after the timed cold load ({bench.load_ns / 1e9:.1f} s): "
                             f"{'; '.join(again)}, so the cold load did not time the configuration that ran (a run's "
                             "options differed from the load's, or the runner was lost: see ollama-server.log)")
    if bench.page_cache is not None and bench.page_cache.state not in LOAD_FLOOR_MIB_S:
        return not_evaluated(f"benchmark.json page_cache.state is {bench.page_cache.state[:40]!r}, neither dropped "
                             "nor warm: a damaged record")
    cache, how, why = _page_cache(bench)
    seconds = bench.load_ns / 1e9
    found = find_model(host.ollama.models or (), profile.ollama.model)
    size_mib = found.size / 2**20 if found is not None and found.size else None
    rate = f", {size_mib / seconds:.0f} MiB/s" if size_mib else ""
    measured = f"{profile.ollama.model} loaded in {seconds:.1f} s{rate}, {how}"
    limit = profile.ollama.load_time_max_s
    warn = load_warn_limit(profile, size_mib, cache)
    limits = ([f"<= {limit:g} s (profile ollama.load_time_max_s)"] if limit else []) + (
        [f"within {warn[0]:.0f} s ({warn[1]})"] if warn else [])
    expected = " and ".join(limits) or "reported (no limit in the profile, and the model's size is not known for a default)"
    if size_mib and size_mib / seconds > LOAD_CEILING_MIB_S:
        return not_evaluated(f"{measured}: faster than any host copies a model to its GPUs ({LOAD_CEILING_MIB_S:g} "
                             "MiB/s is beyond 16 lanes of PCIe Gen5 per card), so the load time or the model's size "
                             "in /api/tags is wrong")
    if (limit and seconds > limit) or (warn and seconds > warn[0]):
        cause, fix = _slow_load_cause(host, cache)
        verdict = failed if limit and seconds > limit else warned
        return verdict(measured, expected, f"{cause}; {why}", fix)
    return passed(measured, expected, f"{measured}, as expected ({expected}); {why}.")


def oll_consistent(host: HostFacts, profile: Profile) -> Verdict:
    """A report of how many fixed-seed, temperature-0 runs differ from the first, and where: never a
    hardware cause. GPU inference with a layer split and a prompt cache is not bit-reproducible
    (ollama/ollama#4990, open; QwenLM/Qwen3#769: 45 of 100 runs differed); whether the text is right is
    OLL-ANSWER's question."""
    bench = bench_or_verdict(host, profile)
    if isinstance(bench, Verdict):
        return bench
    temperature = bench.settings.get("temperature") if isinstance(bench.settings, dict) else None
    if temperature not in (0, 0.0):
        return skipped(f"the benchmark ran at temperature {temperature} (profile ollama.benchmark.temperature): "
                       "only temperature 0 gives repeatable text")
    runs = [r for r in bench.runs if r.eval_count]
    if len(runs) < 2:
        return not_evaluated(f"fewer than two measured runs produced text ({bench.error or 'benchmark.json runs'})")
    if any(r.text is None for r in runs):
        return not_evaluated("benchmark.json records no text for the runs (field runs[].text)")
    capped = bench.text_cap and any(len((r.text or "").encode()) >= bench.text_cap for r in runs)
    cap = f" (the first {bench.text_cap} bytes of each)" if capped else ""
    first = runs[0].text or ""
    differ = [(i, at) for i, run in enumerate(runs[1:], start=2)
              if (at := bench_trust.first_difference(first, run.text or "")) is not None]
    if not differ:
        return passed(f"{len(runs)} measured runs gave the same {len(first)} characters{cap}",
                      f"a report: identical text from all {len(runs)} runs")
    i, at = differ[0]
    measured = (f"{len(differ)} of {len(runs) - 1} later measured runs differ from run 1{cap}; run {i} first at "
                f"character {at}: {first[at:at + 24]!r} vs {(runs[i - 1].text or '')[at:at + 24]!r}")
    why = ("GPU inference with a layer split and a prompt cache is not bit-reproducible (ollama/ollama#4990; "
           "QwenLM/Qwen3#769: 45 of 100 runs differed), so a difference is no evidence of a fault; OLL-ANSWER "
           "judges whether the text is right")
    if profile.ollama.consistent_text_required:
        return failed(measured, "identical text from every run (profile ollama.consistent_text_required)",
                      "the runs differ; " + why, "set ollama.consistent_text_required = false unless this "
                      "deployment needs identical text")
    return passed(measured, "a report: how many runs differ, and where", f"{measured}. A report: {why}.")


def gpu_thermal(host: HostFacts, index: int, profile: Profile) -> Verdict:
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
