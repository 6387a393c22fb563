"""pytest plugin for self-tests: serve the CUDA driver API from the simulation spec named by GPUACCEPT_FAKE_CUDA.

Loaded with ``-p tests.fakes.cuda_plugin`` (beside tests.fakes.nvml_plugin) so the diag tier of a live
run drives simulated GPUs. The spec is JSON (tests/fakes/cuda_driver.py); its ``nvml_live`` defaults to
GPUACCEPT_FAKE_NVML_LIVE, the file of changing GPU state the fake NVML serves. GPUACCEPT_FAKE_SYSFS names
a sysfs tree the AER counters are read from (and the simulated driver writes).
"""

import json
import os


def pytest_configure(config):
    sysfs = os.environ.get("GPUACCEPT_FAKE_SYSFS")
    if sysfs:
        from gpuaccept.sources import aer

        aer.DEVICES = os.path.join(sysfs, "bus", "pci", "devices")
    path = os.environ.get("GPUACCEPT_FAKE_CUDA")
    if not path:
        return
    from gpuaccept.diag import cuda
    from tests.fakes.cuda_driver import FakeDriver

    with open(path) as handle:
        spec = json.load(handle)
    spec.setdefault("nvml_live", os.environ.get("GPUACCEPT_FAKE_NVML_LIVE"))
    spec.setdefault("sysfs", sysfs)
    cuda.install(FakeDriver(spec))
