"""pytest plugin for self-tests: serve NVML from the snapshot named by GPUACCEPT_FAKE_NVML.

Loaded with ``-p tests.fakes.nvml_plugin`` (tests/conftest.py's run_suite always loads it) so a live run
of the real suite talks to a simulated
libnvidia-ml built from a real capture; GPUACCEPT_FAKE_NVML_INIT_ERROR makes nvmlInit fail, and
GPUACCEPT_FAKE_NVML_LIVE names the file of changing GPU state the Ollama stand-in writes (its runner's
/proc entry lies beside it, in proc/: the benchmark reads that instead of the host's /proc). Without
GPUACCEPT_FAKE_NVML, NVML answers as on a machine without the driver (library not found).
"""

import json
import os
from pathlib import Path

from tests.fakes.nvml_lib import FakeNvmlLib

# pynvml's status when libnvidia-ml.so.1 cannot be loaded: what a machine without the driver answers
NVML_ERROR_LIBRARY_NOT_FOUND = 12


def pytest_configure(config):
    path = os.environ.get("GPUACCEPT_FAKE_NVML")
    if not path:  # no capture named: NVML as on a machine without the driver, never this machine's own
        FakeNvmlLib({"gpus": []}, init_error=NVML_ERROR_LIBRARY_NOT_FOUND).install()
    else:
        with open(path) as handle:
            snapshot = json.load(handle)
        error = os.environ.get("GPUACCEPT_FAKE_NVML_INIT_ERROR")
        FakeNvmlLib(snapshot, init_error=int(error) if error else None,
                    live=os.environ.get("GPUACCEPT_FAKE_NVML_LIVE")).install()
    live = os.environ.get("GPUACCEPT_FAKE_NVML_LIVE")
    if live:  # the Ollama stand-in writes its runner's /proc entry beside the GPU state
        from gpuaccept.sources import ollama_bench

        ollama_bench.PROC_ROOT = Path(live).parent / "proc"
