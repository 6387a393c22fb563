"""``python -m tests.engine start|stop DIR``: the self-tests' Docker Engines, for CI.

``start`` prints ``GPUACCEPT_TEST_ENGINES=DIR``; with that variable set, the self-tests use these
engines instead of starting their own.
"""

import sys
from pathlib import Path

from tests.engine import daemons, image


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("start", "stop"):
        print("usage: python -m tests.engine start|stop DIR", file=sys.stderr)
        return 2
    base = Path(argv[1]).resolve()
    if argv[0] == "stop":
        daemons.stop_all(base)
        return 0
    why = daemons.missing() or image.available()
    if why:
        print(f"cannot start the test engines: {why}", file=sys.stderr)
        return 1
    base.mkdir(parents=True, exist_ok=True)
    daemons.start_all(base)
    print(f"GPUACCEPT_TEST_ENGINES={base}")
    return 0


sys.exit(main(sys.argv[1:]))
