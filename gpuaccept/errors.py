"""The suite's own errors: one base, and a family for each kind of expected condition.

None of them is a bug: each is a condition the suite meets on real hosts and turns into a verdict, a
usage error or a recorded step. ``except SuiteError`` catches what the suite raises on purpose, and
nothing else: a bug stays a bug (INTERNAL ERROR, exit 3).

- ``EvidenceError``: evidence that cannot be used: unreadable, of the wrong shape, contradictory, not a
  regular file, not as its run sealed it.
- ``SourceError``: a source that did not answer as asked: a deadline, an unreachable host, NVML or CUDA
  unavailable or failing, a server that streams past what it was asked.
- ``UsageProblem``: what the user gave cannot be used: a profile, a key, a baseline, the suite's checkout.
- ``RemedyError``: a remediation step refused or failed (the machine is left as it was).
"""

from __future__ import annotations


class SuiteError(Exception):
    """An expected condition the suite raises on purpose (never a bug)."""


class EvidenceError(SuiteError):
    """Evidence that cannot be used as it is."""


class SourceError(SuiteError):
    """A source that did not answer as asked."""


class UsageProblem(SuiteError):
    """Something the user gave that cannot be used."""


class RemedyError(SuiteError):
    """A remediation step refused or failed."""
