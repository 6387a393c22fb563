"""Pure checks: (facts, profile) -> Verdict. One function per requirement ID, named after it."""
