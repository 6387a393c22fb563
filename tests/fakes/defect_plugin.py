"""A stand-in for a defect in the suite: the hook named by ``GPUACCEPT_DEFECT_AT`` raises, so a self-test
sees what a crash of any part of the suite leaves behind. Loaded with ``-p tests.fakes.defect_plugin``."""

from __future__ import annotations

import os

import pytest


class Defect(RuntimeError):
    pass


def _maybe(hook: str) -> None:
    if os.environ.get("GPUACCEPT_DEFECT_AT") == hook:
        raise Defect(f"a defect in {hook}")


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session) -> None:
    _maybe("sessionstart")


def pytest_collection_modifyitems(items) -> None:
    _maybe("collection")


def pytest_runtest_logreport(report) -> None:
    if report.when == "call":
        _maybe("logreport")


@pytest.hookimpl(tryfirst=True)
def pytest_sessionfinish(session) -> None:
    _maybe("sessionfinish")
