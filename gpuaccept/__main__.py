"""``python -m gpuaccept verify RUN_FOLDER``: is the run folder unchanged since its run?"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gpuaccept import manifest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m gpuaccept", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("verify", help="check a run folder against its MANIFEST.sha256")
    check.add_argument("folder", type=Path, help="a run folder, e.g. reports/latest")
    args = parser.parse_args(argv)
    folder = args.folder.resolve()
    problems = manifest.verify(folder)
    if problems:
        for problem in problems:
            print(f"FAILED {problem}")
        print(f"{folder}: NOT as the run left it ({len(problems)} problem(s))")
        return 1
    count = len((folder / manifest.NAME).read_text().splitlines())
    print(f"{folder}: OK, {count} files unchanged since the run")
    return 0


if __name__ == "__main__":
    sys.exit(main())
