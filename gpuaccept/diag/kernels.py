"""The shipped PTX (``kernels.ptx``), checked against the source it was built from (``kernels.cu``)."""

from __future__ import annotations

import hashlib
import re
from importlib import resources

NAMES = ("fill", "check", "burn")
_HEADER = re.compile(r"^// gpuaccept kernels\.cu sha256=(?P<sha>[0-9a-f]{64}) nvrtc=(?P<nvrtc>\S+) arch=(?P<arch>\S+)$")


class StalePtx(Exception):
    """kernels.ptx was not rebuilt after kernels.cu changed (python -m gpuaccept.diag.build_ptx)."""


def _files():
    return resources.files("gpuaccept.diag")


def ptx() -> bytes:
    """The PTX text, NUL-terminated as cuModuleLoadData wants it; StalePtx if it is not kernels.cu's."""
    text = (_files() / "kernels.ptx").read_bytes()
    source = (_files() / "kernels.cu").read_bytes()
    first = text.split(b"\n", 1)[0].decode(errors="replace")
    m = _HEADER.match(first)
    if m is None or m["sha"] != hashlib.sha256(source).hexdigest():
        raise StalePtx("kernels.ptx was not built from this kernels.cu: run python -m gpuaccept.diag.build_ptx")
    return text + b"\0"


def describe() -> dict[str, str]:
    """What the evidence records of the kernels: source hash, NVRTC version, target and PTX ISA."""
    text = (_files() / "kernels.ptx").read_text(errors="replace")
    m = _HEADER.match(text.split("\n", 1)[0])
    isa = re.search(r"^\.version (\S+)$", text, re.M)
    return {"source_sha256": m["sha"] if m else "", "nvrtc": m["nvrtc"] if m else "", "arch": m["arch"] if m else "",
            "ptx_isa": isa[1] if isa else ""}
