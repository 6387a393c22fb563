"""report.html as a person sees it: opened in headless Chromium at 1366x768.

The first screen must hold the answer: the verdict banner (REPLAY with its provenance when it is one) and
the failed or not-evaluated requirements with their cause and fix; a healthy pair's two equal GPU lines
must both be visible; every row readable (WCAG AA contrast); and no markup from evidence or options may
run as script. Without chromium, chromium-driver or selenium these skip, saying why, except where
GPUACCEPT_REQUIRE_BROWSER is set (CI), where they fail.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import time

import pytest

from gpuaccept.report import first_screen
from gpuaccept.report.chart import COLOURS, TILE, metric_charts
from tests import browser
from tests.conftest import HOSTS

TECHNICIAN = """<img src=x onerror="document.title='pwned'">"""
SERIAL = """<img src=x onerror="window.pwned=1;alert('serial')">"""


# -- contrast, computed as WCAG 2 defines it (no browser needed) ------------------------------------------


def luminance(colour: str) -> float:
    """WCAG 2 relative luminance of #rrggbb."""
    channels = [int(colour.lstrip("#")[i:i + 2], 16) / 255 for i in (0, 2, 4)]
    r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_contrast_helper_matches_known_ratios():
    assert contrast("#000000", "#ffffff") == pytest.approx(21.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # the classic just-fails grey
    assert contrast("#999999", "#d7f0d2") < 4.5  # the grey-on-green pass rows this palette replaced


def test_every_row_and_banner_colour_is_readable():
    for outcome, background in first_screen.ROWS.items():
        assert contrast(first_screen.TEXT, background) >= 4.5, (outcome, background)
    for verdict, (background, text) in first_screen.BANNERS.items():
        assert contrast(text, background) >= 4.5, (verdict, background, text)
    assert contrast(first_screen.REPLAY_BADGE[1], first_screen.REPLAY_BADGE[0]) >= 4.5
    for verdict, (background, _) in first_screen.BANNERS.items():  # the badge sits on the banner
        assert contrast(first_screen.REPLAY_BADGE[0], background) >= 3.0, verdict


def test_charts_skip_non_finite_values_and_escape_labels():
    from gpuaccept.facts import Benchmark, GpuSample, Sample

    odd = '<img src=x onerror=alert(1)>'
    samples = tuple(Sample(t=t, gpus=(GpuSample(index=0, util_pct=v, mem_used_mib=1024.0, temp_c=60, power_w=100.0,
                                                pcie_gen=3),
                                      GpuSample(index=odd, util_pct="90", mem_used_mib=float("inf"), temp_c=None,  # type: ignore[arg-type]
                                                power_w=float("nan"), pcie_gen=True)))  # type: ignore[arg-type]
                    for t, v in ((0.0, 10.0), (1.0, float("nan")), (float("nan"), 50.0), (2.0, 30.0)))
    charts = metric_charts(Benchmark(model="m", samples=samples, measure_from=0, measure_to=2), {0: 24576})
    assert len(charts) == 5
    util = charts[0]
    assert TILE.format(title="utilization") in util and "nan" not in util.lower() and "inf" not in util.lower()
    assert odd not in "".join(charts) and "&lt;img src=x onerror=alert(1)&gt;" in util
    assert util.count("<polyline") == 1  # the second GPU has no number to plot, and says so
    assert "GPU0: mean 20.0%" in util and "no readable samples" in util


# -- the browser -------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium(tmp_path_factory):
    why = browser.missing()
    if why:
        if os.environ.get("GPUACCEPT_REQUIRE_BROWSER"):
            pytest.fail(f"no browser for the report tests: {why} (GPUACCEPT_REQUIRE_BROWSER is set)", pytrace=False)
        pytest.skip(f"no browser for the report tests: {why}")
    scratch = tmp_path_factory.mktemp("chromium")
    driver = browser.chromium(scratch)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(scratch, ignore_errors=True)


def shown(driver, path) -> dict:
    browser.open_report(driver, path)
    return driver.execute_script("return {w: window.innerWidth, h: window.innerHeight, title: document.title}")


def in_first_screen(driver, element) -> bool:
    """Displayed, and its whole box inside the 1366x768 viewport without scrolling."""
    if not element.is_displayed():
        return False
    r = driver.execute_script("const r = arguments[0].getBoundingClientRect(); "
                              "return [r.left, r.top, r.right, r.bottom, window.scrollY]", element)
    return r[4] == 0 and r[0] >= 0 and r[1] >= 0 and r[2] <= browser.WIDTH and r[3] <= browser.HEIGHT and r[3] > r[1]


def banner(driver):
    """The verdict banner: the page's very first thing, above pytest-html's title and environment table."""
    from selenium.webdriver.common.by import By

    found = driver.find_element(By.CSS_SELECTOR, ".gpuaccept-verdict")
    assert in_first_screen(driver, found) and found.rect["y"] < 40, found.rect
    assert found.rect["y"] < driver.find_element(By.ID, "title").rect["y"]
    assert found.rect["y"] < driver.find_element(By.ID, "environment").rect["y"]
    return found


def attention_rows(driver) -> list:
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, ".gpuaccept-attention tr")


def test_failing_replay_shows_the_verdict_and_the_failure_with_its_fix_on_the_first_screen(run_suite, chromium):
    run = run_suite("--replay", str(HOSTS / "dual-p40-x8-link"))
    assert run.ret == 1
    view = shown(chromium, run.run_dir / "report.html")
    assert (view["w"], view["h"]) == (browser.WIDTH, browser.HEIGHT)
    top = banner(chromium)
    assert in_first_screen(chromium, top)
    assert top.text.startswith("NOT ACCEPTED") and "REPLAY" in top.text and re.search(r"\b1 failed, \d+ passed", top.text)
    assert "constructed: a bundled example" in top.text  # the evidence's provenance
    (row,) = attention_rows(chromium)
    assert in_first_screen(chromium, row)
    assert row.text.startswith("PCIE-WIDTH gpu1 FAIL") and "links at x8" in row.text
    assert "Likely cause:" in row.text and "Fix: power off, reseat the card" in row.text


def test_a_fleet_hosts_page_shows_the_same_first_screen(run_suite, chromium, tmp_path):
    """A fleet host's report.html (gpuaccept.host_folder) opens as a single-host report does: the banner,
    the failure with its fix, and the load tier's charts, all on the first screen."""
    from selenium.webdriver.common.by import By

    from tests.test_host_folder import _as_fleet_host

    single = run_suite("--replay", str(HOSTS / "dual-p40-x8-link"))
    _, _, folder = _as_fleet_host(single.run_dir, tmp_path)
    view = shown(chromium, folder / "report.html")
    assert (view["w"], view["h"]) == (browser.WIDTH, browser.HEIGHT) and view["title"].startswith("GPU acceptance")
    top = banner(chromium)
    assert top.text.startswith("NOT ACCEPTED") and "reached as docker://gpu07" in top.text and "REPLAY" not in top.text
    (row,) = attention_rows(chromium)
    assert in_first_screen(chromium, row)
    assert row.text.startswith("PCIE-WIDTH gpu1 FAIL") and "Fix: power off, reseat the card" in row.text
    load = chromium.find_element(By.CSS_SELECTOR, '.gpuaccept-load [data-tier="load"]')
    assert in_first_screen(chromium, load) and "OLL-SPREAD" in load.text  # its charts follow, as on a single host's
    chart = chromium.find_element(By.CSS_SELECTOR, f'.gpuaccept-load svg[aria-label="{TILE.format(title="utilization")}"]')
    assert chart.is_displayed() and chromium.find_element(By.ID, "environment").is_displayed()


def test_the_fleet_page_shows_each_host_with_what_needs_attention_without_scrolling_sideways(run_suite, chromium,
                                                                                             tmp_path):
    """fleet.html at 1366x768: one row per host, the unreachable one first with what the connection said in
    one line, then the failing host with its failure's cause and fix; nothing wider than the window."""
    from selenium.webdriver.common.by import By

    from gpuaccept.fleet.record import row, write_fleet
    from gpuaccept.host_folder import write_host
    from tests.test_host_folder import _as_fleet_host

    rows = []
    for name, variant in (("gpu07", "dual-p40-x8-link"), ("gpu08", "dual-p40"), ("gpu09", "dual-p40-xid-79")):
        _, written, folder = _as_fleet_host(run_suite("--replay", str(HOSTS / variant)).run_dir, tmp_path, name)
        rows.append(row(f"docker://{name}", folder.name, written))
    gone = tmp_path / "fleet-x" / "gpu10"
    (gone / "evidence").mkdir(parents=True)
    said = "ssh: connect to host gpu10 port 22: No route to host"
    cases = [{"id": "test_gpu_count", "requirement": "GPU-COUNT", "outcome": "fail",
              "message": f"host unreachable: {said} (ssh://gpu10; fix the connection or the host and run again)"}]
    rows.append(row("ssh://gpu10", gone.name, write_host(gone, cases, {"host": "gpu10", "unreachable": said}, False)))
    write_fleet(tmp_path / "fleet-x", rows, {"folder": "fleet-x"})
    chromium.get((tmp_path / "fleet-x" / "fleet.html").as_uri())
    assert chromium.execute_script("return document.documentElement.scrollWidth") <= browser.WIDTH
    top = chromium.find_element(By.CSS_SELECTOR, ".fleet-verdict")
    assert in_first_screen(chromium, top) and top.text.startswith("3 NOT ACCEPTED, 1 ACCEPTED") and "1 unreachable" in top.text
    hosts = chromium.find_elements(By.CSS_SELECTOR, "table.hosts tr[id]")
    assert [h.get_attribute("id") for h in hosts] == ["gpu10", "gpu07", "gpu09", "gpu08"]
    assert in_first_screen(chromium, hosts[0]) and f"Host unreachable: {said}" in hosts[0].text
    assert in_first_screen(chromium, hosts[1])
    assert "PCIE-WIDTH gpu1 FAIL" in hosts[1].text and "Fix: power off, reseat the card" in hosts[1].text
    assert "GPU-XID" in hosts[2].text and "Every requirement judged passed" in hosts[3].text
    link = hosts[1].find_element(By.LINK_TEXT, "PCIE-WIDTH").get_attribute("href")
    assert link.endswith("/gpu07/report.html#PCIE-WIDTH")


def test_incomplete_run_shows_what_was_not_evaluated_on_the_first_screen(run_suite, chromium, tmp_path):
    evidence = tmp_path / "no-lsmod"
    shutil.copytree(HOSTS / "dual-p40", evidence)
    (evidence / "lsmod.txt").unlink()
    run = run_suite("--replay", str(evidence))
    assert run.ret == 6
    shown(chromium, run.run_dir / "report.html")
    top = banner(chromium)
    assert in_first_screen(chromium, top) and top.text.startswith("INCOMPLETE") and "1 not evaluated" in top.text
    (row,) = attention_rows(chromium)
    assert in_first_screen(chromium, row)
    assert row.text.startswith("DRV-NOUVEAU") and "NOT EVALUATED" in row.text and "lsmod.txt" in row.text


def test_healthy_replay_shows_both_gpus_lines_on_the_first_screen(run_suite, chromium):
    from selenium.webdriver.common.by import By

    run = run_suite("--replay", str(HOSTS / "dual-p40"))
    assert run.ret == 0
    shown(chromium, run.run_dir / "report.html")
    top = banner(chromium)
    assert in_first_screen(chromium, top) and top.text.startswith("ACCEPTED") and "REPLAY" in top.text
    assert attention_rows(chromium) == []
    chart = chromium.find_element(By.CSS_SELECTOR, f'.gpuaccept-load svg[aria-label="{TILE.format(title="utilization")}"]')
    assert in_first_screen(chromium, chart)
    lines = chromium.execute_script("""
        return [...arguments[0].querySelectorAll('polyline.gpu-line')].map(p => {
            const r = p.getBoundingClientRect(), s = getComputedStyle(p);
            return {gpu: p.dataset.gpu, length: p.getTotalLength(), dash: s.strokeDasharray, stroke: s.stroke,
                    box: [r.left, r.top, r.right, r.bottom], shown: s.visibility === 'visible' && s.display !== 'none'};
        })""", chart)
    assert [line["gpu"] for line in lines] == ["GPU0", "GPU1"]
    (a, b) = lines
    assert a["dash"] != b["dash"] and a["stroke"] != b["stroke"]
    for line in lines:
        left, top_y, right, bottom = line["box"]
        assert line["shown"] and line["length"] > 100
        assert 0 <= left < right <= browser.WIDTH and 0 <= top_y <= bottom <= browser.HEIGHT
    # The two GPUs' equal lines, as painted: each GPU's colour covers pixels of its own.
    painted = painted_colours(chromium, chart)
    assert painted[COLOURS[0]] > 150 and painted[COLOURS[1]] > 150, painted
    legend = chart.text
    assert "GPU0: mean 47.0%" in legend and "GPU1: mean 47.0%" in legend
    # Every metric that matters has its chart in the load tier's section.
    labels = [e.get_attribute("aria-label") for e in chromium.find_elements(By.CSS_SELECTOR, ".gpuaccept-load svg")]
    assert labels == [TILE.format(title=t) for t in
                      ("utilization", "memory used", "temperature", "power", "PCIe link generation")]


def painted_colours(driver, svg) -> dict[str, int]:
    """How many pixels of each GPU colour the chart's plot paints (drawn on a canvas from its own markup, the
    legend left out)."""
    counts = driver.execute_async_script("""
        const [chart, colours, done] = arguments;
        const svg = chart.cloneNode(true);
        svg.querySelectorAll('.legend').forEach(g => g.remove());
        const img = new Image(), canvas = document.createElement('canvas');
        canvas.width = chart.width.baseVal.value; canvas.height = chart.height.baseVal.value;
        img.onload = () => {
            const ctx = canvas.getContext('2d'); ctx.drawImage(img, 0, 0);
            const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
            const want = colours.map(c => [1, 3, 5].map(i => parseInt(c.slice(i, i + 2), 16)));
            const out = want.map(() => 0);
            const near = (i, w) => Math.abs(px[i] - w[0]) + Math.abs(px[i + 1] - w[1]) + Math.abs(px[i + 2] - w[2]) < 40;
            for (let i = 0; i < px.length; i += 4) want.forEach((w, n) => { if (near(i, w)) out[n]++; });
            done(out);
        };
        img.onerror = () => done(null);
        img.src = 'data:image/svg+xml;charset=utf-8,' + encodeURIComponent(new XMLSerializer().serializeToString(svg));
    """, svg, list(COLOURS[:2]))
    assert counts is not None, "the chart's markup did not load as an image"
    return dict(zip(COLOURS[:2], counts, strict=True))


TEXTS = ('.gpuaccept td, .gpuaccept th, .gpuaccept p, .gpuaccept h3, .gpuaccept li, .gpuaccept-verdict .verdict, '
         '.gpuaccept-verdict p, #environment td, .filters span, #results-table td, #results-table th, #results-table a')


def text_colours(driver, selector: str = TEXTS) -> list:
    """(text, its colour, the colour behind it) of every element with text that ``selector`` finds."""
    return driver.execute_script("""
        const rgb = c => { const m = c.match(/\\d+(\\.\\d+)?/g).map(Number);
                           return '#' + m.slice(0, 3).map(v => v.toString(16).padStart(2, '0')).join(''); };
        return [...document.querySelectorAll(arguments[0])]
            .filter(e => e.innerText.trim()).map(e => {
                let bg = e, c;
                while (bg && ((c = getComputedStyle(bg).backgroundColor) === 'rgba(0, 0, 0, 0)' || c === 'transparent'))
                    bg = bg.parentElement;
                return [e.innerText.slice(0, 40), rgb(getComputedStyle(e).color), bg ? rgb(c) : '#ffffff'];
            })""", selector)


def test_every_row_on_the_first_screen_is_readable(run_suite, chromium):
    run = run_suite("--replay", str(HOSTS / "dual-p40-x8-link"))
    shown(chromium, run.run_dir / "report.html")
    pairs = text_colours(chromium)
    assert len(pairs) > 200  # both tiers' cells, the banner, pytest-html's environment and results tables
    backgrounds = {bg for _, _, bg in pairs}
    assert first_screen.ROWS["fail"] in backgrounds and first_screen.ROWS["pass"] in backgrounds
    poor = [(text, fg, bg, round(contrast(fg, bg), 2)) for text, fg, bg in pairs if contrast(fg, bg) < 4.5]
    assert not poor, poor


def test_markup_from_evidence_and_options_stays_text_in_the_browser(run_suite, chromium, tmp_path):
    from selenium.common.exceptions import NoAlertPresentException

    evidence = tmp_path / "hostile"
    shutil.copytree(HOSTS / "dual-p40", evidence)
    nvml = json.loads((evidence / "nvml.json").read_text())
    nvml["gpus"][0]["serial"] = SERIAL
    (evidence / "nvml.json").write_text(json.dumps(nvml))
    run = run_suite("--replay", str(evidence), "--technician", TECHNICIAN, "--ticket", SERIAL)
    assert run.run_dir is not None, run.stdout[-2000:]
    view = shown(chromium, run.run_dir / "report.html")
    chromium.execute_script("window.scrollTo(0, document.body.scrollHeight)")  # lazily built parts too
    time.sleep(1)  # an injected image's error handler would run after its failed load: give it the time
    with pytest.raises(NoAlertPresentException):
        chromium.switch_to.alert.text  # noqa: B018 (reading it is the check)
    assert view["title"] == chromium.title == "GPU acceptance: dual-p40 (REPLAY)"
    assert chromium.execute_script("return window.pwned === undefined && document.querySelectorAll("
                                   "'img[src=\"x\"]').length === 0")
    text = chromium.execute_script("return document.body.innerText")
    assert f"technician: {TECHNICIAN}" in text  # the first screen's line, as typed
    assert f"serial {SERIAL}" in text  # the environment table's GPU0 row


def test_interrupted_run_says_so_first_and_shows_what_it_left_unjudged(chromium, tmp_path):
    import signal

    from selenium.webdriver.common.by import By

    from tests.test_interrupted import _env, stopped_run

    env = _env(tmp_path, SLOW_TEST="test_pcie_width[gpu0]")
    rc, out, folder = stopped_run(tmp_path, tmp_path / "reports", ["-p", "slow_test", "--replay", str(HOSTS / "dual-p40")],
                                  signal.SIGTERM, env)
    assert rc == 2, out[-2000:]
    shown(chromium, folder / "report.html")
    (top,) = chromium.find_elements(By.CSS_SELECTOR, ".gpuaccept-unfinished")
    assert in_first_screen(chromium, top) and top.rect["y"] < 40
    assert top.text.startswith("INTERRUPTED: this run did not finish") and "SIGTERM" in top.text
    assert not chromium.find_elements(By.CSS_SELECTOR, ".gpuaccept-verdict")  # no second, finished-looking verdict
    rows = attention_rows(chromium)
    cut = [r for r in rows if r.text.startswith("PCIE-WIDTH gpu0 NOT EVALUATED")]
    assert len(cut) == 1 and in_first_screen(chromium, cut[0]) and "interrupted" in cut[0].text


def test_a_diag_run_shows_the_diag_tier_with_its_charts(run_suite, chromium, tmp_path):
    from selenium.webdriver.common.by import By

    from gpuaccept.report import diag_charts
    from tests import diag_evidence

    evidence = diag_evidence.dual_p40_with_diag(tmp_path / "with-diag")
    run = run_suite("--replay", str(evidence), "-m", "quick or diag")
    assert run.ret == 0, run.stdout[-3000:]
    shown(chromium, run.run_dir / "report.html")
    assert banner(chromium).text.startswith("ACCEPTED")
    (section,) = chromium.find_elements(By.CSS_SELECTOR, ".gpuaccept-diag")
    chromium.execute_script("arguments[0].scrollIntoView()", section)
    assert section.is_displayed() and section.find_element(By.TAG_NAME, "h3").text == "Diag tier"
    rows = section.find_elements(By.CSS_SELECTOR, "table.gpuaccept-tier tr")[1:]
    assert [r.text.split()[:2] for r in rows] == [[rid, "PASS"] for rid in
                                                  ("PCIE-BANDWIDTH", "PCIE-REPLAY", "GPU-MEMTEST", "GPU-SOAK", "GPU-P2P")]
    charts = section.find_elements(By.TAG_NAME, "svg")
    assert [c.get_attribute("aria-label") for c in charts] == [
        *(diag_charts.SOAK_TILE.format(title=t) for t in ("temperature", "power", "SM clock")), diag_charts.BANDWIDTH]
    drawn = chromium.execute_script("""
        return arguments[0].map(svg => ({
            box: (r => [r.width, r.height])(svg.getBoundingClientRect()),
            lines: [...svg.querySelectorAll('polyline.gpu-line')].map(p => [p.dataset.gpu, p.getTotalLength()]),
            refs: svg.querySelectorAll('line.ref').length,
            bars: [...svg.querySelectorAll('rect.bar')].map(b => b.getBoundingClientRect().width),
            floor: svg.querySelectorAll('line.floor').length}))""", charts)
    for chart in charts:
        assert chart.is_displayed()
    for soak in drawn[:3]:
        assert soak["box"][0] >= 300 and soak["box"][1] > 100
        assert [g for g, _ in soak["lines"]] == ["GPU0", "GPU1"] and all(length > 100 for _, length in soak["lines"])
    assert [d["refs"] for d in drawn[:3]] == [1, 2, 0]  # slowdown - margin; the power limit and its floor
    copies = drawn[3]
    assert len(copies["bars"]) == 8 and min(copies["bars"]) > 100 and copies["floor"] == 1
    assert "floor 10" in charts[3].text and "GPU1" in charts[3].text
    link = section.find_element(By.CSS_SELECTOR, "table.diag-link")
    assert link.is_displayed() and link.text.count("Gen3 x16 (6 samples)") == 4
    poor = [(t, fg, bg) for t, fg, bg in text_colours(chromium, ".gpuaccept-diag td, .gpuaccept-diag th, "
                                                                ".gpuaccept-diag p, .gpuaccept-diag h3")
            if contrast(fg, bg) < 4.5]
    assert not poor, poor

    # The same evidence without -m diag: the opt-in tier did not run, so no section of it.
    bare = run_suite("--replay", str(evidence))
    shown(chromium, bare.run_dir / "report.html")
    assert chromium.find_elements(By.CSS_SELECTOR, ".gpuaccept-diag") == []
