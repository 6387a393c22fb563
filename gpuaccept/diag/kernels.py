"""The shipped PTX (``kernels.ptx``, ``kernels_tc.ptx``), each checked against the source it was built from."""

from __future__ import annotations

import hashlib
import re
from importlib import resources

from gpuaccept.errors import SuiteError

NAMES = ("fill", "check", "burn")
TENSOR_NAMES = ("burn_tc",)  # kernels_tc: compute capability 8.0 and later only
TENSOR_MIN_CC = 8
_HEADER = re.compile(r"^// gpuaccept (?P<module>\w+)\.cu sha256=(?P<sha>[0-9a-f]{64}) nvrtc=(?P<nvrtc>\S+) "
                     r"arch=(?P<arch>\S+)$")


class StalePtx(SuiteError):
    """A PTX file was not rebuilt after its source changed (python -m gpuaccept.diag.build_ptx)."""


def _files():
    return resources.files("gpuaccept.diag")


def ptx(module: str = "kernels") -> bytes:
    """The PTX text, NUL-terminated as cuModuleLoadData wants it; StalePtx if it is not its source's."""
    text = (_files() / f"{module}.ptx").read_bytes()
    source = (_files() / f"{module}.cu").read_bytes()
    first = text.split(b"\n", 1)[0].decode(errors="replace")
    m = _HEADER.match(first)
    if m is None or m["module"] != module or m["sha"] != hashlib.sha256(source).hexdigest():
        raise StalePtx(f"{module}.ptx was not built from this {module}.cu: run python -m gpuaccept.diag.build_ptx")
    return text + b"\0"


def describe() -> dict[str, str]:
    """What the evidence records of the kernels: source hash, NVRTC version, target and PTX ISA."""
    text = (_files() / "kernels.ptx").read_text(errors="replace")
    m = _HEADER.match(text.split("\n", 1)[0])
    isa = re.search(r"^\.version (\S+)$", text, re.M)
    return {"source_sha256": m["sha"] if m else "", "nvrtc": m["nvrtc"] if m else "", "arch": m["arch"] if m else "",
            "ptx_isa": isa[1] if isa else ""}
