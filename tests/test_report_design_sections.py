"""The report shows each design family's own section: multi-arm operating characteristics,
adaptive selection and re-estimated N, and power under model uncertainty."""

from __future__ import annotations

from pathlib import Path

import pytest

from cstrial.engine import run
from cstrial.report import write_report
from cstrial.sensitivity import sensitivity_analysis, write_sensitivity

PROTOCOLS = Path(__file__).parent.parent / "protocols"


def _page(protocol: str, tmp_path: Path, n_sims: int = 100) -> str:
    out = tmp_path / protocol
    run(PROTOCOLS / f"{protocol}.yaml", n_sims=n_sims, jobs=1, out=out)
    return write_report(out).path.read_text()


def test_a_multi_arm_run_reports_selection_and_familywise_error(tmp_path):
    page = _page("toci-anakinra-3arm", tmp_path)
    assert 'id="multiarm"' in page
    for heading in ("P(selected)", "disjunctive power (any arm)", "familywise error"):
        assert heading in page


def test_an_enrichment_run_reports_selection_probabilities(tmp_path):
    page = _page("toci-il6-adaptive-enrichment", tmp_path)
    assert 'id="adaptive"' in page
    for heading in ("P(subgroup only)", "P(reject H_S)", "expected screened"):
        assert heading in page


def test_a_re_estimated_run_reports_the_distribution_of_its_final_n(tmp_path):
    page = _page("toci-promising-zone", tmp_path)
    assert "P(increase)" in page and "q90" in page


def test_a_fixed_design_has_no_design_family_section(tmp_path):
    page = _page("toci-amics", tmp_path, n_sims=50)
    for section in ('id="multiarm"', 'id="adaptive"', 'id="sensitivity"'):
        assert section not in page


@pytest.mark.slow
def test_a_sensitivity_analysis_written_into_the_run_is_reported(tmp_path):
    out = tmp_path / "amics"
    run(PROTOCOLS / "toci-amics.yaml", n_sims=50, jobs=1, out=out)
    result = sensitivity_analysis(
        PROTOCOLS / "toci-amics.yaml", n_sims=50, draws=2, parameters=["blockade"]
    )
    write_sensitivity(result, out / "sensitivity")
    page = write_report(out).path.read_text()
    assert 'id="sensitivity"' in page and "Latin-hypercube" in page
