"""``nvidia-smi topo -m`` text -> GPU-to-GPU relations (TAB or space separated, with or without legend)."""

from __future__ import annotations

import re

from gpuaccept.errors import EvidenceError
from gpuaccept.facts import GpuLink

_DEVICE = re.compile(r"^(GPU|NIC)\d+$")
_GPU = re.compile(r"^GPU(\d+)$")
_RELATION = re.compile(r"^(X|SYS|NODE|PHB|PXB|PIX|NV\d+)$")


class Contradictory(EvidenceError, ValueError):
    """The matrix contradicts itself: it cannot be one machine's answer."""


def parse_topo(text: str) -> list[GpuLink]:
    """The pairs the matrix names. The header row lists devices ("GPU0 GPU1 ... CPU Affinity"), with or
    without the leading blank a fleet host's output may have lost; a device row's second cell is a
    relation (X on the diagonal). A header read as a row would judge column names as paths. Both halves
    of the matrix are read: a row given twice, an X off the diagonal, a cell that is no relation, or two
    halves that disagree make it Contradictory (the file is unreadable, and nothing is judged on it)."""
    rows = [line.split() for line in text.splitlines() if line.strip()]
    header = next((t for t in rows if t[0] == "GPU0" and (len(t) == 1 or not _RELATION.match(t[1]))), None)
    if header is None:
        return []
    columns = []
    for token in header:
        if not _DEVICE.match(token):
            break
        columns.append(token)
    cells: dict[tuple[int, int], str] = {}
    seen_rows: set[int] = set()
    for tokens in rows:
        row = _GPU.match(tokens[0])
        if tokens is header or row is None or len(tokens) < 2 or not _RELATION.match(tokens[1]):
            continue
        a = int(row.group(1))
        if a in seen_rows:
            raise Contradictory(f"the row of GPU{a} appears twice")
        seen_rows.add(a)
        for column, relation in zip(columns, tokens[1:1 + len(columns)], strict=False):
            column_gpu = _GPU.match(column)
            if column_gpu is None:
                continue
            b = int(column_gpu.group(1))
            if not _RELATION.match(relation):
                raise Contradictory(f"GPU{a}'s cell for GPU{b} is {relation!r}, no relation nvidia-smi prints")
            if (relation == "X") != (a == b):
                raise Contradictory(f"GPU{a}'s cell for GPU{b} is {relation}: X belongs on the diagonal only")
            if a != b:
                cells[(a, b)] = relation
    links: list[GpuLink] = []
    for (a, b), relation in sorted(cells.items()):
        other = cells.get((b, a))
        if other is not None and other != relation:
            raise Contradictory(f"GPU{a}-GPU{b} is {relation} in GPU{a}'s row but {other} in GPU{b}'s")
        if a < b or (b, a) not in cells:
            links.append(GpuLink(min(a, b), max(a, b), relation))
    return links
