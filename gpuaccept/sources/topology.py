"""PCIE-TOPO's evidence: the path between every pair of the inventory's GPUs, from NVML and from
``nvidia-smi topo -m``, each checked against the other and against what the cards can have.

A pass must cover every pair: a pair neither source answered (NVML NOT_SUPPORTED, an empty matrix) is
named, never read as "no pairs". The two sources must agree where both answer; a matrix naming GPUs the
inventory lacks is another machine's; an ``NV#`` path between cards NVML reports without NVLink (a
P40 has none: domain-facts §0 2a) cannot be. Each of those makes the topology contradictory, so PCIE-TOPO
is not evaluated, naming both sides. NVML's common ancestor never says NVLink, so an ``NV#`` in the
matrix for a pair of NVLink cards is the finer answer and is the one kept.
"""

from __future__ import annotations

from gpuaccept import evidence as ev
from gpuaccept.facts import GpuFacts, GpuLink, TopologyFacts


def _name(pair: tuple[int, int]) -> str:
    return f"GPU{pair[0]}-GPU{pair[1]}"


def _contradictions(gpus: tuple[GpuFacts, ...], nvml: dict, matrix: dict) -> list[str]:
    known = {g.index for g in gpus}
    nvlinks = {g.index: g.nvlink_active for g in gpus}
    found = []
    strangers = sorted({i for pair in matrix for i in pair if i not in known})
    if strangers:
        found.append(f"{ev.TOPO} names {', '.join(f'GPU{i}' for i in strangers)}, which the inventory lacks "
                     f"(it has {', '.join(f'GPU{i}' for i in sorted(known))}): a matrix of another machine")
    for pair, relation in sorted(matrix.items()):
        if set(pair) - known:
            continue
        without = [f"GPU{i}" for i in pair if nvlinks.get(i) == 0]
        if relation.startswith("NV") and without:
            found.append(f"{ev.TOPO} says {_name(pair)} {relation} (NVLink), but NVML reports no NVLink on "
                         f"{' and '.join(without)}")
        elif not relation.startswith("NV") and pair in nvml and nvml[pair] != relation:
            found.append(f"{_name(pair)}: NVML says {nvml[pair]}, {ev.TOPO} says {relation}")
    return found


def gpu_paths(gpus: tuple[GpuFacts, ...], nvml: tuple[tuple[GpuLink, ...], dict[str, str]] | None,
              matrix: TopologyFacts) -> TopologyFacts:
    """The path of every pair of ``gpus``; ``missing`` says which pair no source covers, or why the
    sources contradict each other. ``nvml``: the snapshot's pairs and its unreported fields (None without
    a snapshot); ``matrix``: the parsed ``nvidia-smi topo -m``."""
    if len(gpus) < 2:
        return TopologyFacts()
    if matrix.missing is not None and matrix.source:  # there but unreadable (contradicting itself): no pass on it
        return TopologyFacts(source=matrix.source, missing=matrix.missing)
    by_nvml: dict[tuple[int, int], str] = {}
    contradictions = []
    for link in nvml[0] if nvml else ():  # a pair in either order is one pair: NVML must name one path for it
        pair = (min(link.a, link.b), max(link.a, link.b))
        if pair in by_nvml and by_nvml[pair] != link.relation:
            contradictions.append(f"{_name(pair)}: NVML names two paths, {by_nvml[pair]} and {link.relation}")
        by_nvml.setdefault(pair, link.relation)
    by_matrix = {(link.a, link.b): link.relation for link in matrix.links} if matrix.missing is None else {}
    contradictions += _contradictions(gpus, by_nvml, by_matrix)
    sources = ", ".join(name for name, used in ((ev.NVML, by_nvml), (ev.TOPO, by_matrix)) if used)
    if contradictions:
        return TopologyFacts(source=sources, missing="contradictory evidence: " + "; ".join(contradictions))
    indices = sorted(g.index for g in gpus)
    links, uncovered = [], []
    for i, a in enumerate(indices):
        for b in indices[i + 1:]:
            relation = by_matrix.get((a, b), "") if by_matrix.get((a, b), "").startswith("NV") else None
            relation = relation or by_nvml.get((a, b)) or by_matrix.get((a, b))
            if relation is None:
                uncovered.append((a, b))
            else:
                links.append(GpuLink(a, b, relation))
    if uncovered:
        unreported = nvml[1] if nvml else {}
        nvml_why = (lambda p: unreported.get(f"topology {p[0]}-{p[1]}", "not in the snapshot")) if nvml else (
            lambda p: "no NVML snapshot")
        matrix_why = matrix.missing or "not in the matrix"
        named = "; ".join(f"{_name(p)} (NVML: {nvml_why(p)}; {ev.TOPO}: {matrix_why})" for p in uncovered)
        return TopologyFacts(links=tuple(links), source=sources,
                             missing=f"no source reports the path of {len(uncovered)} of "
                                     f"{len(links) + len(uncovered)} GPU pair(s): {named}")
    return TopologyFacts(links=tuple(links), source=sources)
