"""Evidence -> HostFacts. Live runs and replays both end here, so they cannot disagree.

GPU facts come from ``nvml.json`` (the suite's own snapshot) when present, else from
``nvidia-smi -q -x``; PCI facts from ``lspci`` output, else the sysfs listing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import math
import re
from collections.abc import Callable
from typing import Any, TypeVar

from gpuaccept import evidence as ev
from gpuaccept.errors import EvidenceError
from gpuaccept.facts import (
    Benchmark,
    ComputeDevice,
    DockerFacts,
    DriverFacts,
    HostFacts,
    HostInfo,
    KernelFacts,
    NvmlStatus,
    OllamaFacts,
    OllamaModel,
    PciFacts,
    SmiFacts,
    TopologyFacts,
    UnitFacts,
    from_dict,
)
from gpuaccept.facts_diag import DiagFacts
from gpuaccept.parse.docker import parse_container_smi, parse_info, parse_inspect, parse_probe
from gpuaccept.parse.host_info import parse_host_info
from gpuaccept.parse.kernel_log import parse_kernel_log
from gpuaccept.parse.lsmod import parse_lsmod
from gpuaccept.parse.lspci import parse_lspci
from gpuaccept.parse.nvidia_smi_xml import parse_nvidia_smi_xml
from gpuaccept.parse.ollama_log import parse_ollama_log
from gpuaccept.parse.pci_ids import normalise_bus_id
from gpuaccept.parse.proc_version import parse_proc_version
from gpuaccept.parse.sysfs_pci import parse_sysfs_pci
from gpuaccept.parse.systemd import parse_systemctl_show
from gpuaccept.parse.topo import parse_topo
from gpuaccept.shapes import (
    ApiModel,
    DockerInfo,
    DockerInspect,
    GpuProbeRecord,
    ModelList,
    NvmlSnapshot,
    OllamaVersion,
)
from gpuaccept.sources import older_snapshot
from gpuaccept.sources.host import EMPTY_IS_ANSWER
from gpuaccept.sources.topology import gpu_paths
from gpuaccept.validate import Invalid, conform, load_json

T = TypeVar("T")

# What a text file must hold at least once to be the evidence it is named after. Without it the file is
# unreadable (garbage, another command's output, UTF-16 without a byte-order mark), never "nothing found".
_RECOGNISED: dict[str, tuple[re.Pattern[str], str]] = {
    ev.DMESG: (re.compile(r"^\[\s*\d+\.\d+\]|^\[[A-Z][a-z]{2} [A-Z][a-z]{2} |\skernel: |NVRM", re.M),
               "holds no kernel log line (dmesg or journalctl -k)"),
    ev.OLLAMA_LOG: (re.compile(r"\blevel=[A-Z]+\b|\bmsg=|^\d{4}/\d\d/\d\d \d\d:\d\d:\d\d |\bollama\[\d+\]:", re.M),
                    "holds no Ollama server log line"),
    ev.LSMOD: (re.compile(r"^Module\s+Size\s+Used by|^\S+\s+\d+\s+(?:\d+|-)\s", re.M),
               "holds no lsmod or /proc/modules line"),
    ev.TOPO: (re.compile(r"^\s*GPU0\b", re.M), "holds no GPU matrix (nvidia-smi topo -m)"),
    ev.LSPCI: (re.compile(r"^(?:[0-9a-fA-F]{4,8}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-7]\s", re.M),
               "holds no PCI device line (lspci)"),
    ev.SYSFS_PCI: (re.compile(r"^device \S+", re.M), "holds no 'device' line"),
}


class Unreadable(EvidenceError):
    """An evidence file exists but cannot be used; the message is the one line the requirements show."""


class _Reader:
    """The evidence, and every file found unusable while reading it (name -> why)."""

    def __init__(self, evidence: ev.Evidence):
        self.evidence = evidence
        self.problems: dict[str, str] = dict(evidence.unreadable)

    def why_absent(self, name: str) -> str:
        return self.problems.get(name) or self.evidence.why_absent(name)

    def text(self, name: str) -> str | None:
        """The file's text, or None when there is none to judge (absent, unreadable or empty)."""
        text = self.evidence.text(name)
        if text is None or name in self.problems:
            return None
        if not text.strip():
            if name in EMPTY_IS_ANSWER:  # the collector's way of saying "no NVIDIA function on the bus"
                return text
            self.problems[name] = f"no evidence: {name} is empty"
            return None
        if len(text) > ev.MAX_FILE_BYTES:  # as a replay of this evidence would find it
            self.problems[name] = f"evidence unreadable: {name} is larger than the {ev.MAX_FILE_BYTES >> 20} MiB cap"
            return None
        pattern, why = _RECOGNISED.get(name, (None, ""))
        if pattern is not None and not pattern.search(text):
            utf16 = text.count("\x00") * 3 > len(text)  # every other byte NUL: UTF-16 read as UTF-8
            hint = " (it looks like UTF-16 without a byte-order mark)" if utf16 else ""
            self.problems[name] = f"evidence unreadable: {name} {why}{hint}"
            return None
        return text

    def parse(self, name: str, parser: Callable[[str], T]) -> T | None:
        text = self.text(name)
        if text is None:
            return None
        try:
            return parser(text)
        except Invalid as err:
            why = f"evidence unreadable: {name} {err}"
        except Exception as err:  # any parser failure means the same thing: this file cannot be read
            why = f"evidence unreadable: {name}: {type(err).__name__}: {err}"
        self.problems[name] = why
        raise Unreadable(why)

    def json(self, name: str, shape: Any) -> Any:
        """The JSON file checked against ``shape`` (a type hint, see gpuaccept.shapes), or None if absent."""
        return self.parse(name, lambda text: conform(shape, load_json(text)))


#: The tiers whose evidence ``build_facts`` reads by default: all of them.
ALL_TIERS = frozenset({"quick", "load", "diag"})


def build_facts(evidence: ev.Evidence, *, mode: str, source: str, tiers: frozenset[str] = ALL_TIERS) -> HostFacts:
    """The facts of the evidence. ``tiers``: the tiers the run selected (``-m``). Without the diag tier,
    ``diag.json`` is read only for what the other tiers judge (its copies' link samples, for PCIE-GEN); the
    file itself stays whole in the evidence. The benchmark's samples are PCIE-GEN's too: always read."""
    with _collector_paused():
        return _build(evidence, mode, source, tiers)


@contextlib.contextmanager
def _collector_paused():
    """The cyclic garbage collector waits while the evidence is decoded: the facts are trees of frozen
    values (no cycles to find), and its passes over 10^5 new objects grew faster than the samples did."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _build(evidence: ev.Evidence, mode: str, source: str, tiers: frozenset[str]) -> HostFacts:
    r = _Reader(evidence)
    nvml, gpus, driver_user, cuda, topo_nvml = _gpus(r)
    facts = HostFacts(
        hostname=evidence.meta.get("hostname") or "unknown-host",  # validated by Evidence.read
        mode=mode,
        source=source,
        captured_at=evidence.meta.get("captured_at", ""),
        nvml=nvml,
        gpus=gpus,
        driver=_driver(r, driver_user, cuda),
        pci=_pci(r),
        kernel=_kernel(r),
        topology=gpu_paths(gpus, topo_nvml, _topology(r)),
        docker=_docker(r),
        ollama=_ollama(r),
        persistenced=_persistenced(r),
        provenance=_provenance(r.evidence),
        smi=_smi(r, nvml),
        host_info=_host_info(r),
        **_diag(r, whole="diag" in tiers),
        **_baseline(r),
        **_fleet_peers(r),
    )
    return dataclasses.replace(facts, unreadable=tuple(sorted(r.problems.items())))


def _gpus(r: _Reader):
    try:
        parsed = r.parse(ev.NVML, _nvml_json)
        if parsed is not None:
            snap, raw_gpus = parsed
            status, gpus, driver, cuda, topology = _from_snapshot(snap)
            if status.ok:
                xml = r.parse(ev.SMI_XML, parse_nvidia_smi_xml)
                gpus = older_snapshot.fill(gpus, raw_gpus, xml.gpus if xml else None)
            return status, gpus, driver, cuda, topology
        # A damaged snapshot is not replaced by the XML: the run would judge other evidence than it shows.
        log = None if ev.NVML in r.problems else r.parse(ev.SMI_XML, parse_nvidia_smi_xml)
    except Unreadable as err:
        return NvmlStatus(ok=False, error="UNREADABLE_EVIDENCE", detail=str(err)), (), None, None, None
    if log is not None:
        return NvmlStatus(ok=True, source=ev.SMI_XML), log.gpus, log.driver_version, log.cuda_version, None
    damaged = next((r.problems[name] for name in (ev.NVML, ev.SMI_XML) if name in r.problems), None)
    if damaged is not None:  # there, but empty or unusable: not "missing"
        return NvmlStatus(ok=False, error="UNREADABLE_EVIDENCE", detail=damaged), (), None, None, None
    # Neither source: both reasons, so a remote host's hung or flooding nvidia-smi is named, not hidden
    # behind why NVML was not asked.
    why = f"{r.why_absent(ev.NVML)}; {ev.SMI_XML}: {r.why_absent(ev.SMI_XML)}"
    return NvmlStatus(ok=False, error="MISSING_EVIDENCE", detail=why), (), None, None, None


def _nvml_json(text: str) -> tuple[NvmlSnapshot, list[dict[str, Any]]]:
    """nvml.json checked, and its GPUs as written (which fields an older snapshot did not record)."""
    raw = load_json(text)
    return conform(NvmlSnapshot, raw), list(raw.get("gpus") or ())


def _smi(r: _Reader, nvml: NvmlStatus) -> SmiFacts:
    """The XML beside a readable nvml.json, so the checks can tell when the two disagree."""
    if not (nvml.ok and nvml.source == ev.NVML):
        return SmiFacts(missing=f"the GPU inventory is {nvml.source or 'not readable'}: nothing to compare with")
    try:
        log = r.parse(ev.SMI_XML, parse_nvidia_smi_xml)
    except Unreadable as err:
        return SmiFacts(error=str(err))
    if log is None:
        return SmiFacts(missing=r.why_absent(ev.SMI_XML))
    return SmiFacts(gpus=log.gpus, driver_version=log.driver_version)


def _from_snapshot(snap: NvmlSnapshot):
    if not snap.ok:
        status = NvmlStatus(ok=False, source=ev.NVML, error=snap.error, detail=snap.detail)
        return status, (), None, None, None
    gpus = tuple(dataclasses.replace(g, bus_id=normalise_bus_id(g.bus_id) if g.bus_id else g.bus_id)
                 for g in snap.gpus)
    status = NvmlStatus(ok=True, source=ev.NVML)
    return status, gpus, snap.driver_version, snap.cuda_driver_version, (snap.topology, snap.unreported)


def _driver(r: _Reader, user: str | None, cuda: str | None) -> DriverFacts:
    try:
        kmod = r.parse(ev.PROC_VERSION, parse_proc_version)
    except Unreadable as err:
        return DriverFacts(nvml_version=user, cuda_driver_version=cuda, kernel_module_missing=str(err))
    if kmod is None:
        if r.text(ev.PROC_VERSION) is not None:
            r.problems[ev.PROC_VERSION] = f"evidence unreadable: {ev.PROC_VERSION} holds no 'NVRM version' line"
        return DriverFacts(nvml_version=user, cuda_driver_version=cuda,
                           kernel_module_missing=r.why_absent(ev.PROC_VERSION))
    return DriverFacts(nvml_version=user, cuda_driver_version=cuda, kernel_module_version=kmod.version,
                       kernel_module_flavor=kmod.flavor, kernel_module_line=kmod.line)


def _pci(r: _Reader) -> PciFacts:
    for name, parser in ((ev.LSPCI, parse_lspci), (ev.SYSFS_PCI, parse_sysfs_pci)):
        if name in r.problems:  # a damaged listing is not replaced by the other: say it is damaged
            return PciFacts(source=name, missing=r.problems[name])
        try:
            devices = r.parse(name, parser)
        except Unreadable as err:
            return PciFacts(source=name, missing=str(err))
        if devices is not None:
            return PciFacts(devices=tuple(devices), source=name)
        if name in r.problems:
            return PciFacts(source=name, missing=r.problems[name])
    return PciFacts(missing=f"{r.why_absent(ev.LSPCI)}; {r.why_absent(ev.SYSFS_PCI)}")


def _kernel(r: _Reader) -> KernelFacts:
    modules: tuple[str, ...] = ()
    modules_missing = log_missing = None
    xids: tuple = ()
    notices: tuple = ()
    reaches_back, starts_at = True, ""
    try:
        parsed = r.parse(ev.LSMOD, parse_lsmod)
        modules = parsed or ()
        modules_missing = None if parsed is not None else r.why_absent(ev.LSMOD)
    except Unreadable as err:
        modules_missing = str(err)
    try:
        log = r.parse(ev.DMESG, parse_kernel_log)
        if log is None:
            log_missing = r.why_absent(ev.DMESG)
        else:
            xids, notices = log.xid_events, log.notices
            reaches_back, starts_at = log.reaches_back, log.starts_at
    except Unreadable as err:
        log_missing = str(err)
    return KernelFacts(modules=modules, modules_missing=modules_missing, xid_events=xids, notices=notices,
                       log_missing=log_missing, log_reaches_back=reaches_back, log_starts_at=starts_at)


def _provenance(evidence: ev.Evidence) -> str:
    """host.json's ``provenance``: shown with every replay so a constructed example is never taken for a
    measurement. Untrusted text: one printable line, bounded."""
    value = evidence.meta.get("provenance")
    if not isinstance(value, str):
        return ""
    return "".join(ch if ch.isprintable() else " " for ch in value)[:300]


_HOST_FIELDS = ("kernel", "os", "cpu_model", "cpu_count", "mem_total_mib", "bios", "board")


def _host_info(r: _Reader) -> HostInfo:
    try:
        info = r.parse(ev.HOST_INFO, parse_host_info)
    except Unreadable as err:
        return HostInfo(unreported=dict.fromkeys(_HOST_FIELDS, str(err)))
    return info if info is not None else HostInfo(unreported=dict.fromkeys(_HOST_FIELDS, r.why_absent(ev.HOST_INFO)))


def _persistenced(r: _Reader) -> UnitFacts:
    try:
        unit = r.parse(ev.PERSISTENCED, parse_systemctl_show)
    except Unreadable as err:
        return UnitFacts(missing=str(err))
    return unit if unit is not None else UnitFacts(missing=r.why_absent(ev.PERSISTENCED))


def _topology(r: _Reader) -> TopologyFacts:
    try:
        links = r.parse(ev.TOPO, parse_topo)
    except Unreadable as err:
        return TopologyFacts(source=ev.TOPO, missing=str(err))
    if links is None:
        return TopologyFacts(missing=r.why_absent(ev.TOPO))
    return TopologyFacts(links=tuple(links), source=ev.TOPO)


def _docker(r: _Reader) -> DockerFacts:
    try:
        engine = r.parse(ev.DOCKER_INFO, lambda text: parse_info(conform(DockerInfo, load_json(text))))
    except Unreadable as err:
        return DockerFacts(engine_missing=str(err), container_missing=str(err))
    if engine is None:
        why = r.why_absent(ev.DOCKER_INFO)
        return DockerFacts(engine_missing=why, container_missing=why)
    if engine.reachable:
        try:
            probe = r.parse(ev.DOCKER_PROBE, lambda text: parse_probe(conform(GpuProbeRecord, load_json(text))))
        except Unreadable:
            probe = None
        engine = dataclasses.replace(engine, probe=probe,
                                     probe_missing=r.why_absent(ev.DOCKER_PROBE) if probe is None else None)
    name = evidence_container_name(r.evidence)
    try:
        container = r.parse(ev.DOCKER_INSPECT, lambda text: parse_inspect(conform(DockerInspect, load_json(text)), name))
    except Unreadable as err:
        return DockerFacts(engine=engine, container_missing=str(err))
    if container is None:
        return DockerFacts(engine=engine, container_missing=r.why_absent(ev.DOCKER_INSPECT))
    if container.exists and container.name != name:
        return DockerFacts(engine=engine, container_missing=(
            f"{ev.DOCKER_INSPECT} is of container {container.name!r}, not of {name!r}, the one inspected"))
    text = r.text(ev.CONTAINER_SMI)
    if text is None:
        container = dataclasses.replace(container, gpus_seen_missing=r.why_absent(ev.CONTAINER_SMI))
    else:
        seen, error = parse_container_smi(text)
        container = dataclasses.replace(container, gpus_seen=seen, gpus_seen_error=error)
    return DockerFacts(engine=engine, container=container)


def evidence_container_name(evidence: ev.Evidence) -> str:
    name = evidence.meta.get("container")
    return name if isinstance(name, str) and name else "ollama"


def model_from_api(raw: dict[str, Any], path: str = "") -> OllamaModel:
    """A model of /api/tags or /api/ps (the client drops ``name``; the API has both); raises
    ``validate.Invalid`` for a model of another shape."""
    raw = conform(ApiModel, raw, path)
    details = raw.get("details") or {}
    vram = raw.get("size_vram")
    return OllamaModel(name=raw.get("model") or raw.get("name") or "", size=int(raw.get("size") or 0),
                       size_vram=None if vram is None else int(vram), family=details.get("family") or "",
                       parameter_size=details.get("parameter_size") or "",
                       quantization=details.get("quantization_level") or "",
                       context_length=raw.get("context_length"), digest=raw.get("digest") or "")


def _models(listing: dict[str, Any], path: str) -> tuple[OllamaModel, ...]:
    return tuple(model_from_api(m, f"{path}[{i}]") for i, m in enumerate(listing.get("models") or ()))


def _benchmark(text: str) -> Benchmark:
    bench = conform(dict[str, Any], load_json(text))
    lists = {key: tuple(model_from_api(m, f"{key}[{i}]")
                        for i, m in enumerate(conform(list[Any] | None, bench.get(key), key) or ()))
             for key in ("loaded", "loaded_at_load")}  # /api/ps answers, in the API's shape
    return dataclasses.replace(from_dict(Benchmark, {**bench, "loaded": [], "loaded_at_load": []}), **lists)


def _asked_url(meta: dict[str, Any]) -> str:
    """The API URL the run asked, from host.json's ``commands`` (``GET <url>/api/version``); "" if not said."""
    commands = meta.get("commands")
    asked = commands.get(ev.OLLAMA_VERSION) if isinstance(commands, dict) else None
    if isinstance(asked, str) and asked.startswith("GET ") and asked.endswith("/api/version") and len(asked) < 2100:
        return asked[4:-len("/api/version")].rstrip("/")
    return ""


def _ollama(r: _Reader) -> OllamaFacts:
    values: dict[str, Any] = {"url": _asked_url(r.evidence.meta)}
    try:
        log = r.parse(ev.OLLAMA_LOG, parse_ollama_log)
        if log is None:
            values["log_missing"] = r.why_absent(ev.OLLAMA_LOG)
        else:
            values.update(
                devices=tuple(ComputeDevice(d.id, d.library, d.compute, d.card, d.runner, d.pci_id, d.driver) for d in log.devices),
                trouble=log.trouble, log_version=log.version or "", server_env=tuple(sorted(log.server_env.items())),
                model_mib=tuple(sorted(log.model_mib.items())), log_starts=log.starts, runners_seen=log.runners,
                offloaded=log.offloaded)
            if log.cut_in_discovery:
                values.update(devices=None, log_missing=f"{ev.OLLAMA_LOG}: the suite kept only the head and tail of "
                              f"this long log, and its cut ({log.cut_in_discovery}) borders the GPU discovery lines: "
                              "lines of other GPUs may be in what was left out")
            elif not log.judgeable:
                values.update(devices=None, log_missing=f"{ev.OLLAMA_LOG} has no `inference compute` line for the "
                              f"server's current start (start {log.starts} of the log): cut before GPU discovery ended")
    except Unreadable as err:
        values["log_missing"] = str(err)
    # Each API file stands alone: a damaged one leaves only the requirements judged on it unevaluated.
    try:
        version = r.json(ev.OLLAMA_VERSION, OllamaVersion)
    except Unreadable as err:
        values["missing"] = str(err)
    else:
        if version is None:
            values["missing"] = r.why_absent(ev.OLLAMA_VERSION)
        elif "version" in version:
            values.update(reachable=True, version=version["version"])
        else:
            values.update(reachable=False, error=version.get("error", "no version in the answer"))
    try:
        tags = r.parse(ev.OLLAMA_TAGS, lambda text: _models(conform(ModelList, load_json(text)), "models"))
        values["models"] = tags
        if tags is None:
            values["models_missing"] = r.why_absent(ev.OLLAMA_TAGS)
    except Unreadable as err:
        values["models_missing"] = str(err)
    try:
        values["loaded"] = r.parse(ev.OLLAMA_PS, lambda text: _models(conform(ModelList, load_json(text)), "models"))
    except Unreadable:
        values["loaded"] = None
    try:
        values["benchmark"] = r.parse(ev.BENCHMARK, _benchmark)
        if values["benchmark"] is None:
            values["benchmark_missing"] = r.why_absent(ev.BENCHMARK)
    except Unreadable as err:
        values["benchmark_missing"] = str(err)
    return OllamaFacts(**values)


def _record_file(r: _Reader, name: str, none_given: str) -> tuple[dict[str, Any] | None, str | None]:
    """A JSON object the run wrote from another run's figures (baseline.json, fleet-peers.json), checked as
    an object only (its values are checked where they are compared), and why there is none: as the
    collector said it, or, the usual case, ``none_given`` in the same words wherever the file is read."""
    try:
        record = r.json(name, dict[str, Any])
    except Unreadable as err:
        return None, str(err)
    if record is None:
        given = name in r.evidence.absent or name in r.problems or name in r.evidence.unreadable
        return None, r.why_absent(name) if given else none_given
    return record, None


def _baseline(r: _Reader) -> dict[str, Any]:
    record, missing = _record_file(r, ev.BASELINE, "none was given")
    return {"baseline": record, "baseline_missing": missing}


def _fleet_peers(r: _Reader) -> dict[str, Any]:
    record, missing = _record_file(r, ev.FLEET_PEERS, "not a fleet run")
    return {"fleet_peers": record, "fleet_peers_missing": missing}


def _diag(r: _Reader, whole: bool = True) -> dict[str, Any]:
    """diag.json as facts, or why there are none (absent, or unreadable: then also listed in ``unreadable``).

    ``whole`` False (the diag tier is not selected): only what the other tiers judge is validated and kept,
    the record and the samples taken during the pinned copies (PCIE-GEN's under-load half); the soak's
    samples, most of the file, are left unread."""
    parse = _diag_record if whole else _diag_copies
    try:
        facts = r.parse(ev.DIAG, parse)
    except Unreadable as err:
        return {"diag": None, "diag_missing": str(err)}
    if facts is None:
        return {"diag": None, "diag_missing": r.why_absent(ev.DIAG)}
    return {"diag": facts, "diag_missing": None}


def _diag_record(text: str) -> DiagFacts:
    return from_dict(DiagFacts, load_json(text))


def _diag_copies(text: str) -> DiagFacts:
    raw = load_json(text)
    samples = raw.get("samples") if isinstance(raw, dict) else None
    windows = _copy_windows(raw)
    if windows is None or not isinstance(samples, list):
        return from_dict(DiagFacts, raw)  # not the expected shape: judged whole, so it is refused as it would be

    def outside(sample: Any) -> bool:  # only a well-formed time outside every window is left out
        t = sample.get("t") if isinstance(sample, dict) else None
        return isinstance(t, (int, float)) and not isinstance(t, bool) and not any(a <= t <= b for a, b in windows)

    return from_dict(DiagFacts, {**raw, "samples": [s for s in samples if not outside(s)]})


def _copy_windows(raw: Any) -> list[tuple[float, float]] | None:
    """(start, end) of each GPU's own pinned copies in a raw diag record, or None when they cannot be read."""
    try:
        alone = raw["bandwidth"]["alone"]
        windows = [(float(rate["start_t"]), float(rate["end_t"])) for copies in alone for rate in (copies["h2d"], copies["d2h"])]
    except (KeyError, TypeError, ValueError):
        return None
    return windows if all(math.isfinite(a) and math.isfinite(b) for a, b in windows) else None
