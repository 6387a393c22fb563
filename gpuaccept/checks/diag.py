"""The diag tier's five checks, one module per subject: the links (diag_link), the memory (diag_memory), the soak
(diag_soak), on the guards they share (diag_evidence). acceptance/test_diag.py calls them from here."""

from gpuaccept.checks.diag_evidence import copy_link_samples
from gpuaccept.checks.diag_link import gpu_p2p, pcie_bandwidth, pcie_replay
from gpuaccept.checks.diag_memory import gpu_memtest
from gpuaccept.checks.diag_soak import gpu_soak

__all__ = ["copy_link_samples", "gpu_memtest", "gpu_p2p", "gpu_soak", "pcie_bandwidth", "pcie_replay"]
