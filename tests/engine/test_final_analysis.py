"""`design.final_analysis: events`: a time-to-event trial that ends at its planned deaths,
checked against rpact 3.3.4's getSimulationSurvival.

rpact simulated the trial of `rpact_final_events/final-events.yaml` (600 patients at 30 a
month, an interim at 100 deaths, the final analysis at 200, O'Brien-Fleming-type bounds,
10% a year lost to follow-up) from each arm's marginal survival law in the cstrial model,
given to it as piecewise-exponential hazards (`make_input.py` → `input.json` →
`generate.R` → `rpact.json`, 20,000 iterations per scenario). Every comparison holds
within 4 Monte Carlo standard errors of the two simulations together.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cstrial.engine import run

HERE = Path(__file__).parent / "rpact_final_events"
PROTOCOL = HERE / "final-events.yaml"
RPACT = json.loads((HERE / "rpact.json").read_text())["scenarios"]


def _compare(result, n_sims: int) -> None:
    trials = pd.read_parquet(result.trials_path)
    for name, reference in RPACT.items():
        rows = trials[trials["scenario"] == name]
        summary = result.summary[result.summary["scenario"] == name].iloc[0]
        # the bounds are rpact's
        np.testing.assert_allclose(
            result.manifest["scenarios"][0 if name == "base" else 1]["comparisons"][0][
                "efficacy_z"
            ],
            reference["efficacy_z"],
            atol=1e-4,
        )
        # every trial that reaches the final look analyses exactly the planned deaths
        final = rows[rows["stop_look"] == 2]
        deaths = final["events_control"] + final["events_treatment"]
        assert (deaths == reference["planned_events"][-1]).all(), name
        n_r = reference["iterations"]

        def within(ours, theirs, sd, n_ours, n_theirs=n_r, what="", name=name):
            se = sd * np.sqrt(1 / n_ours + 1 / n_theirs)
            assert abs(ours - theirs) <= 4 * se, (name, what, ours, theirs, se)

        p = reference["overall_reject"]
        within(summary["power"], p, np.sqrt(p * (1 - p)), n_sims, what="power")
        p1 = reference["reject_per_stage"][0]
        within(summary["reject_look_1"], p1, np.sqrt(p1 * (1 - p1)), n_sims, what="look 1")
        within(
            final["duration_months"].mean(),
            reference["final_time_mean"],
            reference["final_time_sd"],
            len(final),
            n_r * (1 - p1),
            what="final analysis month",
        )
        within(
            summary["expected_n"],
            reference["expected_subjects"],
            reference["subjects_sd"],
            n_sims,
            what="expected patients",
        )
        within(
            summary["expected_duration_months"],
            reference["duration_mean"],
            reference["duration_sd"],
            n_sims,
            what="expected months",
        )


def test_event_driven_trial_matches_rpact(tmp_path):
    n_sims = 1000
    _compare(run(PROTOCOL, n_sims=n_sims, jobs=1, out=tmp_path / "run"), n_sims)


@pytest.mark.slow
def test_event_driven_trial_matches_rpact_10000(tmp_path):
    n_sims = 10_000
    _compare(run(PROTOCOL, n_sims=n_sims, jobs=2, out=tmp_path / "run"), n_sims)


def test_event_driven_trial_ends_sooner_and_smaller_than_at_the_horizon(tmp_path):
    """200 planned deaths of about 290 the model expects: the events design stops at its
    200th death, before the last patient reaches day 180, with fewer patients enrolled."""
    import yaml

    data = yaml.safe_load(PROTOCOL.read_text())
    data["scenarios"] = [{"name": "horizon", "set": {"design.final_analysis": "horizon"}}]
    path = tmp_path / "both.yaml"
    path.write_text(yaml.safe_dump(data))
    result = run(path, n_sims=200, jobs=1, out=tmp_path / "run")
    events, horizon = (result.summary.set_index("scenario").loc[s] for s in ("base", "horizon"))
    assert events["expected_duration_months"] < horizon["expected_duration_months"] - 5
    assert events["expected_n"] < horizon["expected_n"]
    trials = pd.read_parquet(result.trials_path)
    final = trials[(trials["scenario"] == "horizon") & (trials["stop_look"] == 2)]
    assert (final["events_control"] + final["events_treatment"] > 200).all()


def test_planned_deaths_are_the_deaths_dropout_leaves_observed(write_protocol, tmp_path):
    """Without design.planned_events, the planned deaths are the expected observed deaths:
    a trial followed to the horizon observes them on average (null effect: both arms share
    the control law the plan nets dropout out of); without netting, the patients lost to
    follow-up (100% a year) would leave the trials deaths short of the plan."""
    path = write_protocol(
        {
            "endpoints.primary": {
                "name": "d180",
                "type": "time-to-event",
                "horizon_days": 180,
                "analysis": "log-rank",
            },
            "arms.1.effect": {"model": "hazard-ratio", "value": 1.0},
            "design.sample_size": 600,
            "design.dropout": {"rate_per_year": 1.0},
            "scenarios": [],
        }
    )
    n_sims = 400
    result = run(path, n_sims=n_sims, jobs=1, out=tmp_path / "run")
    planned = result.manifest["scenarios"][0]["planned_events"]
    trials = pd.read_parquet(result.trials_path)
    deaths = (trials["events_control"] + trials["events_treatment"]).to_numpy(dtype=float)
    se = deaths.std(ddof=1) / np.sqrt(n_sims)
    assert abs(deaths.mean() - planned) <= 4 * se + 0.5  # 0.5: planned is rounded
    risk = result.summary["true_control_rate"].iloc[0]  # deaths by the horizon, all seen
    assert 600 * risk - planned > 8 * se + 0.5  # the netting matters at this dropout
