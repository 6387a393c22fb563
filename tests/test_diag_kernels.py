"""The diag tier's shipped PTX: built from this kernels.cu, loadable by every driver the suite serves.

kernels.ptx is committed (the tested host compiles nothing); its first line carries kernels.cu's
SHA-256, and rebuilding it with NVRTC 12.1 (the [ptx] extra) must give the same bytes.
"""

from __future__ import annotations

import os
import re
import shutil
from importlib import metadata
from pathlib import Path

import pytest

from gpuaccept.diag import build_ptx, kernels
from tests.extras import require

HERE = Path(build_ptx.__file__).parent


def test_shipped_ptx_is_built_from_this_source():
    ptx = kernels.ptx()
    assert ptx.endswith(b"\0") and ptx.count(b"\0") == 1  # cuModuleLoadData reads a C string
    text = ptx[:-1].decode()
    assert text.split("\n", 1)[0] == build_ptx.header((HERE / "kernels.cu").read_bytes(), (12, 1)).rstrip("\n")
    assert sorted(re.findall(r"^\.visible \.entry (\w+)\(", text, re.M)) == sorted(kernels.NAMES)
    described = kernels.describe()
    assert described["nvrtc"] == "12.1" and described["arch"] == "compute_61" and described["ptx_isa"] == "8.1"


def test_ptx_loads_on_pascal_and_on_drivers_from_r530():
    text = (HERE / "kernels.ptx").read_text()
    version = re.search(r"^\.version (\d+)\.(\d+)$", text, re.M)
    assert version and (int(version[1]), int(version[2])) <= (8, 1)  # PTX ISA 8.1: CUDA 12.1, drivers >= R530
    assert re.search(r"^\.target sm_61$", text, re.M)  # Pascal: the driver compiles it up for newer cards


def test_a_changed_source_without_a_rebuild_is_refused(tmp_path, monkeypatch):
    shutil.copy(HERE / "kernels.ptx", tmp_path / "kernels.ptx")
    (tmp_path / "kernels.cu").write_bytes((HERE / "kernels.cu").read_bytes() + b"\n// changed\n")
    monkeypatch.setattr(kernels, "_files", lambda: tmp_path)
    with pytest.raises(kernels.StalePtx, match="python -m gpuaccept.diag.build_ptx"):
        kernels.ptx()


def test_nvrtc_rebuilds_the_shipped_file_byte_for_byte():
    require("ptx", module_level=False)
    try:
        nvrtc = metadata.version("nvidia-cuda-nvrtc-cu12")
    except metadata.PackageNotFoundError:
        why = "NVRTC is not installed: pip install -e '.[ptx]' (or '.[test]')"
        if os.environ.get("GPUACCEPT_REQUIRE_CUDA_BINDINGS"):
            pytest.fail(why + " (GPUACCEPT_REQUIRE_CUDA_BINDINGS is set)", pytrace=False)
        pytest.skip(why)
    assert nvrtc.startswith("12.1."), f"the shipped PTX is NVRTC 12.1's; {nvrtc} writes another"
    for module in build_ptx.MODULES:
        assert build_ptx.build(module).encode() == (HERE / f"{module}.ptx").read_bytes(), module


def test_tensor_core_ptx_is_its_own_module_for_ampere_and_later():
    # mma.sync needs sm_80; the Pascal module must not carry it, or no P40 could load the kernels at all
    text = kernels.ptx("kernels_tc")[:-1].decode()
    assert re.search(r"^\.target sm_80$", text, re.M) and "mma.sync.aligned.m16n8k16" in text
    assert re.findall(r"^\.visible \.entry (\w+)\(", text, re.M) == list(kernels.TENSOR_NAMES)
    assert "mma" not in (HERE / "kernels.ptx").read_text()
