"""What a steering committee reads first: the design in words, bounds on the effect scale,
power and type I error told apart, secondary endpoints, every scale named, the protocol
printed, figures whose panels and colours stay apart; and a section list features extend."""

from __future__ import annotations

import html
import json
import re

import numpy as np
import pytest
from helpers import SMALL

from cstrial.design.effect_scale import hazard_ratio_bounds, risk_difference_bounds
from cstrial.engine import run
from cstrial.report import sections as report_sections
from cstrial.report import write_report
from cstrial.report.figures import (
    BoundaryPanel,
    boundaries_figure,
    distinct_colours,
    stopping_figure,
)
from cstrial.report.sections import ReportContext, Section, Table, register_section


def _text(page: str) -> str:
    """The page's visible text, one space between words."""
    page = re.sub(r"<style>.*?</style>", " ", page, flags=re.S)
    page = re.sub(r'src="data:[^"]*"', "", page)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def _sections(page: str) -> list[str]:
    return re.findall(r'<section id="([a-z_-]+)"', page)


@pytest.fixture(scope="module")
def three_look(tmp_path_factory):
    """small.yaml with two interim looks and futility, and its null scenario."""
    import yaml

    folder = tmp_path_factory.mktemp("three")
    data = yaml.safe_load(SMALL.read_text())
    data["design"]["looks"] = [1 / 3, 2 / 3, 1.0]
    data["design"]["futility"] = {"spending": "hwang-shih-decani", "parameter": -2}
    path = folder / "three.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    out = folder / "run"
    run(path, n_sims=40, jobs=1, out=out)
    report = write_report(out)
    return out, report.path.read_text(encoding="utf-8")


def test_the_report_opens_with_the_design_in_plain_language(three_look):
    _, page = three_look
    assert _sections(page)[0] == "design"
    design = _text(page.split('<section id="design"')[1].split("</section>")[0])
    for words in (
        "randomises 400 patients",
        "aetiology AMI",
        "(1:1) to control (control) and active (a patient-level risk ratio of 0.8)",
        "death by day 30",
        "one-sided α = 0.025",
        "2 interim analyses, at 33% and 67% of the planned patients followed up",
        "Power is the share",
        "type I error",
    ):
        assert words in design


def test_the_bounds_table_gives_the_risk_difference_that_stops_the_trial(three_look):
    out, page = three_look
    manifest = json.loads((out / "manifest.json").read_text())
    scenario = manifest["scenarios"][0]
    comparison = scenario["comparisons"][0]
    import pandas as pd

    summary = pd.read_parquet(out / "summary.parquet")
    control = float(summary.loc[summary["scenario"] == "base", "true_control_rate"].iloc[0])
    n = np.asarray(scenario["look_patients"], dtype=float)
    expected = risk_difference_bounds(comparison["efficacy_z"], n / 2, n / 2, control)
    bounds = page.split('<section id="bounds"')[1].split("</section>")[0]
    assert "efficacy: risk difference ≤" in bounds and "cumulative α spent" in bounds
    for value in expected:
        assert f"{value:+.4f}" in bounds
    # the futility bound of each interim on the effect scale too
    futility = risk_difference_bounds(comparison["futility_z"][:2], n[:2] / 2, n[:2] / 2, control)
    for value in futility:
        assert f"{value:+.4f}" in bounds


def test_type_one_error_is_labelled_as_such(three_look):
    _, page = three_look
    results = _text(page.split('<section id="results"')[1].split("</section>")[0])
    assert "null-effect type I error (α 0.025)" in results
    assert "base power" in results


def test_the_protocol_is_printed_in_full_not_collapsed(three_look):
    _, page = three_look
    assert "<details" not in page
    protocol = page.split('<section id="protocol"')[1]
    assert "<pre>name: three" in protocol or "<pre>name: small" in protocol
    assert "@media print" in page


def test_each_scale_gets_its_own_caption_and_bounds(write_protocol, tmp_path):
    path = write_protocol(
        {
            "scenarios": [
                {
                    "name": "tte",
                    "set": {
                        "endpoints.primary": {
                            "name": "surv",
                            "type": "time-to-event",
                            "horizon_days": 90,
                            "analysis": "log-rank",
                        }
                    },
                }
            ]
        }
    )
    out = tmp_path / "run"
    run(path, n_sims=20, jobs=1, out=out)
    page = write_report(out).path.read_text(encoding="utf-8")
    text = _text(page)
    assert "risk difference (treatment − control, below 0 favours treatment)" in text
    assert "hazard ratio (treatment / control, below 1 favours treatment)" in text
    manifest = json.loads((out / "manifest.json").read_text())
    tte = next(s for s in manifest["scenarios"] if s["name"] == "tte")
    z = tte["comparisons"][0]["efficacy_z"]
    hr = hazard_ratio_bounds(z, tte["look_events"])
    assert "efficacy: hazard ratio ≤" in page and f"{hr[-1]:.3f}" in page


def test_secondary_endpoints_have_their_own_section(write_protocol, tmp_path):
    path = write_protocol(
        {
            "endpoints.secondary": [
                {
                    "name": "death_90d",
                    "type": "binary",
                    "horizon_days": 90,
                    "analysis": "two-proportion",
                }
            ],
            "scenarios": [],
        }
    )
    out = tmp_path / "run"
    run(path, n_sims=20, jobs=1, out=out)
    page = write_report(out).path.read_text(encoding="utf-8")
    assert "secondary" in _sections(page)
    secondary = _text(page.split('<section id="secondary"')[1].split("</section>")[0])
    assert "death_90d" in secondary and "without multiplicity control" in secondary


def test_scenarios_never_share_a_colour():
    for n in (1, 7, 8, 9, 17, 20, 21, 64, 300):
        assert len(set(distinct_colours(n))) == n
    import pandas as pd

    rows = [
        {
            "scenario": f"grid-{i}",
            "comparison": "a vs b",
            "reject_look_1": 0.1,
            "reject_look_2": 0.5,
            "futility_look_1": 0.2,
            "futility_look_2": 0.2,
        }
        for i in range(17)
    ]
    figure = stopping_figure(pd.DataFrame(rows), max_scenarios=17)
    ax = figure.axes[0]
    colours = {
        tuple(c.patches[0].get_facecolor()) for c in ax.containers if c.get_label()[:1] != "_"
    }
    assert len(colours) == 17


def test_boundary_panels_do_not_overlap():
    looks = np.array([1 / 3, 2 / 3, 1.0])
    panels = [
        BoundaryPanel(
            scenario=f"grid-blockade-0.{i}-sample_size-1800-il6_pg_ml-min-100",
            comparison="tocilizumab 8 mg/kg vs placebo",
            information=looks,
            efficacy_z=np.array([3.7, 2.5, 2.0]),
            futility_z=np.array([-0.2, 0.9, 2.0]),
            paths=np.random.default_rng(i).normal(1, 1, (5, 3)),
            decisions=np.array(["none"] * 5),
        )
        for i in range(4)
    ]
    figure = boundaries_figure(panels)
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    boxes = [ax.get_tightbbox(renderer) for ax in figure.axes]
    for i in range(len(boxes)):
        for j in range(i + 1, len(boxes)):
            assert not boxes[i].overlaps(boxes[j]), (i, j)


def test_a_feature_adds_a_section_with_a_small_function(three_look, monkeypatch):
    out, _ = three_look
    monkeypatch.setattr(report_sections, "SECTIONS", list(report_sections.SECTIONS))

    def selection_section(context: ReportContext) -> Section | None:
        return Section(
            "arm-selection",
            "Arm selection",
            paragraphs=(f"{len(context.summary)} rows",),
            tables=(Table(["arm", "selected"], [["active", "0.50"]], caption="share selected"),),
        )

    register_section(selection_section, after="results_section")
    page = write_report(out).path.read_text(encoding="utf-8")
    order = _sections(page)
    assert order.index("arm-selection") == order.index("results") + 1
    assert "share selected" in page
