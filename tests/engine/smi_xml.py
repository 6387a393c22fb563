"""``nvidia-smi -q -x`` XML built from a bundled nvml.json, for simulated fleet hosts.

The dual-p40 evidence sets hold no XML capture; the values here are nvml.json's, laid out in the element
structure of the real captures (tests/data/captures/nvidia-smi-xml, fixtures/hosts/h100-live): a
``<!-- constructed -->`` comment and ``<constructed_from>`` say it is not a capture. Values nvml.json does
not report are written ``N/A``, as nvidia-smi writes them.
"""

from __future__ import annotations

import json
from xml.sax.saxutils import escape


def _v(value, unit: str = "") -> str:
    if value is None:
        return "N/A"
    if isinstance(value, bool):
        return "Enabled" if value else "Disabled"
    if isinstance(value, float):
        return f"{value:.2f}{unit}"
    return f"{value}{unit}"


def _yes(value) -> str:
    return "N/A" if value is None else ("Yes" if value else "No")


def _gpu(g: dict) -> str:
    device = f"0x{(g.get('pci_device_id') or 0) << 16 | 0x10DE:08X}" if g.get("pci_device_id") else "N/A"
    sub = f"0x{g['pci_subsystem_id']:08X}" if g.get("pci_subsystem_id") is not None else "N/A"
    bus = g.get("bus_id") or "N/A"
    return f"""\t<gpu id="{escape(bus)}">
\t\t<product_name>{escape(_v(g.get('name')))}</product_name>
\t\t<product_architecture>{escape(_v(g.get('architecture')))}</product_architecture>
\t\t<persistence_mode>{_v(g.get('persistence_mode'))}</persistence_mode>
\t\t<serial>{escape(_v(g.get('serial')))}</serial>
\t\t<uuid>{escape(_v(g.get('uuid')))}</uuid>
\t\t<vbios_version>{escape(_v(g.get('vbios_version')))}</vbios_version>
\t\t<pci>
\t\t\t<pci_bus_id>{escape(bus)}</pci_bus_id>
\t\t\t<pci_device_id>{device}</pci_device_id>
\t\t\t<pci_sub_system_id>{sub}</pci_sub_system_id>
\t\t\t<pci_gpu_link_info>
\t\t\t\t<pcie_gen>
\t\t\t\t\t<max_link_gen>{_v(g.get('pcie_gen_max'))}</max_link_gen>
\t\t\t\t\t<current_link_gen>{_v(g.get('pcie_gen_current'))}</current_link_gen>
\t\t\t\t</pcie_gen>
\t\t\t\t<link_widths>
\t\t\t\t\t<max_link_width>{_v(g.get('pcie_width_max'), 'x')}</max_link_width>
\t\t\t\t\t<current_link_width>{_v(g.get('pcie_width_current'), 'x')}</current_link_width>
\t\t\t\t</link_widths>
\t\t\t</pci_gpu_link_info>
\t\t</pci>
\t\t<fb_memory_usage>
\t\t\t<total>{_v(g.get('memory_total_mib'), ' MiB')}</total>
\t\t</fb_memory_usage>
\t\t<bar1_memory_usage>
\t\t\t<total>{_v(g.get('bar1_total_mib'), ' MiB')}</total>
\t\t</bar1_memory_usage>
\t\t<compute_cap>{escape(_v(g.get('compute_capability')))}</compute_cap>
\t\t<ecc_mode>
\t\t\t<current_ecc>{_v(g.get('ecc_enabled'))}</current_ecc>
\t\t\t<pending_ecc>{_v(g.get('ecc_pending_enabled'))}</pending_ecc>
\t\t</ecc_mode>
\t\t<ecc_errors>
\t\t\t<volatile>
\t\t\t\t<double_bit>
\t\t\t\t\t<total>{_v(g.get('ecc_uncorrected_volatile'))}</total>
\t\t\t\t</double_bit>
\t\t\t</volatile>
\t\t\t<aggregate>
\t\t\t\t<double_bit>
\t\t\t\t\t<total>{_v(g.get('ecc_uncorrected_aggregate'))}</total>
\t\t\t\t</double_bit>
\t\t\t</aggregate>
\t\t</ecc_errors>
\t\t<retired_pages>
\t\t\t<multiple_single_bit_retirement>
\t\t\t\t<retired_count>{_v(g.get('retired_pages_sbe'))}</retired_count>
\t\t\t</multiple_single_bit_retirement>
\t\t\t<double_bit_retirement>
\t\t\t\t<retired_count>{_v(g.get('retired_pages_dbe'))}</retired_count>
\t\t\t</double_bit_retirement>
\t\t\t<pending_retirement>{_yes(g.get('retired_pages_pending'))}</pending_retirement>
\t\t</retired_pages>
\t\t<temperature>
\t\t\t<gpu_temp_max_threshold>{_v(g.get('temp_shutdown_c'), ' C')}</gpu_temp_max_threshold>
\t\t\t<gpu_temp_slow_threshold>{_v(g.get('temp_slowdown_c'), ' C')}</gpu_temp_slow_threshold>
\t\t</temperature>
\t\t<power_readings>
\t\t\t<enforced_power_limit>{_v(g.get('power_enforced_limit_w'), ' W')}</enforced_power_limit>
\t\t\t<default_power_limit>{_v(g.get('power_default_limit_w'), ' W')}</default_power_limit>
\t\t\t<max_power_limit>{_v(g.get('power_max_limit_w'), ' W')}</max_power_limit>
\t\t</power_readings>
\t</gpu>
"""


def from_nvml(nvml_json: str, source: str) -> str:
    snap = json.loads(nvml_json)
    gpus = snap.get("gpus", []) if snap.get("ok") else []
    return ("<?xml version=\"1.0\" ?>\n"
            f"<!-- constructed by tests/engine/smi_xml.py from {escape(source)}: not a capture -->\n"
            "<nvidia_smi_log>\n"
            f"\t<constructed_from>{escape(source)}</constructed_from>\n"
            f"\t<driver_version>{escape(_v(snap.get('driver_version')))}</driver_version>\n"
            f"\t<cuda_version>{escape(_v(snap.get('cuda_driver_version')))}</cuda_version>\n"
            f"\t<attached_gpus>{len(gpus)}</attached_gpus>\n"
            + "".join(_gpu(g) for g in gpus) + "</nvidia_smi_log>\n")
