"""Optional extras the self-tests use: a test that needs one skips, saying which and how to install it,
unless CI's ``GPUACCEPT_REQUIRE_*`` variable says it must run (then a missing extra is a failure)."""

from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest

# extra name -> (the module it brings, the variable that makes it required)
EXTRAS = {
    "diag": ("cuda.bindings.driver", "GPUACCEPT_REQUIRE_CUDA_BINDINGS"),
    "ptx": ("cuda.bindings.nvrtc", "GPUACCEPT_REQUIRE_CUDA_BINDINGS"),
    "browser": ("selenium", "GPUACCEPT_REQUIRE_BROWSER"),
    "prometheus": ("prometheus_client.parser", "GPUACCEPT_REQUIRE_PROMETHEUS"),  # reads metrics.prom as monitoring does
    "schema": ("jsonschema", "GPUACCEPT_REQUIRE_SCHEMA"),  # summary.json against its published schema
}


def missing(extra: str) -> str | None:
    """Why the extra cannot be used here, or None."""
    module, _ = EXTRAS[extra]
    try:
        importlib.import_module(module)
    except ImportError as err:
        return f"{module} is not installed ({err}): pip install -e '.[{extra}]' (or '.[test]')"
    return None


def require(extra: str, *, module_level: bool = True) -> ModuleType | None:
    """Skip (or, where CI requires the extra, fail) unless ``extra`` is installed; returns its module."""
    module, variable = EXTRAS[extra]
    why = missing(extra)
    if why is None:
        return importlib.import_module(module)
    if os.environ.get(variable):
        pytest.fail(f"{why} ({variable} is set)", pytrace=False)
    pytest.skip(why, allow_module_level=module_level)
    return None
