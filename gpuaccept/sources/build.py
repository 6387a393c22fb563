"""Evidence -> HostFacts. Live runs and replays both end here, so they cannot disagree.

GPU facts come from ``nvml.json`` (the suite's own snapshot) when present, else from
``nvidia-smi -q -x``; PCI facts from ``lspci`` output, else the sysfs listing.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from typing import Any, TypeVar

from gpuaccept import evidence as ev
from gpuaccept.facts import (
    Benchmark,
    ComputeDevice,
    DockerFacts,
    DriverFacts,
    GpuFacts,
    GpuLink,
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
from gpuaccept.sources import older_snapshot

T = TypeVar("T")


class Unreadable(Exception):
    """An evidence file exists but cannot be parsed."""


def build_facts(evidence: ev.Evidence, *, mode: str, source: str) -> HostFacts:
    nvml, gpus, driver_user, cuda, topo_nvml = _gpus(evidence)
    return HostFacts(
        hostname=evidence.meta.get("hostname") or "unknown-host",
        mode=mode,
        source=source,
        captured_at=evidence.meta.get("captured_at", ""),
        nvml=nvml,
        gpus=gpus,
        driver=_driver(evidence, driver_user, cuda),
        pci=_pci(evidence),
        kernel=_kernel(evidence),
        topology=topo_nvml or _topology(evidence),
        docker=_docker(evidence),
        ollama=_ollama(evidence),
        persistenced=_persistenced(evidence),
        provenance=_provenance(evidence),
        smi=_smi(evidence, nvml),
        host_info=_host_info(evidence),
    )


def _parse(evidence: ev.Evidence, name: str, parser: Callable[[str], T]) -> T | None:
    text = evidence.text(name)
    if text is None:
        return None
    try:
        return parser(text)
    except Exception as err:  # any parser failure means the same thing: this file cannot be read
        raise Unreadable(f"{name} could not be read: {type(err).__name__}: {err}") from err


def _gpus(evidence: ev.Evidence):
    try:
        snap = _parse(evidence, ev.NVML, json.loads)
        if snap is not None:
            status, gpus, driver, cuda, topology = _from_snapshot(snap)
            if status.ok:
                xml = _parse(evidence, ev.SMI_XML, parse_nvidia_smi_xml)
                gpus = older_snapshot.fill(gpus, snap.get("gpus", []), xml.gpus if xml else None)
            return status, gpus, driver, cuda, topology
        log = _parse(evidence, ev.SMI_XML, parse_nvidia_smi_xml)
    except Unreadable as err:
        return NvmlStatus(ok=False, error="UNREADABLE_EVIDENCE", detail=str(err)), (), None, None, None
    if log is not None:
        return NvmlStatus(ok=True, source=ev.SMI_XML), log.gpus, log.driver_version, log.cuda_version, None
    reason = evidence.why_absent(ev.NVML)
    return NvmlStatus(ok=False, error="MISSING_EVIDENCE", detail=reason), (), None, None, None


def _smi(evidence: ev.Evidence, nvml: NvmlStatus) -> SmiFacts:
    """The XML beside a readable nvml.json, so the checks can tell when the two disagree."""
    if not (nvml.ok and nvml.source == ev.NVML):
        return SmiFacts(missing=f"the GPU inventory is {nvml.source or 'not readable'}: nothing to compare with")
    try:
        log = _parse(evidence, ev.SMI_XML, parse_nvidia_smi_xml)
    except Unreadable as err:
        return SmiFacts(error=str(err))
    if log is None:
        return SmiFacts(missing=evidence.why_absent(ev.SMI_XML))
    return SmiFacts(gpus=log.gpus, driver_version=log.driver_version)


def _from_snapshot(snap: dict[str, Any]):
    if not snap.get("ok"):
        status = NvmlStatus(ok=False, source=ev.NVML, error=snap.get("error", "UNKNOWN"),
                            detail=snap.get("detail", ""))
        return status, (), None, None, None
    gpus = []
    for raw in snap.get("gpus", []):
        values = dict(raw)
        if values.get("bus_id"):
            values["bus_id"] = normalise_bus_id(values["bus_id"])
        gpus.append(from_dict(GpuFacts, values))
    links = tuple(GpuLink(t["a"], t["b"], t["relation"]) for t in snap.get("topology", []))
    topology = TopologyFacts(links=links, source=ev.NVML) if len(gpus) > 1 else None
    status = NvmlStatus(ok=True, source=ev.NVML)
    return status, tuple(gpus), snap.get("driver_version"), snap.get("cuda_driver_version"), topology


def _driver(evidence: ev.Evidence, user: str | None, cuda: str | None) -> DriverFacts:
    try:
        kmod = _parse(evidence, ev.PROC_VERSION, parse_proc_version)
    except Unreadable as err:
        return DriverFacts(nvml_version=user, cuda_driver_version=cuda, kernel_module_missing=str(err))
    if kmod is None:
        missing = (evidence.why_absent(ev.PROC_VERSION) if evidence.text(ev.PROC_VERSION) is None
                   else f"{ev.PROC_VERSION} holds no 'NVRM version' line")
        return DriverFacts(nvml_version=user, cuda_driver_version=cuda, kernel_module_missing=missing)
    return DriverFacts(nvml_version=user, cuda_driver_version=cuda, kernel_module_version=kmod.version,
                       kernel_module_flavor=kmod.flavor, kernel_module_line=kmod.line)


def _pci(evidence: ev.Evidence) -> PciFacts:
    for name, parser in ((ev.LSPCI, parse_lspci), (ev.SYSFS_PCI, parse_sysfs_pci)):
        try:
            devices = _parse(evidence, name, parser)
        except Unreadable as err:
            return PciFacts(source=name, missing=str(err))
        if devices is not None:
            return PciFacts(devices=tuple(devices), source=name)
    return PciFacts(missing=f"{evidence.why_absent(ev.LSPCI)}; {evidence.why_absent(ev.SYSFS_PCI)}")


def _kernel(evidence: ev.Evidence) -> KernelFacts:
    modules: tuple[str, ...] = ()
    modules_missing = log_missing = None
    xids: tuple = ()
    notices: tuple = ()
    try:
        parsed = _parse(evidence, ev.LSMOD, parse_lsmod)
        modules = parsed or ()
        modules_missing = None if parsed is not None else evidence.why_absent(ev.LSMOD)
    except Unreadable as err:
        modules_missing = str(err)
    try:
        log = _parse(evidence, ev.DMESG, parse_kernel_log)
        if log is None:
            log_missing = evidence.why_absent(ev.DMESG)
        else:
            xids, notices = log.xid_events, log.notices
    except Unreadable as err:
        log_missing = str(err)
    return KernelFacts(modules=modules, modules_missing=modules_missing, xid_events=xids, notices=notices,
                       log_missing=log_missing)


def _provenance(evidence: ev.Evidence) -> str:
    """host.json's ``provenance``: shown with every replay so a constructed example is never taken for a
    measurement. Untrusted text: one printable line, bounded."""
    value = evidence.meta.get("provenance")
    if not isinstance(value, str):
        return ""
    return "".join(ch if ch.isprintable() else " " for ch in value)[:300]


_HOST_FIELDS = ("kernel", "os", "cpu_model", "cpu_count", "mem_total_mib", "bios", "board")


def _host_info(evidence: ev.Evidence) -> HostInfo:
    try:
        info = _parse(evidence, ev.HOST_INFO, parse_host_info)
    except Unreadable as err:
        return HostInfo(unreported=dict.fromkeys(_HOST_FIELDS, str(err)))
    return info if info is not None else HostInfo(unreported=dict.fromkeys(_HOST_FIELDS, evidence.why_absent(ev.HOST_INFO)))


def _persistenced(evidence: ev.Evidence) -> UnitFacts:
    try:
        unit = _parse(evidence, ev.PERSISTENCED, parse_systemctl_show)
    except Unreadable as err:
        return UnitFacts(missing=str(err))
    return unit if unit is not None else UnitFacts(missing=evidence.why_absent(ev.PERSISTENCED))


def _topology(evidence: ev.Evidence) -> TopologyFacts:
    try:
        links = _parse(evidence, ev.TOPO, parse_topo)
    except Unreadable as err:
        return TopologyFacts(source=ev.TOPO, missing=str(err))
    if links is None:
        return TopologyFacts(missing=evidence.why_absent(ev.TOPO))
    return TopologyFacts(links=tuple(links), source=ev.TOPO)


def _docker(evidence: ev.Evidence) -> DockerFacts:
    try:
        info = _parse(evidence, ev.DOCKER_INFO, json.loads)
        engine = None if info is None else parse_info(info)
        if engine is not None and engine.reachable:
            probe = _parse(evidence, ev.DOCKER_PROBE, json.loads)
            engine = dataclasses.replace(
                engine, probe=None if probe is None else parse_probe(probe),
                probe_missing=evidence.why_absent(ev.DOCKER_PROBE) if probe is None else None)
    except Unreadable as err:
        return DockerFacts(engine_missing=str(err), container_missing=str(err))
    if engine is None:
        why = evidence.why_absent(ev.DOCKER_INFO)
        return DockerFacts(engine_missing=why, container_missing=why)
    try:
        items = _parse(evidence, ev.DOCKER_INSPECT, json.loads)
    except Unreadable as err:
        return DockerFacts(engine=engine, container_missing=str(err))
    if items is None:
        return DockerFacts(engine=engine, container_missing=evidence.why_absent(ev.DOCKER_INSPECT))
    name = evidence.meta.get("container", "ollama")
    container = parse_inspect(items, name)
    text = evidence.text(ev.CONTAINER_SMI)
    if text is None:
        container = dataclasses.replace(container, gpus_seen_missing=evidence.why_absent(ev.CONTAINER_SMI))
    else:
        seen, error = parse_container_smi(text)
        container = dataclasses.replace(container, gpus_seen=seen, gpus_seen_error=error)
    return DockerFacts(engine=engine, container=container)


def model_from_api(raw: dict[str, Any]) -> OllamaModel:
    """A model of /api/tags or /api/ps (the client drops ``name``; the API has both)."""
    details = raw.get("details") or {}
    vram = raw.get("size_vram")
    return OllamaModel(name=raw.get("model") or raw.get("name") or "", size=int(raw.get("size") or 0),
                       size_vram=None if vram is None else int(vram), family=details.get("family") or "",
                       parameter_size=details.get("parameter_size") or "",
                       quantization=details.get("quantization_level") or "",
                       context_length=raw.get("context_length"))


def _ollama(evidence: ev.Evidence) -> OllamaFacts:
    values: dict[str, Any] = {}
    try:
        log = _parse(evidence, ev.OLLAMA_LOG, parse_ollama_log)
        if log is None:
            values["log_missing"] = evidence.why_absent(ev.OLLAMA_LOG)
        else:
            values.update(
                devices=tuple(ComputeDevice(d.id, d.library, d.compute, d.card, d.runner, d.pci_id) for d in log.devices),
                trouble=log.trouble, log_version=log.version or "", server_env=tuple(sorted(log.server_env.items())),
                model_mib=tuple(sorted(log.model_mib.items())), log_starts=log.starts, runners_seen=log.runners,
                offloaded=log.offloaded)
            if not log.judgeable:
                values.update(devices=None, log_missing=f"{ev.OLLAMA_LOG} has no `inference compute` line for the "
                              f"server's current start (start {log.starts} of the log): cut before GPU discovery ended")
    except Unreadable as err:
        values["log_missing"] = str(err)
    try:
        version = _parse(evidence, ev.OLLAMA_VERSION, json.loads)
        tags = _parse(evidence, ev.OLLAMA_TAGS, json.loads)
        ps = _parse(evidence, ev.OLLAMA_PS, json.loads)
        bench = _parse(evidence, ev.BENCHMARK, json.loads)
    except Unreadable as err:
        return OllamaFacts(missing=str(err), **values)
    if version is None:
        values["missing"] = evidence.why_absent(ev.OLLAMA_VERSION)
    elif "version" in version:
        values.update(reachable=True, version=str(version["version"]))
    else:
        values.update(reachable=False, error=str(version.get("error", "no version in the answer")))
    if tags is None:
        values["models_missing"] = evidence.why_absent(ev.OLLAMA_TAGS)
    else:
        values["models"] = tuple(model_from_api(m) for m in tags.get("models") or ())
    if ps is not None:
        values["loaded"] = tuple(model_from_api(m) for m in ps.get("models") or ())
    if bench is None:
        values["benchmark_missing"] = evidence.why_absent(ev.BENCHMARK)
    else:
        loaded = tuple(model_from_api(m) for m in bench.get("loaded") or ())
        at_load = tuple(model_from_api(m) for m in bench.get("loaded_at_load") or ())
        values["benchmark"] = dataclasses.replace(from_dict(Benchmark, {**bench, "loaded": [], "loaded_at_load": []}),
                                                  loaded=loaded, loaded_at_load=at_load)
    return OllamaFacts(**values)
