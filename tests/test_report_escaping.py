"""Nothing from evidence or options can run script when report.html is opened.

A replay of the bundled dual-p40 set whose GPU serial, name, VBIOS and host name hold markup, run with
markup in --technician, --ticket and --container. report.html is read as a browser builds it: its static
HTML, then every fragment pytest-html's script inserts as HTML from the page's embedded data (the
environment table's values, the result rows, logs and ``html`` extras). No element or attribute of a
payload may exist in any of them, and each payload must show as the text it is.
"""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

from gpuaccept.report.chart import METRICS, TILE
from tests.conftest import HOSTS

GPU_PAYLOADS = {"serial": '<img src=x onerror=alert("serial")>',
                "name": '</script><script>alert("name")</script>',
                "vbios_version": '"><svg onload=alert("vbios")>'}
HOST = '<img src=y onerror=alert("host")>'
TECHNICIAN = '<script>alert("technician")</script>'
TICKET = '<iframe src="javascript:alert(\'ticket\')"></iframe>'
CONTAINER = '<body onload=alert("container")>'
# Raw markup of every payload: none may appear unescaped in the file.
RAW = ["<img src=x", "<img src=y", "<script>alert", "<svg onload", "<iframe", "<body onload"]
FORBIDDEN = {"script", "img", "iframe", "object", "embed", "body", "frame", "base", "form", "meta", "link", "math"}
CHART = "GPU utilization and memory during the benchmark"  # the one SVG a report row may carry


class Elements(HTMLParser):
    """The elements and the text a browser makes of some HTML (script content is raw text, as in a browser)."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data):
        self.text.append(data)

    def named(self, tag: str) -> list[dict[str, str]]:
        return [attrs for t, attrs in self.tags if t == tag]

    def handlers(self) -> list[tuple[str, str, str]]:
        return [(t, k, v) for t, attrs in self.tags for k, v in attrs.items() if k.startswith("on")]


def assert_inert(markup: str, where: str) -> Elements:
    """A fragment pytest-html's script inserts as HTML: no payload element or attribute may come of it."""
    found = Elements(markup)
    bad = [(t, a) for t, a in found.tags if t in FORBIDDEN]
    bad += [(t, a) for t, a in found.tags if t == "svg" and a.get("aria-label") != CHART]
    bad += [(t, a) for t, a in found.tags for k in ("href", "src") if a.get(k, "").strip().lower().startswith("javascript:")]
    assert not bad and not found.handlers(), f"{where}: {bad or found.handlers()} in {markup[:300]!r}"
    return found


def fragments(data: dict) -> dict[str, str]:
    """What pytest-html's app.js inserts with innerHTML/insertAdjacentHTML, by where it comes from."""
    out: dict[str, str] = {}
    for key, value in data["environment"].items():  # dom.getStaticRow: `<div>${value}</div>` or a list
        out[f"environment {key}"] = (f"<ul>{''.join(f'<li>{k}: {v}</li>' for k, v in value.items())}</ul>"
                                     if isinstance(value, dict) else f"<div>{value}</div>")
    for test_id, runs in data["tests"].items():
        for n, run in enumerate(runs):
            for i, cell in enumerate(run.get("resultsTableRow", [])):
                out[f"{test_id}#{n} cell {i}"] = cell
            out[f"{test_id}#{n} log"] = "".join(run.get("log", "")) if isinstance(run.get("log"), list) else run.get("log", "")
            for i, extra in enumerate(run.get("extras", [])):
                if extra["format_type"] == "html":
                    out[f"{test_id}#{n} extra {i}"] = f"<div>{extra['content']}</div>"
                else:  # a link to a data: URI: it must not be a page of its own
                    assert extra["content"].startswith(("data:application/json", "data:text/plain")), extra
            for i, item in enumerate(run.get("tableHtml", []) or []):
                out[f"{test_id}#{n} table html {i}"] = item
    return out


def hostile_copy(tmp_path: Path) -> Path:
    folder = tmp_path / "hostile"
    shutil.copytree(HOSTS / "dual-p40", folder)
    nvml = json.loads((folder / "nvml.json").read_text())
    for gpu in nvml["gpus"]:
        gpu.update(GPU_PAYLOADS)
    (folder / "nvml.json").write_text(json.dumps(nvml))
    host = json.loads((folder / "host.json").read_text())
    host["hostname"] = HOST
    (folder / "host.json").write_text(json.dumps(host))
    return folder


def test_markup_in_evidence_and_options_never_becomes_markup_in_the_report(run_suite, tmp_path):
    run = run_suite("--replay", str(hostile_copy(tmp_path)), "--technician", TECHNICIAN, "--ticket", TICKET,
                    "--container", CONTAINER)
    assert run.run_dir is not None and "GPU-MODEL" in run.failing(), run.stdout[-3000:]
    source = (run.run_dir / "report.html").read_text(encoding="utf-8")
    for raw in RAW:
        assert raw not in source, f"unescaped {raw!r} in report.html"

    # The static page: pytest-html's own script and reload button, nothing else that runs.
    page = Elements(source)
    assert len(page.named("script")) == 1 and len(page.named("body")) == 1
    assert page.handlers() == [("div", "onclick", "location.reload()")]
    assert [a.get("src") for a in page.named("img")] == [""]  # the media viewer's empty template
    assert not page.named("iframe")
    # The first screen's charts, one per metric: the only SVG in the static page.
    assert [a.get("aria-label") for a in page.named("svg")] == [TILE.format(title=m.title) for m in METRICS]
    shown = " ".join(page.text)
    assert TECHNICIAN in shown and TICKET in shown and HOST in shown  # first screen and title, as text
    assert GPU_PAYLOADS["name"] in shown and CONTAINER in shown  # measured values in the requirement table

    # What the page's script inserts as HTML from its embedded data.
    (blob,) = [a["data-jsonblob"] for t, a in page.tags if "data-jsonblob" in a]
    data = json.loads(blob)
    parts = fragments(data)
    assert any(name.endswith(" log") for name in parts) and "environment GPU0" in parts
    texts = {name: " ".join(assert_inert(markup, name).text) for name, markup in parts.items()}
    # Escaped once: the browser shows the payload as the text it is, not as entities.
    assert texts["environment Technician"] == TECHNICIAN and texts["environment Ticket"] == TICKET
    assert texts["environment Host"] == HOST
    for value in GPU_PAYLOADS.values():
        assert value in texts["environment GPU0"] and value in texts["environment GPU1"]
    logs = " ".join(t for name, t in texts.items() if name.endswith(" log"))
    assert GPU_PAYLOADS["name"] in logs  # the GPU-MODEL failure message quotes the name
