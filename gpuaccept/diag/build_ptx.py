"""Build ``kernels.ptx`` from ``kernels.cu`` with NVRTC (a developer's step; the suite never compiles).

    pip install -e '.[ptx]'   # NVRTC from CUDA 12.1: PTX ISA 8.1, which drivers from R530 on load
    python -m gpuaccept.diag.build_ptx

The PTX's first line records the source's SHA-256, so a changed ``kernels.cu`` without a rebuild is
caught (gpuaccept.diag.kernels refuses it, and a self-test says so).
"""

from __future__ import annotations

import hashlib
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

HERE = Path(__file__).parent
SOURCE = HERE / "kernels.cu"
TARGET = HERE / "kernels.ptx"
ARCH = "compute_61"  # Pascal: the oldest architecture the bundled profiles accept


def header(source: bytes, nvrtc_version: tuple[int, int]) -> str:
    digest = hashlib.sha256(source).hexdigest()
    return f"// gpuaccept kernels.cu sha256={digest} nvrtc={nvrtc_version[0]}.{nvrtc_version[1]} arch={ARCH}\n"


def compile_ptx(source: bytes) -> tuple[str, tuple[int, int]]:
    # NVRTC sets its calling thread's locale to "C" (uselocale) and leaves it so: on the main thread every later
    # open() would read ASCII only. A thread of its own takes that locale with it when it ends.
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(_compile, source).result()


def _compile(source: bytes) -> tuple[str, tuple[int, int]]:
    from cuda.bindings import nvrtc

    def ok(result):
        err, *rest = result
        if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            raise RuntimeError(f"NVRTC: {nvrtc.nvrtcGetErrorString(err)[1].decode()}")
        return rest[0] if len(rest) == 1 else rest

    version = tuple(ok(nvrtc.nvrtcVersion()))
    program = ok(nvrtc.nvrtcCreateProgram(source, b"kernels.cu", 0, [], []))
    options = [f"--gpu-architecture={ARCH}".encode(), b"--std=c++14", b"-default-device"]
    err, = nvrtc.nvrtcCompileProgram(program, len(options), options)
    if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        size = ok(nvrtc.nvrtcGetProgramLogSize(program))
        log = b" " * size
        nvrtc.nvrtcGetProgramLog(program, log)
        raise RuntimeError(f"NVRTC could not compile kernels.cu:\n{log.decode(errors='replace')}")
    size = ok(nvrtc.nvrtcGetPTXSize(program))
    ptx = b" " * size
    ok(nvrtc.nvrtcGetPTX(program, ptx))
    nvrtc.nvrtcDestroyProgram(program)
    return ptx.rstrip(b"\0 ").decode(), version


def build() -> str:
    source = SOURCE.read_bytes()
    ptx, version = compile_ptx(source)
    return header(source, version) + ptx + "\n"


def main() -> int:
    TARGET.write_text(build())
    print(f"wrote {TARGET}")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
