"""Build the shipped PTX from its CUDA C with NVRTC (a developer's step; the suite never compiles).

    pip install -e '.[ptx]'   # NVRTC from CUDA 12.1: PTX ISA 8.1, which drivers from R530 on load
    python -m gpuaccept.diag.build_ptx

Two modules: ``kernels`` (memory patterns and the FP32 soak load, for compute_61: every card the suite
serves) and ``kernels_tc`` (the tensor-core soak load, for compute_80: loaded only on such cards). Each
PTX's first line records its source's SHA-256, so a changed source without a rebuild is caught
(gpuaccept.diag.kernels refuses it, and a self-test says so).
"""

from __future__ import annotations

import hashlib
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).parent
#: module -> the architecture its PTX targets (the driver compiles it up for newer cards)
MODULES = {"kernels": "compute_61", "kernels_tc": "compute_80"}
SOURCE = HERE / "kernels.cu"
TARGET = HERE / "kernels.ptx"
ARCH = MODULES["kernels"]  # Pascal: the oldest architecture the bundled profiles accept


def header(source: bytes, nvrtc_version: tuple[int, int], module: str = "kernels") -> str:
    digest = hashlib.sha256(source).hexdigest()
    return (f"// gpuaccept {module}.cu sha256={digest} nvrtc={nvrtc_version[0]}.{nvrtc_version[1]} "
            f"arch={MODULES[module]}\n")


def compile_ptx(source: bytes, module: str = "kernels") -> tuple[str, tuple[int, int]]:
    # NVRTC sets its calling thread's locale to "C" (uselocale) and leaves it so: on the main thread every later
    # open() would read ASCII only. A thread of its own takes that locale with it when it ends.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(_compile, source, module).result()


def _compile(source: bytes, module: str) -> tuple[str, tuple[int, int]]:
    from cuda.bindings import nvrtc

    def ok(result):
        err, *rest = result
        if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            raise RuntimeError(f"NVRTC: {nvrtc.nvrtcGetErrorString(err)[1].decode()}")
        return rest[0] if len(rest) == 1 else rest

    version = tuple(ok(nvrtc.nvrtcVersion()))
    program = ok(nvrtc.nvrtcCreateProgram(source, f"{module}.cu".encode(), 0, [], []))
    options = [f"--gpu-architecture={MODULES[module]}".encode(), b"--std=c++14", b"-default-device"]
    err, = nvrtc.nvrtcCompileProgram(program, len(options), options)
    if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        size = ok(nvrtc.nvrtcGetProgramLogSize(program))
        log = b" " * size
        nvrtc.nvrtcGetProgramLog(program, log)
        raise RuntimeError(f"NVRTC could not compile {module}.cu:\n{log.decode(errors='replace')}")
    size = ok(nvrtc.nvrtcGetPTXSize(program))
    ptx = b" " * size
    ok(nvrtc.nvrtcGetPTX(program, ptx))
    nvrtc.nvrtcDestroyProgram(program)
    return ptx.rstrip(b"\0 ").decode(), version


def build(module: str = "kernels") -> str:
    source = (HERE / f"{module}.cu").read_bytes()
    ptx, version = compile_ptx(source, module)
    return header(source, version, module) + ptx + "\n"


def main() -> int:
    for module in MODULES:
        target = HERE / f"{module}.ptx"
        target.write_text(build(module))
        print(f"wrote {target}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
