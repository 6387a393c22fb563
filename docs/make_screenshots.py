"""Writes docs/report-healthy.png and docs/report-failing.png: the first screen (1366x768) of the report of
a healthy replay (fixtures/hosts/dual-p40) and of a failing one (dual-p40-x8-link), as headless Chromium
shows them. Needs Debian's chromium and chromium-driver and selenium (pip install -e '.[browser]').

    .venv/bin/python docs/make_screenshots.py
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests import browser  # noqa: E402 (the repository root is put on the path just above)

SHOTS = {"report-healthy.png": "dual-p40", "report-failing.png": "dual-p40-x8-link"}


def main() -> int:
    why = browser.missing()
    if why:
        sys.stderr.write(f"cannot take the screenshots: {why}\n")
        return 1
    with tempfile.TemporaryDirectory(prefix="gpuaccept-shots-") as scratch:
        work = Path(scratch)
        driver = browser.chromium(work)
        try:
            for name, host in SHOTS.items():
                reports = work / host
                subprocess.run([sys.executable, "-m", "pytest", "acceptance/", "--replay", f"fixtures/hosts/{host}",
                                "--report-dir", str(reports), "--technician", "Li Wei", "--ticket", "WO-1234", "-q"],
                               cwd=ROOT, capture_output=True, timeout=300, check=False)
                (folder,) = [p for p in reports.iterdir() if not p.is_symlink()]  # reports/latest points at it
                browser.open_report(driver, folder / "report.html")
                driver.save_screenshot(str(ROOT / "docs" / name))
                sys.stdout.write(f"docs/{name}: {host}\n")
        finally:
            driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
