"""Headless Chromium through Selenium, with the system's chromedriver only (Debian's `chromium` and
`chromium-driver`): nothing is downloaded at run time, so Selenium Manager is kept offline."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

CHROMEDRIVER = Path("/usr/bin/chromedriver")
WIDTH, HEIGHT = 1366, 768


def missing() -> str:
    """Why no browser can be started here, or "" when one can."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[browser]')"
    if not CHROMEDRIVER.is_file():
        return f"{CHROMEDRIVER} is missing (apt-get install chromium-driver)"
    if not (shutil.which("chromium") or Path("/usr/bin/chromium").is_file()):
        return "chromium is missing (apt-get install chromium)"
    return ""


def chromium(scratch: Path, width: int = WIDTH, height: int = HEIGHT):
    """A headless Chromium whose viewport is width x height CSS pixels; the caller quits it. Its profile and
    the driver's temporary files go under ``scratch``, which the caller removes."""
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must never fetch a browser or a driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    binary = shutil.which("chromium") or "/usr/bin/chromium"
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
                "--force-device-scale-factor=1", f"--window-size={width},{height}", "--no-first-run",
                "--disable-extensions", "--disable-background-networking", f"--user-data-dir={scratch / 'profile'}"):
        options.add_argument(arg)
    service = Service(executable_path=str(CHROMEDRIVER), env={**os.environ, "TMPDIR": str(scratch)})
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_page_load_timeout(30)
    driver.set_script_timeout(10)
    # --window-size sets the window; the page's viewport is what a person sees: make that width x height.
    inner = driver.execute_script("return [window.innerWidth, window.innerHeight]")
    driver.set_window_size(width + width - inner[0], height + height - inner[1])
    return driver


def open_report(driver, path: Path) -> None:
    driver.get(path.resolve().as_uri())
    # pytest-html builds its tables from its data after load: wait for its script to have run.
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 15).until(lambda d: d.execute_script(
        "return document.readyState === 'complete' && document.querySelectorAll('#environment tr').length > 0"))
