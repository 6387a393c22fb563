"""Option values are untrusted input: a URL the suite would send requests to, a path, a PSU figure."""

from __future__ import annotations

import pytest

from tests.conftest import HOSTS


@pytest.mark.parametrize(("option", "words"), [
    ("--ollama-url=not-a-url", "an http:// or https:// URL with a host is needed"),
    ("--ollama-url=file:///etc/passwd", "an http:// or https:// URL with a host is needed"),
    ("--ollama-url=http://h:99999", "not a URL"),
    ("--psu-watts=0", "must be between 1 and 100000"),
    ("--replay=", "an empty path"),
])
def test_bad_option_values_are_usage_errors(run_suite, option, words):
    args = [option] if option.startswith("--replay") else ["--replay", str(HOSTS / "dual-p40"), option]
    run = run_suite(*args)
    assert run.ret == 4 and words in run.stdout + run.stderr
    assert "Traceback" not in run.stdout + run.stderr
