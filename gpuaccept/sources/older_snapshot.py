"""Fields an older ``nvml.json`` did not record, taken from ``nvidia-smi -q -x`` of the same run.

A snapshot written before the suite read a field has neither a value nor a reason for it. When the same
evidence folder holds the XML of the same GPUs (matched by UUID), its value is the host's own answer to
the same question, so it fills the gap; without the XML the field stays "not reported", with that reason.
"""

from __future__ import annotations

import dataclasses

from gpuaccept.facts import GpuFacts

NOT_IN_SNAPSHOT = "not recorded by this nvml.json (an older snapshot schema)"


def fill(gpus: tuple[GpuFacts, ...], raw: list[dict], xml_gpus: tuple[GpuFacts, ...] | None) -> tuple[GpuFacts, ...]:
    by_uuid = {g.uuid: g for g in xml_gpus or () if g.uuid}
    filled = []
    for gpu, values in zip(gpus, raw, strict=True):
        absent = [f.name for f in dataclasses.fields(GpuFacts)
                  if f.name not in values and f.name not in gpu.unreported and f.name not in ("index", "unreported")]
        if not absent:
            filled.append(gpu)
            continue
        twin = by_uuid.get(gpu.uuid)
        changes = {name: getattr(twin, name) for name in absent if twin is not None and getattr(twin, name) is not None}
        unreported = {**gpu.unreported, **{name: NOT_IN_SNAPSHOT for name in absent if name not in changes}}
        filled.append(dataclasses.replace(gpu, **changes, unreported=unreported))
    return tuple(filled)
