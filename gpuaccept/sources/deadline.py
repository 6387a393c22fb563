"""Run a collector with a deadline: a hung driver or engine cannot hang the run."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from gpuaccept.errors import SourceError

T = TypeVar("T")


class DeadlineExceeded(SourceError):
    pass


def within(timeout_s: float, name: str, fn: Callable[[], T]) -> T:
    """``fn()`` in a daemon thread; its exception is re-raised here, or DeadlineExceeded after timeout_s."""
    box: dict[str, object] = {}

    def work() -> None:
        try:
            box["value"] = fn()
        except BaseException as err:  # handed to the caller, whatever it is
            box["error"] = err

    worker = threading.Thread(target=work, name=name, daemon=True)
    worker.start()
    worker.join(timeout_s)
    if worker.is_alive():
        raise DeadlineExceeded(f"{name} did not finish within {timeout_s:g} s")
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]
