"""metrics.prom: a host folder's verdicts and measured figures in the Prometheus text exposition format, for
node_exporter's textfile collector (``--prometheus-textfile DIR``) or any tool that reads that format.

Written from the record (summary.json) and the host's facts. The format is a few lines of text, written
here rather than through prometheus_client, whose import costs a quick run a sixth of its time; the
self-tests read every file this writes with prometheus_client's own parser.

- ``gpuaccept_run_verdict{verdict}``: 1 for the run's verdict, 0 for each other one (a state set), with
  ``gpuaccept_run_exit_status``, ``gpuaccept_run_finished_timestamp_seconds`` and ``gpuaccept_run_info``
  (host, profile, mode: a replay says so, suite version, run id).
- ``gpuaccept_requirement{requirement,gpu,outcome}``: per requirement case (``gpu`` is "" for a host-wide
  one) 1 for its outcome and 0 for every other outcome, so a query never has to know which ones exist.
- Measured figures, units in their names, each only where the requirement that judges it was evaluated on
  that GPU (passed, warned or failed): a figure whose requirement could not be evaluated is no figure.
"""

from __future__ import annotations

import datetime
import statistics
from typing import Any

from gpuaccept.facts import HostFacts
from gpuaccept.summary import ACCEPTED, INCOMPLETE, INTERNAL_ERROR, INTERRUPTED, NOT_ACCEPTED, OUTCOMES
from gpuaccept.validate import finite

NAME = "metrics.prom"
VERDICTS = (ACCEPTED, NOT_ACCEPTED, INCOMPLETE, INTERRUPTED, INTERNAL_ERROR)
JUDGED = frozenset({"pass", "warn", "fail"})  # a figure is exported where its requirement came to one of these


def _gpu(case_id: str) -> str:
    """"1" for ``test_pcie_width[gpu1]``, "" for a host-wide case."""
    params = case_id.partition("[")[2].removesuffix("]")
    return params[3:] if params.startswith("gpu") and params[3:].isdigit() else ""


def _judged(record: dict[str, Any]) -> dict[str, set[str]]:
    """requirement -> the GPUs ("" for host-wide) on which it came to a verdict."""
    judged: dict[str, set[str]] = {}
    for rid, req in record.get("requirements", {}).items():
        for case in req.get("cases", ()):
            if case.get("outcome") in JUDGED:
                judged.setdefault(rid, set()).add(_gpu(str(case.get("id", ""))))
    return judged


def _timestamp(text: Any) -> float | None:
    try:
        return datetime.datetime.fromisoformat(str(text)).timestamp()
    except (ValueError, OverflowError):  # not a time, or one before any a float of seconds can say
        return None


def _label(value: str) -> str:
    """A label value as the exposition format quotes it: backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return repr(float(value))


class _Families:
    """Metric families in the order they are made, each with its samples."""

    def __init__(self) -> None:
        self.lines: dict[str, list[str]] = {}

    def add(self, name: str, doc: str, value: float, labels: dict[str, str] | None = None) -> None:
        family = self.lines.setdefault(name, [f"# HELP {name} {doc.replace(chr(92), chr(92) * 2).replace(chr(10), ' ')}",
                                              f"# TYPE {name} gauge"])
        said = ",".join(f'{key}="{_label(str(v))}"' for key, v in (labels or {}).items())
        family.append(f"{name}{{{said}}} {_number(value)}" if said else f"{name} {_number(value)}")

    def text(self) -> str:
        return "".join(line + "\n" for family in self.lines.values() for line in family)


def exposition(record: dict[str, Any], facts: HostFacts | None) -> str:
    """The text exposition of ``record`` (and of ``facts``' figures, where given)."""
    out = _Families()
    run = record.get("run", {})
    said = record.get("verdict", "")
    for name in (*VERDICTS, *([said] if said and said not in VERDICTS else [])):
        out.add("gpuaccept_run_verdict", "1 for the run's verdict, 0 for the others", 1 if name == said else 0,
                {"verdict": name})
    status = finite(run.get("exit_status"))
    if status is not None:
        out.add("gpuaccept_run_exit_status", "the run's exit status", status)
    finished = _timestamp(run.get("finished_at"))
    if finished is not None:
        out.add("gpuaccept_run_finished_timestamp_seconds", "when the run finished (Unix time)", finished)
    out.add("gpuaccept_run_info", "the run: its host, profile, mode (live or replay), suite version and id", 1,
            {"host": str(run.get("host", "")), "profile": str((run.get("profile") or {}).get("name", "")),
             "mode": str(run.get("mode", "")), "suite_version": str(run.get("suite_version", "")),
             "run_id": str(run.get("id", ""))})
    for rid, req in record.get("requirements", {}).items():
        for case in req.get("cases", ()):
            gpu, got = _gpu(str(case.get("id", ""))), case.get("outcome", "")
            for name in (*OUTCOMES, *([got] if got not in OUTCOMES else [])):
                out.add("gpuaccept_requirement", "1 for the case's outcome, 0 for the others; gpu is empty for a "
                        "host-wide requirement", 1 if name == got else 0,
                        {"requirement": rid, "gpu": gpu, "outcome": str(name)})
    if facts is not None:
        _figures(out, facts, _judged(record))
    return out.text()


def _figures(out: _Families, facts: HostFacts, judged: dict[str, set[str]]) -> None:
    def per_gpu(name: str, doc: str, requirement: str, value_of) -> None:
        for gpu in facts.gpus:
            if str(gpu.index) not in judged.get(requirement, ()):
                continue
            for labels, value in value_of(gpu):
                value = finite(value)
                if value is not None:
                    out.add(name, f"{doc} ({requirement})", value, {"gpu": str(gpu.index), **labels})

    per_gpu("gpuaccept_gpu_memory_total_bytes", "each GPU's total memory", "GPU-MEMORY",
            lambda g: [({}, g.memory_total_mib * 2**20 if finite(g.memory_total_mib) is not None else None)])
    per_gpu("gpuaccept_pcie_link_width_lanes", "each GPU's PCIe link width now", "PCIE-WIDTH",
            lambda g: [({}, g.pcie_width_current)])
    per_gpu("gpuaccept_pcie_link_generation", "each GPU's PCIe link generation at capture", "PCIE-GEN",
            lambda g: [({}, g.pcie_gen_current)])
    per_gpu("gpuaccept_gpu_power_limit_watts", "each GPU's enforced power limit", "PWR-LIMIT",
            lambda g: [({}, g.power_enforced_limit_w)])
    per_gpu("gpuaccept_gpu_retired_pages", "each GPU's retired memory pages by cause", "GPU-RETIRED",
            lambda g: [({"cause": "single_bit"}, g.retired_pages_sbe), ({"cause": "double_bit"}, g.retired_pages_dbe)])
    bench = facts.ollama.benchmark
    if bench is not None and "" in judged.get("OLL-THROUGHPUT", ()):
        rates = [r.tokens_per_s for r in bench.runs if r.eval_ns]
        rate = finite(statistics.median(rates)) if rates else None
        if rate is not None:
            out.add("gpuaccept_ollama_generation_tokens_per_second", "median generation rate of the measured runs "
                    "(OLL-THROUGHPUT)", rate)
    load = finite(bench.load_ns) if bench is not None else None
    if load is not None and "" in judged.get("OLL-LOAD-TIME", ()):
        out.add("gpuaccept_ollama_model_load_seconds", "the timed cold load of the model (OLL-LOAD-TIME)", load / 1e9)
    diag = facts.diag
    if diag is not None and judged.get("PCIE-BANDWIDTH"):
        for link in diag.bandwidth.alone:
            if str(link.index) not in judged["PCIE-BANDWIDTH"]:
                continue
            for direction, rate in (("host_to_device", link.h2d), ("device_to_host", link.d2h)):
                value = finite(rate.gbps)
                if value is not None:
                    out.add("gpuaccept_pcie_bandwidth_bytes_per_second", "pinned copies over each GPU's link alone, "
                            "each way (PCIE-BANDWIDTH)", value * 1e9, {"gpu": str(link.index), "direction": direction})
