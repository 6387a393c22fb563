"""GPU-MEMTEST: the diag tier's judgement of the memory pattern tests and the ECC counters around them."""

from __future__ import annotations

from gpuaccept.checks.diag_evidence import diag_gpu
from gpuaccept.checks.verdict import Verdict, failed, not_evaluated, passed, warned
from gpuaccept.facts import HostFacts
from gpuaccept.facts_diag import DiagFacts
from gpuaccept.profile import Profile

GIB = 2**30


def gpu_memtest(host: HostFacts, index: int, profile: Profile) -> Verdict:
    found = diag_gpu(host, index, "GPU-MEMTEST")
    if isinstance(found, Verdict):
        return found
    gpu, diag, _ = found
    result = next((m for m in diag.memtest if m.index == index), None)
    if result is None:
        return not_evaluated(f"{gpu.label}: diag.json holds no memory test of it")
    share = profile.diag.memtest_share
    expected = f"0 mismatches over >= {share:.0%} of free memory, no new uncorrectable ECC errors"
    ecc = _ecc_growth(diag, index)
    if ecc.startswith("went back"):  # volatile counts restart with the driver: what they say is lost
        return not_evaluated(f"{gpu.label}: ECC {ecc}: the driver was reloaded during the tier")
    if result.error:
        return failed(f"{gpu.label}: the memory test stopped: {result.error}" + (f"; {ecc}" if ecc else ""), expected,
                      "the memory or the card faulted under the test", "replace the card (RMA) if it happens again "
                      "after a reseat and a reboot; check GPU-XID")
    if result.tested_bytes > result.free_bytes or (result.total_bytes and result.free_bytes > result.total_bytes):
        return not_evaluated(f"{gpu.label}: diag.json's memory test is contradictory: {result.tested_bytes} bytes "
                             f"tested of {result.free_bytes} free and {result.total_bytes} in all")
    tested = f"{result.tested_bytes / GIB:.1f} GiB ({result.coverage:.1%} of {result.free_bytes / GIB:.1f} GiB free)"
    if result.mismatches:
        first = result.first[0] if result.first else None
        at = (f"; first at {first.address} in {first.pattern}: expected {first.expected}, read {first.read}" if first else "")
        addresses = ", ".join(m.address for m in result.first[:5])
        return failed(f"{gpu.label}: {result.mismatches} mismatching words in {tested}{at}"
                      + (f" (addresses {addresses})" if len(result.first) > 1 else ""), expected,
                      "failing GPU memory: cells that do not hold what was written", "replace the card (RMA)")
    if "uncorrected" in ecc:
        return failed(f"{gpu.label}: {ecc} during the test of {tested}", expected,
                      "the memory produced errors ECC could not correct", "replace the card (RMA); see GPU-RETIRED")
    if not result.patterns or result.coverage < share:
        return not_evaluated(f"{gpu.label}: the test covered {tested}, {result.coverage:.2%}, below the profile's {share:.2%} "
                             "(diag.memtest_share): other processes held memory; stop them and run -m diag again")
    measured = (f"{gpu.label}: 0 mismatches in {tested}, {len(result.patterns)} patterns (seed {result.seed}), "
                f"{result.gbps:.0f} GB/s")
    if ecc:
        return warned(f"{measured}; {ecc}", expected, "ECC corrected memory errors during the test",
                      "watch GPU-RETIRED; replace the card if corrected errors keep growing")
    unread = _ecc_unread(diag, index)
    if unread:  # the pattern test still counts; the ECC half of the claim is not made without both readings
        return passed(measured, expected, f"{measured}, as expected ({expected}); the ECC counters were not "
                                          f"compared: {unread}.")
    return passed(measured, expected)


def _ecc_unread(diag: DiagFacts, index: int) -> str:
    """Why the uncorrectable ECC counter was not compared before and after, or ""."""
    before, after = diag.counters_before.of(index), diag.counters_after.of(index)
    for when, counters, record in (("before", before, diag.counters_before), ("after", after, diag.counters_after)):
        if counters is None:
            return f"no counters {when} the tier ({record.error or 'not recorded'})"
        if counters.ecc_uncorrected is None:
            return counters.unreported.get("ecc_uncorrected", f"not reported {when} the tier")
    return ""


def _ecc_growth(diag: DiagFacts, index: int) -> str:
    before, after = diag.counters_before.of(index), diag.counters_after.of(index)
    if before is None or after is None:
        return ""
    pairs = (("uncorrected", before.ecc_uncorrected, after.ecc_uncorrected),
             ("corrected", before.ecc_corrected, after.ecc_corrected))
    back = [f"{name} {b} -> {a}" for name, b, a in pairs if b is not None and a is not None and a < b]
    if back:
        return "went back: " + "; ".join(back)
    grew = [f"ECC {name} {b} -> {a}" for name, b, a in (
        ("uncorrected", before.ecc_uncorrected, after.ecc_uncorrected),
        ("corrected", before.ecc_corrected, after.ecc_corrected)) if b is not None and a is not None and a > b]
    return "; ".join(grew)
