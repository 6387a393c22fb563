"""One writer of a host's run folder, pytest-free: whoever judged the host (one host's own pytest session,
or a fleet run's controller for each of its hosts), the folder ends the same way.

- ``write_summary``: summary.json, the record, redacted as it is written.
- ``write_metrics``: metrics.prom, the record's verdicts and the facts' figures for monitoring.
- ``write_host``: a folder whose cases came from elsewhere (a fleet host): its record from the cases, its
  report.html (gpuaccept.report.host_page) and junit.xml (gpuaccept.report.junit) from that record, the
  facts for its charts, environment table and metrics from its own evidence/, then ``seal``.
- ``seal``: the last redaction pass over every file, MANIFEST.sha256, and with a key the signature over the
  manifest's bytes (last, so it covers them). A single-host run's session calls it once pytest-html and
  pytest's JUnit writer have written their files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from gpuaccept import manifest, redact, signing, summary
from gpuaccept.atomic_file import write_atomic
from gpuaccept.evidence import Evidence
from gpuaccept.facts import HostFacts
from gpuaccept.profile import Profile

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def write_summary(folder: Path, record: dict[str, Any]) -> None:
    write_atomic(folder / "summary.json", json.dumps(redact.data(record), indent=2) + "\n")


def write_metrics(folder: Path, record: dict[str, Any], facts: HostFacts | None,
                  textfile_dir: Path | None = None) -> None:
    """metrics.prom (gpuaccept.report.metrics) of the record, and with ``textfile_dir`` the same bytes as
    ``gpuaccept.prom`` there (node_exporter reads a file that is replaced whole, never one half written)."""
    from gpuaccept.report import metrics

    text = metrics.exposition(redact.data(record), facts)
    write_atomic(folder / metrics.NAME, text, errors="backslashreplace")  # a lone surrogate: never a crash
    if textfile_dir is not None:
        write_atomic(textfile_dir / "gpuaccept.prom", text, errors="backslashreplace")


def seal(folder: Path, sign_key: Ed25519PrivateKey | None = None) -> list[str]:
    """The folder's last redaction pass, manifest and (with ``sign_key``) signature; the files the pass had
    to change (each a value that escaped redaction where it was written)."""
    changed = redact.run_folder(folder)
    manifest.write(folder)
    if sign_key is not None:
        signing.sign_folder(folder, sign_key)
    return changed


def _facts(folder: Path, source: str) -> tuple[HostFacts | None, str]:
    """The host's facts as a replay of its folder would build them, for its page; or why there are none."""
    from gpuaccept.sources.build import build_facts  # late: the facts are built only where a page needs them

    try:
        return build_facts(Evidence.read(folder / "evidence"), mode="live", source=source), ""
    except OSError as err:  # Evidence.read says what it cannot read; the folder itself may be gone
        return None, f"the host's evidence cannot be read back: {err}"


def write_host(folder: Path, cases: list[dict[str, Any]], run: dict[str, Any], interrupted: bool,
               not_run: list[str] = (), *, profile: Profile | None = None,
               sign_key: Ed25519PrivateKey | None = None) -> dict[str, Any]:
    """summary.json, report.html, junit.xml, then the seal, of one host's folder (its evidence/ already
    there). ``not_run``: requirements of its tiers that the selection (-k, -m, --deselect) left out: never
    ACCEPTED."""
    from gpuaccept.report import host_page  # late: a single-host run's pages come from pytest-html and pytest
    from gpuaccept.report.junit import junit

    saved = folder / "evidence"
    present = {p.name for p in saved.iterdir()} if saved.is_dir() else set()
    verdict, code = summary.run_verdict(cases, 2 if interrupted else 0, list(not_run))
    run = {**run, "exit_status": code, "not_run": list(not_run)}
    record = summary.build(cases, run, [], present, verdict)
    write_summary(folder, record)
    facts, why = _facts(folder, str((run.get("fleet") or {}).get("host") or run.get("source", "")))
    shown = redact.data(record)  # the page and the JUnit file say what summary.json says
    # A lone surrogate (an option's bytes that were no UTF-8) is shown as its escape, never a crash.
    write_atomic(folder / "report.html", host_page.page(shown, facts, profile, why), errors="backslashreplace")
    write_atomic(folder / "junit.xml", junit(shown))
    write_metrics(folder, record, facts)
    seal(folder, sign_key)
    return record
