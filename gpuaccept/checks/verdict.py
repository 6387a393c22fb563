"""A check's result: outcome, measured and expected values, and the message a technician reads."""

from __future__ import annotations

from dataclasses import dataclass

from gpuaccept import redact


@dataclass(frozen=True)
class Verdict:
    outcome: str  # "pass", "fail", "warn", "skip" (not applicable) or "not_evaluated" (could not be judged)
    measured: str = ""
    expected: str = ""
    message: str = ""

    def __post_init__(self) -> None:
        # Messages quote options and evidence (an --ollama-url with a password): never a secret in a report,
        # and never a control sequence that would clear or retitle the technician's terminal.
        for name in ("measured", "expected", "message"):
            object.__setattr__(self, name, visible(redact.data(getattr(self, name))))

    def to_dict(self) -> dict[str, str]:
        return {"outcome": self.outcome, "measured": self.measured, "expected": self.expected,
                "message": self.message}


def visible(text: str) -> str:
    """Control characters from evidence (ESC, BEL, CR...) shown as escapes: ``\\x1b[2J`` stays text."""
    if not isinstance(text, str):
        return text
    return "".join(ch if ch in "\n\t" or (ch.isprintable() or ch == " ") else ascii(ch)[1:-1] for ch in text)


def passed(measured: str, expected: str, note: str = "") -> Verdict:
    return Verdict("pass", measured, expected, note or f"{measured}, as expected ({expected}).")


def failed(measured: str, expected: str, cause: str, fix: str) -> Verdict:
    return Verdict("fail", measured, expected, f"{measured}; expected {expected}. Likely cause: {cause}. Fix: {fix}.")


def warned(measured: str, expected: str, cause: str, fix: str) -> Verdict:
    return Verdict("warn", measured, expected, f"{measured}; advised {expected}. {cause}. If needed: {fix}.")


def skipped(reason: str) -> Verdict:
    return Verdict("skip", message=reason)


def not_evaluated(reason: str) -> Verdict:
    """The requirement applies but could not be judged: evidence missing, unreadable or contradictory, a
    source that failed, or a root cause reported by another requirement. Unlike a skip (not applicable),
    it keeps the run from being accepted."""
    return Verdict("not_evaluated", message=f"not evaluated: {reason}")
