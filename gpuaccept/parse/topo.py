"""``nvidia-smi topo -m`` text -> GPU-to-GPU relations (TAB or space separated, with or without legend)."""

from __future__ import annotations

import re

from gpuaccept.facts import GpuLink

_DEVICE = re.compile(r"^(GPU|NIC)\d+$")
_GPU = re.compile(r"^GPU(\d+)$")
_RELATION = re.compile(r"^(X|SYS|NODE|PHB|PXB|PIX|NV\d+)$")


def parse_topo(text: str) -> list[GpuLink]:
    """The pairs the matrix names. The header row lists devices ("GPU0 GPU1 ... CPU Affinity"), with or
    without the leading blank a fleet host's output may have lost; a device row's second cell is a
    relation (X on the diagonal). A header read as a row would judge column names as paths."""
    rows = [line.split() for line in text.splitlines() if line.strip()]
    header = next((t for t in rows if t[0] == "GPU0" and (len(t) == 1 or not _RELATION.match(t[1]))), None)
    if header is None:
        return []
    columns = []
    for token in header:
        if not _DEVICE.match(token):
            break
        columns.append(token)
    links: list[GpuLink] = []
    for tokens in rows:
        row = _GPU.match(tokens[0])
        if tokens is header or row is None or len(tokens) < 2 or not _RELATION.match(tokens[1]):
            continue
        a = int(row.group(1))
        for column, relation in zip(columns, tokens[1:1 + len(columns)], strict=False):
            column_gpu = _GPU.match(column)
            if column_gpu and relation != "X" and _RELATION.match(relation) and a < int(column_gpu.group(1)):
                links.append(GpuLink(a, int(column_gpu.group(1)), relation))
    return links
