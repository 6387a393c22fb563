"""The NVIDIA driver each Ollama release needs: data, no network at run time (beside ollama_envconfig.py).

Source: github.com/ollama/ollama at its release tags (the same clone as ollama_envconfig.py):
- docs/gpu.md (docs/gpu.mdx from v0.12.x): "Ollama supports Nvidia GPUs with compute capability 5.0+ and driver
  version 531 and newer" first appears at v0.9.3; before it the page names no driver version.
- discover/cuda_compat.go ``filterOldCUDADriver``, new in v0.30.0 (commit 9db4bdbad, #16031): a CUDA device of
  compute capability major < 7 on a driver whose major version is below 570 is dropped with ``NVIDIA driver too
  old ... required_driver="570 or newer"`` (the CUDA 12.8 runner JITs their code from PTX). docs/gpu.mdx from
  v0.30.0: "Nvidia GPUs with compute capability 5.0 through 6.2 require driver version 570 or newer."
- the same function from v0.30.11-rc1 (commit f22ec2ec4, #16895): every CUDA device on a CUDA 12.4+ runtime (the
  image's cuda_v12 is 12.8) needs driver 550 ("fatbin compression"); docs/gpu.mdx: "driver version 550 and newer".
- the field: ollama/ollama#17290, two P40s on 535.309.01 ran fully on the GPUs through v0.24.0 and fell back to
  the CPU from v0.30.0; 580.159.03 brought them back.

FLOORS lists, oldest first, the first release of each rule, the floor for every card, the floor for compute
capability below 7.0, whether Ollama enforces it (drops the card) or only documents it, and where it is written.
Versions are compared by ``packaging.version`` (``0.30.11-rc1`` reads as 0.30.11rc1, before 0.30.11).
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.version import Version

from gpuaccept.data.ollama_envconfig import LAST_RELEASE


@dataclass(frozen=True)
class DriverRule:
    since: str  # the first Ollama release of this rule
    floor: str  # every NVIDIA card
    floor_cc_below_7: str  # compute capability 5.0 through 6.2
    enforced: bool  # True: discover/cuda_compat.go drops the card; False: only docs/gpu.md says so
    source: str  # where it is written, with its words
    where: str  # the file, for a short mention

    def floor_for(self, older_cards: bool) -> str:
        return self.floor_cc_below_7 if older_cards else self.floor


FLOORS: tuple[DriverRule, ...] = (
    DriverRule("0.9.3", "531", "531", False,
               "docs/gpu.md at v0.9.3-v0.25: \"compute capability 5.0+ and driver version 531 and newer\"",
               "docs/gpu.md"),
    DriverRule("0.30.0", "531", "570", True,
               "discover/cuda_compat.go from v0.30.0 drops a compute-capability < 7 card below driver 570 "
               "(\"NVIDIA driver too old\"); docs/gpu.mdx: \"compute capability 5.0 through 6.2 require driver "
               "version 570 or newer\"", "discover/cuda_compat.go"),
    DriverRule("0.30.11rc1", "550", "570", True,
               "discover/cuda_compat.go from v0.30.11 drops every card below driver 550 on the CUDA 12.8 runner "
               "and a compute-capability < 7 card below 570; docs/gpu.mdx: \"driver version 550 and newer\"",
               "discover/cuda_compat.go"),
)


@dataclass(frozen=True)
class Floor:
    version: str  # the Ollama release judged
    rule: DriverRule | None  # None: this release names no driver floor
    beyond_table: bool  # the release is newer than the last one read (LAST_RELEASE): the newest rule is assumed


def floor_of(release: str, v: Version) -> Floor:
    """The rule of an Ollama release (``release`` as it was written, ``v`` as it reads)."""
    rule = None
    for candidate in FLOORS:
        if v >= Version(candidate.since):
            rule = candidate
    return Floor(release, rule, v > Version(LAST_RELEASE))
