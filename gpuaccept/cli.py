"""The ``gpuaccept`` command: ``gpuaccept run`` (the acceptance suite) and ``gpuaccept verify`` (a run folder).

``gpuaccept --help`` opens with what a technician needs: the acceptance options, the tiers ``-m`` selects
and the exit codes, from the table the suite's pytest plugin registers and judges by
(gpuaccept.run_options), so none of it can drift from the suite, and none of it needs pytest.
``gpuaccept run ARGS`` is ``pytest acceptance/ ARGS`` of the repository this package is installed from
(``pip install -e .``): the acceptance tests are files, not a package, so they are found beside the
installed ``gpuaccept`` package, or in the checkout named by ``GPUACCEPT_SUITE``.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import gpuaccept
from gpuaccept import manifest, run_identity, signing
from gpuaccept.errors import UsageProblem

OK, CHANGED, SIGNATURE, USAGE = 0, 1, 2, 4
SUITE_ENV = "GPUACCEPT_SUITE"  # a checkout holding acceptance/, for installs that are not editable
EXIT_CODES = f"""exit status:
  {OK}  the folder is exactly as the run left it (with --pubkey: and signed by that key)
  {CHANGED}  it is not: a file changed, missing or added, a symbolic link or special file in it, or a
     manifest that is empty, malformed, lists a path twice or a path outside the folder
  {SIGNATURE}  the files match the manifest but the signature does not hold: missing (with --pubkey, or
     when summary.json names a signer), unreadable, made by another key, or not matching the manifest
  {USAGE}  usage error: bad arguments, RUN is not a folder, the --pubkey file holds no ssh-ed25519 key
({CHANGED} wins when both {CHANGED} and {SIGNATURE} apply)"""



@dataclass(frozen=True)
class Option:
    name: str  # --profile
    metavar: str  # NAME|PATH; "" for a flag
    help: str
    ini: str = ""  # its ini twin, if any


def acceptance_options() -> list[Option]:
    """The options ``pytest acceptance/`` accepts beyond pytest's own, with their ini twins: the table the
    suite's plugin registers them from (gpuaccept.run_options)."""
    from gpuaccept.run_options import FLAGS, OPTIONS

    return [*(Option(name, metavar, text.replace("%%", "%"), ini) for name, (ini, metavar, text) in OPTIONS.items()),
            *(Option(name, "", text.replace("%%", "%")) for name, text in FLAGS.items())]


def exit_codes() -> list[tuple[str, str]]:
    """(code, text) of a run's exit statuses (gpuaccept.run_options.EXIT_STATUSES)."""
    from gpuaccept.run_options import EXIT_STATUSES

    return [(f"{code} {verdict}".strip(), text) for code, verdict, text in EXIT_STATUSES]


def _item(head: str, text: str, width: int = 24) -> str:
    # a no-break space inside "[ini name]" keeps the twin's name on the line of its label
    lines = [line.replace("\u00a0", " ") for line in textwrap.wrap(text.replace("[ini ", "[ini\u00a0"), 100 - width)] or [""]
    first = f"  {head}".ljust(width) + (lines[0] if len(head) + 2 < width else "")
    rest = lines if len(head) + 2 >= width else lines[1:]
    return "\n".join([first.rstrip()] + [" " * width + line for line in rest])


def overview() -> str:
    from gpuaccept.run_options import TIER_HELP, TIERS

    options = "\n".join(_item(f"{o.name} {o.metavar}".strip(), o.help + (f" [ini {o.ini}]" if o.ini else ""))
                        for o in acceptance_options())
    tiers = "\n".join(_item(f"-m {tier}", TIER_HELP.get(tier, "")) for tier in TIERS)
    tiers += "\n" + _item(f"-m \"{' or '.join(TIERS)}\"", "every tier (no -m runs every tier but diag)")
    codes = "\n".join(_item(code, text, 20) for code, text in exit_codes())
    return f"""Hardware acceptance for GPU inference servers.

  gpuaccept run [OPTIONS] [pytest options]   run the acceptance (= pytest acceptance/ in the repository)
  gpuaccept verify RUN [--pubkey KEY.pub]    is a run folder as its run left it, and who signed it?
  gpuaccept reason RUN [--pubkey KEY.pub]    the run's verdict as one line for a scheduler (drain reason)
  gpuaccept labels RUN [--pubkey KEY.pub]    the run's verdict as node labels (kubectl label node)

acceptance options (gpuaccept run, pytest acceptance/; command line > ini > profile):
{options}

tiers (-m; an expression that selects no tier is a usage error):
{tiers}

exit status of a run (its verdict is the terminal's last line and summary.json's first field):
{codes}"""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # the suite's usage-error code, not argparse's 2 (a bad signature here)
        self.print_usage(sys.stderr)
        self.exit(USAGE, f"{self.prog}: error: {message}\n")


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gpuaccept", description=overview(), formatter_class=argparse.RawDescriptionHelpFormatter,
                     allow_abbrev=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", add_help=False, help="run the acceptance suite: pytest acceptance/ with the options "
                        "above and any of pytest's (gpuaccept run -h: where the suite is)")
    check = commands.add_parser(
        "verify", help="check a run folder against its MANIFEST.sha256 and its signature",
        description="Is the run folder exactly as its run left it (MANIFEST.sha256), and who signed it "
        "(MANIFEST.sha256.sig)? A signed run (pytest --sign-key) is checked against --pubkey; an unsigned one only "
        "detects accidental change.", epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("folder", type=Path, metavar="RUN", help="a run folder, e.g. reports/latest")
    check.add_argument("--pubkey", type=Path, metavar="PATH",
                       help="the signer's OpenSSH public key (id_ed25519.pub) or an allowed_signers file, read as "
                       "ssh-keygen -Y verify reads it (options, validity): the run must be signed by a key it lets "
                       "vouch now")
    why = commands.add_parser(
        "reason", help="the run's verdict and the requirement IDs that failed or were not evaluated, as one line "
        "(at most 200 characters, no newline) for a Slurm drain reason or a node condition",
        description="One line a scheduler takes as it is: the verdict and the IDs of the requirements that failed, "
        "errored or were not evaluated. The folder is verified first (as gpuaccept verify does): a folder not as its "
        "run left it says so (UNTRUSTED, exit 1). Exit status: the run's own (0 only for ACCEPTED).")
    why.add_argument("folder", type=Path, metavar="RUN", help="a run folder, e.g. reports/latest")
    why.add_argument("--pubkey", type=Path, metavar="PATH", help="the signer's public key: the run must be signed by it")
    tags = commands.add_parser(
        "labels", help="the run's verdict, profile, mode and acceptance time as node labels, one key=value a line "
        "(kubectl label node NAME --overwrite $(gpuaccept labels RUN))",
        description="Kubernetes node labels of the run: gpuaccept.io/verdict, gpuaccept.io/profile, gpuaccept.io/mode "
        "and gpuaccept.io/accepted-at for an accepted live run (any other run prints gpuaccept.io/accepted-at-, "
        "kubectl's removal of that label). The folder is verified first: one not as its run left it is "
        "verdict=untrusted (exit 1). Exit status: the run's own (0 only for ACCEPTED).")
    tags.add_argument("folder", type=Path, metavar="RUN", help="a run folder, e.g. reports/latest")
    tags.add_argument("--pubkey", type=Path, metavar="PATH", help="the signer's public key: the run must be signed by it")
    return parser


class SuiteNotFound(UsageProblem):
    pass


def suite_root() -> Path:
    """The checkout whose acceptance/ the run uses: GPUACCEPT_SUITE, else the one this package is installed from."""
    given = os.environ.get(SUITE_ENV)
    root = Path(given).expanduser().resolve() if given else Path(gpuaccept.__file__).resolve().parents[1]
    if (root / "acceptance").is_dir() and (root / "conftest.py").is_file():
        return root
    where = f"{SUITE_ENV}={given}" if given else f"the installed package's folder {root}"
    raise SuiteNotFound(f"no acceptance suite (acceptance/ and conftest.py) in {where}: install the repository "
                        f"with `pip install -e .`, set {SUITE_ENV} to a checkout, or run `pytest acceptance/` "
                        "in the repository")


def run(args: list[str]) -> int:
    """Replace this process with ``python -m pytest <checkout>/acceptance ARGS``: signals and the exit status
    are pytest's own, as if it had been typed."""
    try:
        root = suite_root()
    except SuiteNotFound as err:
        print(f"gpuaccept run: {err}", file=sys.stderr)
        return USAGE
    if args in (["-h"], ["--help"]):
        print(f"usage: gpuaccept run [OPTIONS] [pytest options]\n\nRuns `pytest {root / 'acceptance'}` with the "
              f"arguments given (reports under {root / 'reports'} unless --report-dir says otherwise).\n\n"
              f"{overview()}\n\npytest's own options (-k, -n, -x, ...): see `pytest --help`.")
        return OK
    command = [sys.executable, "-m", "pytest", str(root / "acceptance"), *args]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, command)
    return USAGE  # not reached: execv replaces the process or raises


def _folder_and_keys(command: str, folder: Path, pubkey: Path | None) -> tuple[Path, list[bytes] | None] | None:
    """The run folder (reports/latest is a link users pass: the argument is resolved once; links inside are
    rejected) and the --pubkey keys; None, the reason on stderr, when either is unusable (a usage error)."""
    folder = folder.resolve()
    if not folder.is_dir():
        print(f"gpuaccept {command}: {folder} is not a folder", file=sys.stderr)
        return None
    try:
        return folder, signing.load_public_keys(pubkey) if pubkey is not None else None
    except signing.KeyProblem as err:
        print(f"gpuaccept {command}: --pubkey: {err}", file=sys.stderr)
        return None


def verify(folder: Path, pubkey: Path | None) -> int:
    given = _folder_and_keys("verify", folder, pubkey)
    if given is None:
        return USAGE
    folder, keys = given
    problems, note, bad_signature = run_identity.judge(folder, keys)
    named = {line.split(": ", 1)[0] for line in problems}  # a link or folder in the signature's place, once
    bad_signature = [line for line in bad_signature if line.split(": ", 1)[0] not in named]
    for problem in problems + bad_signature:
        print(f"FAILED {problem}")
    if problems or bad_signature:
        what = "NOT as the run left it" if problems else "signature does NOT hold"
        print(f"{folder}: {what} ({len(problems) + len(bad_signature)} problem(s))")
        return CHANGED if problems else SIGNATURE
    print(f"{folder}: OK, {len(manifest.files(folder))} files unchanged since the run; {note}")
    return OK


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["run"]:  # everything after `run` belongs to pytest, untouched
        return run(argv[1:])
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return USAGE
    if args.command == "reason":
        return _reason(args.folder, args.pubkey)
    if args.command == "labels":
        return _labels(args.folder, args.pubkey)
    return verify(args.folder, args.pubkey)


def _labels(folder: Path, pubkey: Path | None) -> int:
    from gpuaccept.labels import labels

    given = _folder_and_keys("labels", folder, pubkey)
    if given is None:
        return USAGE
    lines, status = labels(*given)
    sys.stdout.write("".join(line + "\n" for line in lines))
    sys.stdout.flush()
    return status


def _reason(folder: Path, pubkey: Path | None) -> int:
    from gpuaccept.reason import reason

    given = _folder_and_keys("reason", folder, pubkey)
    if given is None:
        return USAGE
    line, status = reason(*given)
    sys.stdout.write(line)  # no newline: `reason="$(gpuaccept reason RUN)"` takes it whole
    sys.stdout.flush()
    return status
