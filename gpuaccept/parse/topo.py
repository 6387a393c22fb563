"""``nvidia-smi topo -m`` text -> GPU-to-GPU relations (TAB or space separated, with or without legend)."""

from __future__ import annotations

import re

from gpuaccept.facts import GpuLink

_DEVICE = re.compile(r"^(GPU|NIC)\d+$")


def parse_topo(text: str) -> list[GpuLink]:
    lines = [line for line in text.splitlines() if line.strip()]
    # The header row is the one with an empty first cell: "\tGPU0\tGPU1..." or "        GPU0    GPU1".
    header = next((line for line in lines if line[:1].isspace() and line.split()[0] == "GPU0"), None)
    if header is None:
        return []
    columns = []
    for token in header.split():
        if not _DEVICE.match(token):
            break
        columns.append(token)
    links: list[GpuLink] = []
    for line in lines:
        tokens = line.split()
        if not tokens or not tokens[0].startswith("GPU") or not _DEVICE.match(tokens[0]):
            continue
        a = int(tokens[0][3:])
        for column, relation in zip(columns, tokens[1:1 + len(columns)], strict=False):
            if column.startswith("GPU") and relation != "X":
                b = int(column[3:])
                if a < b:
                    links.append(GpuLink(a, b, relation))
    return links
