"""Every exception class the package defines is one of the suite's own (gpuaccept.errors): ``except
SuiteError`` catches what the suite raises on purpose, and a bug stays a bug."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import gpuaccept
from gpuaccept.errors import SuiteError


def test_every_exception_of_the_package_is_a_suite_error():
    found = {}
    for module in pkgutil.walk_packages(gpuaccept.__path__, "gpuaccept."):
        try:
            loaded = importlib.import_module(module.name)
        except ImportError:  # an optional extra's module (the diag tier without cuda-bindings)
            continue
        for name, value in vars(loaded).items():
            if inspect.isclass(value) and issubclass(value, BaseException) and value.__module__ == loaded.__name__:
                found[f"{module.name}.{name}"] = value
    assert len(found) >= 20, sorted(found)
    assert [name for name, cls in found.items() if not issubclass(cls, SuiteError)] == []
