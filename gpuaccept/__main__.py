"""``python -m gpuaccept``: the same command as the ``gpuaccept`` console script (gpuaccept/cli.py), from any
folder: ``verify RUN [--pubkey KEY.pub]`` checks a run folder, ``run [pytest args]`` runs the acceptance."""

from __future__ import annotations

import sys

from gpuaccept.cli import CHANGED, EXIT_CODES, OK, SIGNATURE, USAGE, main, verify

__all__ = ["CHANGED", "EXIT_CODES", "OK", "SIGNATURE", "USAGE", "main", "verify"]

if __name__ == "__main__":
    sys.exit(main())
