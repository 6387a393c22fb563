"""``nvidia-smi -q -x`` XML -> GPU facts, for every schema seen in the field.

Handles files without a DOCTYPE (R418) and the v11, v12 and v13 DTDs: power limits moved from
``power_readings`` (``enforced_power_limit``) to ``gpu_power_readings`` (``current_power_limit``);
uncorrected ECC moved from ``double_bit/total`` to ``dram_uncorrectable``; the pending-retirement
flag is ``pending_retirement`` or ``pending_blacklist``. "N/A" and missing elements become
"not reported" with the reason recorded. Parsed with defusedxml: the file is data from another host.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from xml.etree.ElementTree import Element

from defusedxml import ElementTree

from gpuaccept.facts import GpuFacts
from gpuaccept.parse.pci_ids import normalise_bus_id

NOT_IN_XML = "not reported in nvidia-smi -q -x"


@dataclass(frozen=True)
class SmiLog:
    driver_version: str | None
    cuda_version: str | None
    gpus: tuple[GpuFacts, ...]


def parse_nvidia_smi_xml(text: str) -> SmiLog:
    root = ElementTree.fromstring(text.encode() if isinstance(text, str) else text)
    driver = _text(root, "driver_version") or _text(root, "kmd_version")
    cuda = _text(root, "cuda_version") or _text(root, "cuda_umd_version")
    gpus = tuple(_gpu(i, g) for i, g in enumerate(root.findall("gpu")))
    return SmiLog(driver, cuda, gpus)


def _gpu(index: int, g: Element) -> GpuFacts:
    values = {
        "name": _text(g, "product_name"),
        "uuid": _text(g, "uuid"),
        "serial": _text(g, "serial"),
        "bus_id": _map(_text(g, "pci/pci_bus_id") or g.get("id"), normalise_bus_id),
        "pci_device_id": _map(_text(g, "pci/pci_device_id"), lambda v: int(v, 16) >> 16),
        "pci_subsystem_id": _map(_text(g, "pci/pci_sub_system_id"), lambda v: int(v, 16)),
        "vbios_version": _text(g, "vbios_version"),
        "architecture": _text(g, "product_architecture"),
        "compute_capability": _text(g, "compute_cap"),
        "memory_total_mib": _number(g, "fb_memory_usage/total", int),
        "ecc_enabled": _enabled(g, "ecc_mode/current_ecc"),
        "ecc_pending_enabled": _enabled(g, "ecc_mode/pending_ecc"),
        "ecc_uncorrected_volatile": _first_number(
            g, ["ecc_errors/volatile/dram_uncorrectable", "ecc_errors/volatile/double_bit/total"]),
        "ecc_uncorrected_aggregate": _first_number(
            g, ["ecc_errors/aggregate/dram_uncorrectable", "ecc_errors/aggregate/double_bit/total"]),
        "bar1_total_mib": _number(g, "bar1_memory_usage/total", int),
        "persistence_mode": _enabled(g, "persistence_mode"),
        "power_default_limit_w": _first_number(
            g, ["gpu_power_readings/default_power_limit", "power_readings/default_power_limit"], float),
        "power_enforced_limit_w": _first_number(
            g, ["gpu_power_readings/current_power_limit", "power_readings/enforced_power_limit"], float),
        "power_max_limit_w": _first_number(
            g, ["gpu_power_readings/max_power_limit", "power_readings/max_power_limit"], float),
        "pcie_gen_current": _number(g, "pci/pci_gpu_link_info/pcie_gen/current_link_gen", int),
        "pcie_gen_max": _number(g, "pci/pci_gpu_link_info/pcie_gen/max_link_gen", int),
        "pcie_width_current": _number(g, "pci/pci_gpu_link_info/link_widths/current_link_width", int),
        "pcie_width_max": _number(g, "pci/pci_gpu_link_info/link_widths/max_link_width", int),
        "retired_pages_sbe": _number(g, "retired_pages/multiple_single_bit_retirement/retired_count", int),
        "retired_pages_dbe": _number(g, "retired_pages/double_bit_retirement/retired_count", int),
        "retired_pages_pending": _first_yes(
            g, ["retired_pages/pending_retirement", "retired_pages/pending_blacklist"]),
        "remapped_rows_correctable": _number(g, "remapped_rows/remapped_row_corr", int),
        "remapped_rows_uncorrectable": _number(g, "remapped_rows/remapped_row_unc", int),
        "remapped_rows_pending": _first_yes(g, ["remapped_rows/remapped_row_pending"]),
        "remapped_rows_failure": _first_yes(g, ["remapped_rows/remapped_row_failure"]),
        "temp_slowdown_c": _number(g, "temperature/gpu_temp_slow_threshold", int),
        "temp_shutdown_c": _number(g, "temperature/gpu_temp_max_threshold", int),
    }
    unreported = {k: NOT_IN_XML for k, v in values.items() if v is None}
    return GpuFacts(index=index, unreported=unreported, **values)


def _text(node: Element, path: str) -> str | None:
    found = node.find(path)
    if found is None or found.text is None:
        return None
    value = found.text.strip()
    return None if value in ("", "N/A", "Unknown Error", "[N/A]") else value


def _map(value, fn):
    return None if value is None else fn(value)


_NUMBER = re.compile(r"^-?\d+(?:\.\d+)?")


def _number(node: Element, path: str, kind=int):
    value = _text(node, path)
    m = _NUMBER.match(value) if value else None
    return kind(float(m.group(0))) if m else None


def _first_number(node: Element, paths: list[str], kind=int):
    return next((v for p in paths if (v := _number(node, p, kind)) is not None), None)


def _enabled(node: Element, path: str) -> bool | None:
    value = _text(node, path)
    return {"Enabled": True, "Disabled": False}.get(value) if value else None


def _first_yes(node: Element, paths: list[str]) -> bool | None:
    for path in paths:
        value = _text(node, path)
        if value in ("Yes", "No"):
            return value == "Yes"
    return None
