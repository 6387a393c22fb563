"""The diag tier's charts and link table, built straight from facts: healthy, then with the odd values
evidence can hold (NaN, None, strings, missing windows, markup). Nothing odd is plotted or breaks the page."""

from __future__ import annotations

import re

from gpuaccept.facts import GpuFacts, HostFacts, from_dict
from gpuaccept.facts_diag import Bandwidth, CopyRate, DiagFacts, LinkCopies, Soak
from gpuaccept.profile import DiagSpec
from gpuaccept.report import diag_charts, first_screen
from gpuaccept.report.chart import COLOURS, REF_COLOUR
from gpuaccept.samples import GpuSample, Sample
from tests import diag_evidence
from tests.test_report_browser import contrast

MARKUP = "<img src=x onerror=alert(1)>"
GPUS = tuple(GpuFacts(index=i, bus_id=bus, temp_slowdown_c=92, power_enforced_limit_w=250.0, pcie_gen_max=3,
                      pcie_width_max=16) for i, bus in diag_evidence.BUS.items())
SPEC = DiagSpec()


def healthy() -> DiagFacts:
    return from_dict(DiagFacts, diag_evidence.record())


def test_soak_charts_show_each_gpu_the_soak_and_the_limits_it_was_judged_against():
    charts = diag_charts.soak_charts(healthy(), GPUS, SPEC)
    labels = [re.search(r'aria-label="([^"]+)"', c)[1] for c in charts]
    assert labels == [diag_charts.SOAK_TILE.format(title=t) for t in ("temperature", "power", "SM clock")]
    temperature, power, clock = charts
    for chart in charts:
        assert chart.count('class="gpu-line"') == 2 and 'data-gpu="GPU0"' in chart and 'data-gpu="GPU1"' in chart
        assert 'fill="#e3ecf8"' in chart  # the soak, shaded
    assert "slowdown 92 °C - margin 5 °C = 87 °C" in temperature and temperature.count('class="ref"') == 1
    assert "enforced limit 250 W" in power and "85% of it: 212 W (the floor)" in power
    assert power.count('class="ref"') == 2 and 'class="ref"' not in clock
    assert "GPU0: mean 238.0 W" in power and "GPU1: mean 235.0 W" in power  # over the soak only
    assert "GPU0: mean 1531.0 MHz" in clock


def test_soak_charts_leave_out_what_is_not_a_finite_number():
    odd = (float("nan"), float("inf"), None, "90", True)
    samples = tuple(Sample(t=t, gpus=(GpuSample(index=0, temp_c=60.0 + t, power_w=200.0, sm_clock_mhz=1500),
                                      GpuSample(index=1, temp_c=v, power_w=v, sm_clock_mhz=v)))  # type: ignore[arg-type]
                    for t, v in zip((0.0, 1.0, 2.0, 3.0, 4.0), odd, strict=True))
    samples += (Sample(t=float("nan"), gpus=(GpuSample(index=0, temp_c=99.0),)),)
    diag = DiagFacts(samples=samples, soak=Soak(start_t=1.0, end_t=3.0))
    charts = diag_charts.soak_charts(diag, GPUS, SPEC)
    assert len(charts) == 3
    text = "".join(charts).lower()
    assert "nan" not in text and "inf" not in text and "99" not in text
    for chart in charts:
        assert chart.count('class="gpu-line"') == 1 and "GPU1: no readable samples" in chart
    assert "GPU0: mean 62.0 °C" in charts[0]  # the samples inside the soak: 61, 62, 63


def test_without_a_soak_window_nothing_is_shaded_and_the_mean_is_over_every_sample():
    samples = tuple(Sample(t=t, gpus=(GpuSample(index=0, temp_c=c),)) for t, c in ((0.0, 40.0), (5.0, 50.0), (10.0, 60.0)))
    for soak in (Soak(), Soak(start_t=float("nan"), end_t=10.0), Soak(start_t=8.0, end_t=2.0),
                 Soak(start_t=None, end_t=None)):  # type: ignore[arg-type]
        diag = DiagFacts(samples=samples, soak=soak)
        assert diag_charts.soak_window(diag) is None
        (temperature, *_) = diag_charts.soak_charts(diag, GPUS, SPEC)
        assert 'width="0.0" height="78" fill="#e3ecf8"' in temperature and "GPU0: mean 50.0 °C" in temperature


def test_no_samples_no_soak_charts_and_limits_without_numbers_are_not_drawn():
    assert diag_charts.soak_charts(DiagFacts(), GPUS, SPEC) == []
    assert diag_charts.soak_charts(DiagFacts(samples=(Sample(t=0.0, gpus=(GpuSample(index=0),)),)), GPUS, SPEC) == []
    unknown = (GpuFacts(index=0), GpuFacts(index=1, temp_slowdown_c=float("nan"), power_enforced_limit_w="250"))  # type: ignore[arg-type]
    diag = DiagFacts(samples=(Sample(t=0.0, gpus=(GpuSample(index=0, temp_c=50.0, power_w=100.0),)),))
    temperature, power = diag_charts.soak_charts(diag, unknown, SPEC)
    assert 'class="ref"' not in temperature + power


def test_bandwidth_bars_stand_against_the_floor_and_say_what_is_missing():
    svg = diag_charts.bandwidth_svg(healthy().bandwidth, 10.0)
    assert f'aria-label="{diag_charts.BANDWIDTH}"' in svg and svg.count('class="bar"') == 8
    assert ">11.8<" in svg and ">12.2<" in svg and "floor 10" in svg and "below the floor" not in svg
    odd = Bandwidth(alone=(LinkCopies(index=0, h2d=CopyRate(gbps=float("nan")), d2h=CopyRate(gbps=6.4)),
                           LinkCopies(index=MARKUP, h2d=CopyRate(gbps=None), d2h=CopyRate(gbps="12")),  # type: ignore[arg-type]
                           LinkCopies(index=None, h2d=CopyRate(gbps=12.0), d2h=CopyRate(gbps=12.0))))  # type: ignore[arg-type]
    svg = diag_charts.bandwidth_svg(odd, float("nan"))
    assert svg.count('class="bar"') == 1 and "6.4" in svg and "no figure" in svg and "nan" not in svg.lower()
    assert MARKUP not in svg and "&lt;img" in svg and 'class="floor"' not in svg  # no finite floor, no line
    assert "6.4 (below the floor)" in diag_charts.bandwidth_svg(odd, 10.0)
    assert diag_charts.bandwidth_svg(Bandwidth(), 10.0) == ""
    assert diag_charts.bandwidth_svg(None, 10.0) == ""


def test_the_link_table_gives_what_was_sampled_during_the_copies():
    table = diag_charts.link_table(healthy(), GPUS)
    assert table.count("Gen3 x16 (") == 4 and "Link maximum" in table
    # A window that is missing or not a number, a GPU NVML does not list, no copies all at once.
    odd = DiagFacts(bandwidth=Bandwidth(alone=(LinkCopies(index=0, h2d=CopyRate(gbps=1.0, start_t=float("nan")),
                                                          d2h=CopyRate(gbps=1.0, start_t=None, end_t=None)),  # type: ignore[arg-type]
                                               LinkCopies(index=7, h2d=CopyRate(gbps=1.0, start_t=0.0, end_t=1.0),
                                                          d2h=CopyRate(gbps=1.0)))),
                    samples=(Sample(t=0.5, gpus=(GpuSample(index=7, pcie_gen=1), GpuSample(index=7, pcie_gen=3, pcie_width=8))),))
    rows = re.findall(r"<tr>(<td>.*?)</tr>", diag_charts.link_table(odd, GPUS))
    assert rows[0] == "<td>GPU0</td><td>no samples</td><td>not run</td><td>Gen3 x16</td>"
    assert rows[1] == "<td>GPU7</td><td>Gen1-Gen3 x8 (2 samples)</td><td>not run</td><td>not known</td>"
    assert diag_charts.link_table(DiagFacts(), GPUS) == ""


def test_the_section_says_why_it_has_no_charts_and_escapes_the_reason():
    host = HostFacts(hostname="h", mode="replay", source="s", gpus=GPUS, diag=None, diag_missing=MARKUP)
    assert diag_charts.section(host, SPEC) == "<p>No diag charts: &lt;img src=x onerror=alert(1)&gt;.</p>"
    failed = HostFacts(hostname="h", mode="replay", source="s", gpus=GPUS, diag=DiagFacts(error=MARKUP))
    assert MARKUP not in diag_charts.section(failed, SPEC) and "the tier did not run" in diag_charts.section(failed, SPEC)
    shown = diag_charts.section(HostFacts(hostname="h", mode="replay", source="s", gpus=GPUS, diag=healthy()), SPEC)
    assert shown.count("<svg") == 4 and "shaded: the soak, 600 s" in shown and 'class="diag-link"' in shown


def test_the_diag_section_appears_only_when_diag_tests_ran():
    quick = [{"requirement": "GPU-COUNT", "outcome": "pass", "measured": "2"}]
    assert "Diag tier" not in first_screen.tiers(quick, [], "", "<p>charts</p>")
    ran = [*quick, {"requirement": "GPU-SOAK", "outcome": "warn", "measured": "GPU0 120 s under load"}]
    page = first_screen.tiers(ran, [], "", "<p>charts</p>")
    assert '<section class="gpuaccept-diag"><h3>Diag tier</h3>' in page and 'data-tier="diag"' in page
    assert page.endswith("<p>charts</p></section></div>")


def test_bars_and_limit_lines_stand_out_from_the_page():
    # WCAG 1.4.11: graphical objects need 3:1 against what they sit on (white, and the soak's shading).
    for colour in (*COLOURS, REF_COLOUR):
        assert contrast(colour, "#ffffff") >= 3.0 and contrast(colour, "#e3ecf8") >= 3.0, colour
