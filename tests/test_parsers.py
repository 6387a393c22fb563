"""Parsers over every relevant real capture in tests/data/captures (sources in its SOURCES.md)."""

from __future__ import annotations

import pytest

from gpuaccept.parse.kernel_log import parse_kernel_log
from gpuaccept.parse.lspci import parse_lspci
from gpuaccept.parse.nvidia_smi_xml import parse_nvidia_smi_xml
from gpuaccept.parse.pci_ids import generation_of, normalise_bus_id
from gpuaccept.parse.proc_version import parse_proc_version
from gpuaccept.parse.topo import parse_topo
from tests.conftest import CAPTURES


def read(path: str) -> str:
    return (CAPTURES / path).read_text()


@pytest.mark.parametrize("path", sorted(p.name for p in (CAPTURES / "nvidia-smi-xml").iterdir()))
def test_every_nvidia_smi_xml_schema_parses(path):
    log = parse_nvidia_smi_xml(read(f"nvidia-smi-xml/{path}"))
    assert log.driver_version and len(log.gpus) == 1
    gpu = log.gpus[0]
    assert gpu.uuid.startswith("GPU-") and gpu.name and gpu.memory_total_mib > 0
    assert gpu.bus_id.count(":") == 2 and gpu.pcie_width_max == 16


def test_xml_values_by_schema():
    t4 = parse_nvidia_smi_xml(read("nvidia-smi-xml/tesla-t4-driver-515-v11.xml")).gpus[0]
    assert (t4.pcie_width_current, t4.power_enforced_limit_w, t4.retired_pages_pending) == (8, 70.0, False)
    assert (t4.ecc_enabled, t4.ecc_uncorrected_volatile, t4.pci_device_id) == (True, 0, 0x1EB8)
    a100 = parse_nvidia_smi_xml(read("nvidia-smi-xml/a100-sxm4-driver-535-v12.xml")).gpus[0]
    assert (a100.ecc_uncorrected_aggregate, a100.power_default_limit_w, a100.bar1_total_mib) == (0, 500.0, 131072)
    v13 = parse_nvidia_smi_xml(read("nvidia-smi-xml/rtx-3080-driver-595-v13.xml"))
    assert v13.driver_version == "595.58.03" and v13.gpus[0].power_max_limit_w == 336.0
    old = parse_nvidia_smi_xml(read("nvidia-smi-xml/quadro-p400-driver-418-nodtd.xml")).gpus[0]
    assert old.power_default_limit_w is None and "power_default_limit_w" in old.unreported
    assert (old.pcie_gen_max, old.pcie_gen_current) == (3, 1)


def test_lspci_p40_header():
    (dev,) = parse_lspci(read("lspci/p40-nnk-vfio-pci-bound.txt"))
    assert (dev.bus_id, dev.vendor, dev.device, dev.class_code) == ("0000:04:00.0", 0x10DE, 0x1B38, "0302")
    assert dev.driver_in_use == "vfio-pci" and dev.is_gpu


def test_lspci_link_wording_ok_and_downgraded():
    text = "01:00.0 VGA compatible controller [0300]: NVIDIA Corporation AD102 [10de:2684]\n" + read(
        "lspci/rtx4090-riser-lnkcap-lnksta-downgraded-ok-2lines.txt")
    (dev,) = parse_lspci(text)
    assert (dev.link_cap_speed_gts, dev.link_cap_width) == (16.0, 16)
    assert (dev.link_sta_speed_gts, dev.link_sta_width) == (2.5, 16)
    assert generation_of(dev.link_cap_speed_gts) == 4 and generation_of(dev.link_sta_speed_gts) == 1


def test_lspci_without_root_and_old_pci_ids():
    devices = parse_lspci(read("lspci/h100-shown-as-GA103-nonroot-access-denied-partial.txt"))
    # The capture starts inside a block (ignored) and ends one line into the last block.
    assert [d.bus_id for d in devices] == ["0000:3b:00.0", "0000:3c:00.0"]
    assert devices[0].capabilities_readable is False and devices[0].driver_in_use == "nvidia"
    assert devices[0].bars_mib["2"] == 128 * 1024 and devices[0].class_code == "0302"
    p100 = parse_lspci(read("lspci/p100-2gpu-vnn-old-pciids-device-15f8.txt"))
    assert [d.device for d in p100] == [0x15F8, 0x15F8] and p100[0].bars_mib["#1"] == 16 * 1024


def test_lspci_domain_and_plain_device_names():
    (a400,) = parse_lspci(read("lspci/rtx-a400-aarch64-iommu-group-head-partial.txt"))
    assert (a400.bus_id, a400.vendor, a400.device, a400.class_code) == ("0004:01:00.0", 0x10DE, 0x25B2, "0300")
    (a100,) = parse_lspci(read("lspci/a100-sxm4-vvnn-head-partial.txt"))
    assert a100.device == 0x20B0 and a100.link_cap_width is None


@pytest.mark.parametrize(("path", "version", "flavor"), [
    ("driver/proc-driver-nvidia-version-550.54.14.txt", "550.54.14", "proprietary"),
    ("driver/proc-driver-nvidia-version-proprietary-384.98.txt", "384.98", "proprietary"),
    ("driver/proc-driver-nvidia-version-open-kmod-525.60.11-arch.txt", "525.60.11", "open"),
    ("driver/proc-driver-nvidia-version-open-kmod-565.57.01.txt", "565.57.01", "open"),
])
def test_proc_driver_version(path, version, flavor):
    kmod = parse_proc_version(read(path))
    assert (kmod.version, kmod.flavor) == (version, flavor)


def test_xid_events_with_dmesg_T_timestamps():
    log = parse_kernel_log(read("driver/dmesg-T-xid-43-31-94-driver-535.183.01.txt"))
    assert [(x.number, x.bus_id) for x in log.xid_events] == [
        (43, "0000:00:05"), (43, "0000:00:05"), (31, "0000:00:07"), (94, "0000:00:08")]
    assert log.xid_events[0].time == "[Wed Jul 31 23:14:18 2024]"


@pytest.mark.parametrize(("path", "client", "kernel"), [
    ("driver/dmesg-api-mismatch-515.48.07-vs-510.73.05.txt", "515.48.07", "510.73.05"),
    ("driver/dmesg-api-mismatch-newformat-client-pid-595.84-vs-595.80.txt", "595.84", "595.80"),
    ("driver/syslog-api-mismatch-012-escaped-535.54.03-vs-530.30.02.txt", "535.54.03", "530.30.02"),
])
def test_api_mismatch_in_every_log_format(path, client, kernel):
    (notice,) = parse_kernel_log(read(path)).notices
    assert notice.kind == "api-mismatch" and notice.values == {"client": client, "kernel": kernel}


def test_driver_failure_notices():
    fallen = parse_kernel_log(read("driver/dmesg-fallen-off-bus-10de-26b5-open-570.158.01.txt")).notices
    assert [(n.kind, n.bus_id) for n in fallen] == [("fallen-off-bus", "0000:b3:00.0")]
    open_kmod = parse_kernel_log(read("driver/dmesg-open-kmod-gsp-unsupported-pascal-10de-1b82.txt")).notices
    assert [(n.kind, n.bus_id, n.values["pci_id"]) for n in open_kmod] == [
        ("open-kmod-unsupported", "0000:02:00.0", "10de:1b82")]
    rm = parse_kernel_log(read("driver/dmesg-rminitadapter-failed-driver-550.127.05-aarch64.txt")).notices
    assert len(rm) == 4 and {n.bus_id for n in rm} == {"0000:01:00.0"}
    assert rm[0].values["code"] == "0x24:0x72:1568"


@pytest.mark.parametrize(("path", "expected"), [
    ("gtx1080ti-2gpu-PHB-no-gpu-numa-id-col.txt", {(0, 1): "PHB"}),
    ("rtx5090-2gpu-PHB-tabs.txt", {(0, 1): "PHB"}),
    ("5gpu-SYS-NODE-PHB-2numa-driver-580.txt", {(0, 1): "SYS", (1, 2): "PHB", (1, 3): "NODE", (3, 4): "PHB"}),
    ("a10-4gpu-SYS-2nic.txt", {(0, 1): "SYS"}),
    ("a100-8gpu-NV12-17nic.txt", {(0, 7): "NV12"}),
    ("rtx4090-8gpu-2nic-SYS-tabs-matrix-only.txt", {(0, 7): "SYS"}),
])
def test_topology_matrix(path, expected):
    links = {(link.a, link.b): link.relation for link in parse_topo(read(f"nvidia-smi-topo/{path}"))}
    gpus = max(b for _, b in links) + 1
    assert len(links) == gpus * (gpus - 1) // 2
    for pair, relation in expected.items():
        assert links[pair] == relation


def test_bus_id_normalisation():
    assert normalise_bus_id("00000000:83:00.0") == "0000:83:00.0"
    assert normalise_bus_id("2D:00.0") == "0000:2d:00.0"
    assert normalise_bus_id("PCI:0000:00:05") == "0000:00:05"


def test_live_h100_capture_agrees_with_its_nvml_snapshot():
    # fixtures/hosts/h100-live was saved by a live run on a real H100: two sources, one card.
    import json

    from gpuaccept.facts import GpuFacts, from_dict
    from tests.conftest import HOSTS

    live = HOSTS / "h100-live"
    xml = parse_nvidia_smi_xml((live / "nvidia-smi-q.xml").read_text())
    nvml = json.loads((live / "nvml.json").read_text())
    assert xml.driver_version == nvml["driver_version"] == "580.159.04"
    from_xml, from_nvml = xml.gpus[0], from_dict(GpuFacts, nvml["gpus"][0])
    for field in ("name", "uuid", "serial", "bus_id", "pci_device_id", "vbios_version", "memory_total_mib",
                  "bar1_total_mib", "ecc_enabled", "persistence_mode", "power_default_limit_w",
                  "power_enforced_limit_w", "pcie_gen_max", "pcie_width_max"):
        want = getattr(from_nvml, field)
        assert getattr(from_xml, field) == (normalise_bus_id(want) if field == "bus_id" else want), field
    # This XML gives thresholds only relative to T.Limit (gpu_temp_slow_tlimit_threshold -2 C): NVML's
    # absolute 89 C is the one to judge by, and the XML parser must not invent one.
    assert from_xml.temp_slowdown_c is None and from_nvml.temp_slowdown_c == 89
    version = parse_proc_version((live / "proc-driver-nvidia-version.txt").read_text())
    assert (version.version, version.flavor) == ("580.159.04", "open")
