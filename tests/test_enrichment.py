"""A treatment acting through IL-6 gains power from IL-6 enrichment at equal sample size (seeded)."""

from pathlib import Path

import numpy as np

from cstrial.engine import run

PROTOCOL = Path(__file__).parents[1] / "protocols" / "toci-enrichment.yaml"


def test_il6_enriched_design_has_more_power_than_all_comers(tmp_path):
    n_sims = 400
    summary = run(PROTOCOL, n_sims=n_sims, jobs=2, out=tmp_path / "run").summary.set_index(
        "scenario"
    )
    power = summary["power"]
    se = np.sqrt(power * (1 - power) / n_sims)
    # all-comers < IL-6 >= 100 < IL-6 >= 200, each gap beyond 4 Monte Carlo SE of the difference
    for low, high in (("base", "il6-100"), ("il6-100", "il6-200")):
        assert power[high] - power[low] > 4 * np.hypot(se[low], se[high]), (low, high)
    # enrichment costs screening: more patients screened per patient enrolled
    assert (
        summary.loc["il6-200", "screened_per_enrolled"]
        > summary.loc["base", "screened_per_enrolled"]
    )
    # the effect concentrates in high-IL-6 patients: a larger true risk difference
    assert summary.loc["il6-200", "true_effect"] < summary.loc["base", "true_effect"] < 0
    # the trade-off in numbers: fewer patients for the design's power, more screened per patient
    n = summary["analytic_sample_size"]
    assert n["il6-200"] < n["il6-100"] < n["base"]
    assert (
        summary.loc["il6-200", "analytic_screened"]
        == n["il6-200"] / summary.loc["il6-200", "eligible_fraction"]
    )
    # and the enriched null keeps its type I error (0.025 within 4 SE)
    assert abs(power["il6-200-null"] - 0.025) < 4 * np.sqrt(0.025 * 0.975 / n_sims)
