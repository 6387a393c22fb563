"""``gpuaccept verify RUN [--pubkey KEY.pub]`` (or ``python -m gpuaccept verify``): is a run folder
exactly as its run left it, and who signed it?"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gpuaccept import manifest, signing

OK, CHANGED, SIGNATURE, USAGE = 0, 1, 2, 4
EXIT_CODES = f"""exit status:
  {OK}  the folder is exactly as the run left it (with --pubkey: and signed by that key)
  {CHANGED}  it is not: a file changed, missing or added, a symbolic link or special file in it, or a
     manifest that is empty, malformed, lists a path twice or a path outside the folder
  {SIGNATURE}  the files match the manifest but the signature does not hold: missing (with --pubkey, or
     when summary.json names a signer), unreadable, made by another key, or not matching the manifest
  {USAGE}  usage error: bad arguments, RUN is not a folder, the --pubkey file holds no ssh-ed25519 key
({CHANGED} wins when both {CHANGED} and {SIGNATURE} apply)"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # the suite's usage-error code, not argparse's 2 (a bad signature here)
        self.print_usage(sys.stderr)
        self.exit(USAGE, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gpuaccept", description="Tools for gpuaccept run folders (the suite itself runs with "
                     "`pytest acceptance/`).")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    check = commands.add_parser(
        "verify", help="check a run folder against its MANIFEST.sha256 and its signature",
        description="Is the run folder exactly as its run left it (MANIFEST.sha256), and who signed it "
        "(MANIFEST.sha256.sig)? A signed run (pytest --sign-key) is checked against --pubkey; an unsigned one only "
        "detects accidental change.", epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("folder", type=Path, metavar="RUN", help="a run folder, e.g. reports/latest")
    check.add_argument("--pubkey", type=Path, metavar="PATH",
                       help="the signer's OpenSSH public key (id_ed25519.pub, or an authorized_keys or "
                       "allowed_signers file): the run must be signed by one of its ssh-ed25519 keys")
    return parser


def verify(folder: Path, pubkey: Path | None) -> int:
    # reports/latest is a link users pass: the argument is resolved once; links inside are rejected
    folder = folder.resolve()
    if not folder.is_dir():
        print(f"gpuaccept verify: {folder} is not a folder", file=sys.stderr)
        return USAGE
    try:
        keys = signing.load_public_keys(pubkey) if pubkey is not None else None
    except signing.KeyProblem as err:
        print(f"gpuaccept verify: --pubkey: {err}", file=sys.stderr)
        return USAGE
    problems = manifest.verify(folder)
    note, bad_signature = signing.check(folder, keys)
    for problem in problems + bad_signature:
        print(f"FAILED {problem}")
    if problems or bad_signature:
        what = "NOT as the run left it" if problems else "signature does NOT hold"
        print(f"{folder}: {what} ({len(problems) + len(bad_signature)} problem(s))")
        return CHANGED if problems else SIGNATURE
    print(f"{folder}: OK, {len(manifest.files(folder))} files unchanged since the run; {note}")
    return OK


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return verify(args.folder, args.pubkey)


if __name__ == "__main__":
    sys.exit(main())
