"""The report's Environment table: rows for the host the evidence comes from, apart from the machine that
ran the suite (the same machine in a live run; another one in a replay)."""

from __future__ import annotations

from gpuaccept.facts import HostFacts, HostInfo

SUITE_MACHINE = "Suite ran on: "  # prefix of pytest-metadata's own rows, which describe the machine running pytest
_PYTEST_METADATA_ROWS = ("Python", "Platform")


def host_rows(info: HostInfo) -> dict[str, str]:
    """Kernel, OS, CPU, RAM, BIOS, Board of the evidence's host; ``not captured (why)`` where it gave nothing."""

    def value(name: str, text: str | None) -> str:
        return text if text is not None else f"not captured ({info.why_missing(name)})"

    if info.cpu_model is not None or info.cpu_count is not None:
        cpu = f"{info.cpu_model or 'model not reported'}, {info.cpu_count or '?'} logical CPUs"
    else:
        cpu = None
    ram = f"{info.mem_total_mib} MiB ({info.mem_total_mib / 1024:.1f} GiB)" if info.mem_total_mib is not None else None
    return {"Kernel": value("kernel", info.kernel), "OS": value("os", info.os), "CPU": value("cpu_model", cpu),
            "RAM": value("mem_total_mib", ram), "BIOS": value("bios", info.bios), "Board": value("board", info.board)}


def relabel_suite_rows(meta: dict) -> None:
    """pytest-metadata's Python and Platform rows are the suite's machine, never the evidence's host: say so,
    and keep them after the rows about the run and its host."""
    for key in _PYTEST_METADATA_ROWS:
        for name in (key, SUITE_MACHINE + key):
            if name in meta:
                meta[SUITE_MACHINE + key] = meta.pop(name)


def run_rows(facts: HostFacts, *, run_id: str, technician: str, ticket: str, mode: str, profile: str) -> dict[str, str]:
    """The Environment table's rows about the run and its host, in their order: the same table for a host
    judged alone (pytest-metadata's table) and for each host of a fleet (gpuaccept.report.host_page)."""
    rows = {"Run id": run_id, "Technician": technician or "(not given: --technician NAME)",
            "Ticket": ticket or "(not given: --ticket ID)", "Mode": mode, "Host": facts.hostname,
            **host_rows(facts.host_info), "Profile": profile,
            "Driver": (f"NVML {facts.driver.nvml_version or '?'}, kernel module "
                       f"{facts.driver.kernel_module_version or '?'} ({facts.driver.kernel_module_flavor or '?'}), "
                       f"CUDA {facts.driver.cuda_driver_version or '?'}")}
    if not facts.nvml.ok:
        rows["GPU inventory"] = f"unavailable: {facts.nvml.error} {facts.nvml.detail}".strip()
    for gpu in facts.gpus:
        rows[f"GPU{gpu.index}"] = (f"{gpu.name}, serial {gpu.serial or '?'}, UUID {gpu.uuid or '?'}, "
                                   f"bus {gpu.bus_id or '?'}, VBIOS {gpu.vbios_version or '?'}")
    return rows
