"""Organ-support-free days (REMAP-CAP style) and the proportional-odds analysis in the engine.

The endpoint's values are checked on constructed courses against the definition
(docs/model.md, "Organ-support-free days"); the analysis inside the engine against
`cstrial.analysis.proportional_odds` (itself pinned to MASS::polr and ordinal::clm in
tests/analysis/test_proportional_odds.py); the type I error of a three-look design
under the null within 4 Monte Carlo SE (`helpers.assert_within_se`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import assert_within_se
from typer.testing import CliRunner

from cstrial.analysis.proportional_odds import proportional_odds
from cstrial.cli import app
from cstrial.design.boundaries import efficacy_bounds_at
from cstrial.disease.course import Course, organ_support_free_days
from cstrial.endpoints import TrialCourse, analyse, outcome_at
from cstrial.engine import run
from cstrial.errors import ProtocolError
from cstrial.protocol.models import Endpoint
from cstrial.protocol.vocabulary import ORGAN_SUPPORTS

INF = np.inf
ALPHA = 0.025
# a reviewer's first try (first-hours-protocols/try-ordinal.yaml), abridged
TRY_ORDINAL = """
name: ordinal
population: {inclusion: {etiology: [AMI], il6_pg_ml: {min: 100}}}
arms:
  - {name: placebo, control: true}
  - name: tocilizumab
    effect: {model: pkpd, drug: tocilizumab, dose_mg_per_kg: 8, delay_hours: 6}
endpoints:
  primary: {name: ord, type: ordinal, horizon_days: 30, analysis: proportional-odds}
design: {sample_size: 1800, alpha: 0.025}
"""


def _course(**intervals: tuple[list[float], list[float]]) -> Course:
    """A Course of len(first interval) patients with the given support intervals."""
    n = len(next(iter(intervals.values()))[0])
    none = np.full(n, INF)
    vaso = np.array(intervals.get("vasopressors", ([0.0] * n, [0.0] * n))[1], float)
    vent = intervals.get("mechanical_ventilation", (none, none))
    mcs = intervals.get("mcs", (none, none))
    rrt = intervals.get("renal_replacement", (none, none))
    return Course(
        rrt_day=np.asarray(rrt[0], float),
        mcs_escalation_day=none,
        vasopressor_days=vaso,
        icu_discharge_day=none,
        hospital_discharge_day=none,
        rrt_end_day=np.asarray(rrt[1], float),
        mcs_start_day=np.asarray(mcs[0], float),
        mcs_end_day=np.asarray(mcs[1], float),
        ventilation_day=np.asarray(vent[0], float),
        ventilation_end_day=np.asarray(vent[1], float),
    )


# (what, death day, intervals, supports counted, horizon, expected OSFD)
CASES = [
    (
        "death before the horizon is -1",
        10.0,
        {"vasopressors": ([0], [3.0])},
        ORGAN_SUPPORTS,
        21,
        -1,
    ),
    (
        "death on the horizon day is -1",
        21.0,
        {"vasopressors": ([0], [1.0])},
        ORGAN_SUPPORTS,
        21,
        -1,
    ),
    (
        "death after the horizon scores its free days",
        25.0,
        {"vasopressors": ([0], [3.5])},
        ORGAN_SUPPORTS,
        21,
        17,
    ),
    (
        "no support at all: every day free",
        INF,
        {"vasopressors": ([0], [0.0])},
        ORGAN_SUPPORTS,
        21,
        21,
    ),
    (
        "a support ending on a day boundary frees the next day",
        INF,
        {"vasopressors": ([0], [2.0])},
        ORGAN_SUPPORTS,
        21,
        19,
    ),
    (
        "any part of a day on support counts the day",
        INF,
        {"vasopressors": ([0], [2.0]), "mechanical_ventilation": ([5.5], [7.2])},
        ORGAN_SUPPORTS,
        21,
        16,
    ),
    (
        "overlapping supports count each day once",
        INF,
        {
            "vasopressors": ([0], [4.0]),
            "mechanical_ventilation": ([0.2], [3.0]),
            "mcs": ([0.0], [4.5]),
        },
        ORGAN_SUPPORTS,
        21,
        16,
    ),
    (
        "only the listed supports count",
        INF,
        {"vasopressors": ([0], [4.0]), "renal_replacement": ([2.5], [12.0])},
        ("vasopressors", "mechanical_ventilation", "mcs"),
        21,
        17,
    ),
    (
        "RRT counts when listed",
        INF,
        {"vasopressors": ([0], [4.0]), "renal_replacement": ([2.5], [12.0])},
        ORGAN_SUPPORTS,
        21,
        9,
    ),
    (
        "support beyond the horizon: zero free days",
        INF,
        {"vasopressors": ([0], [40.0])},
        ORGAN_SUPPORTS,
        21,
        0,
    ),
    ("a shorter horizon", INF, {"vasopressors": ([0], [2.5])}, ORGAN_SUPPORTS, 7, 4),
    (
        "a support that never starts does not count",
        INF,
        {"vasopressors": ([0], [1.0]), "mcs": ([INF], [INF])},
        ORGAN_SUPPORTS,
        14,
        13,
    ),
]


@pytest.mark.parametrize(
    ("death", "intervals", "supports", "horizon", "expected"),
    [c[1:] for c in CASES],
    ids=[c[0] for c in CASES],
)
def test_organ_support_free_days_follow_the_definition(
    death, intervals, supports, horizon, expected
):
    course = _course(**intervals)
    value = organ_support_free_days(np.array([death]), course.support_intervals(supports), horizon)
    assert value.tolist() == [expected]


def test_the_endpoint_scores_patients_once_followed_to_the_horizon():
    # three patients enrolled at month 0; a look at day 21 + a bit sees all; one dropped out
    course = _course(
        vasopressors=([0, 0, 0], [3.0, 1.0, 2.0]),
        mechanical_ventilation=([0.0, INF, INF], [6.0, INF, INF]),
    )
    trial = TrialCourse(
        arms=np.array([[0, 1, 1]]),
        death_day=np.array([[INF, 8.0, INF]]),
        dropout_day=np.array([[INF, INF, 5.0]]),
        enrolment_months=np.zeros(3),
        patients={},
        course=course.reshaped((1, 3)),
    )
    endpoint = Endpoint.model_validate(
        {"name": "osfd", "type": "organ-support-free-days", "analysis": "proportional-odds"}
    )
    assert endpoint.horizon_days == 21  # REMAP-CAP's horizon by default
    outcome = outcome_at(endpoint, trial, np.array([1.0]))
    assert outcome.value.tolist() == [[15, -1, 19]]
    assert outcome.include.tolist() == [[True, True, False]]  # lost to follow-up on day 5


def _outcome_and_trial(seed: int, reps: int = 40, n: int = 120, covariate: bool = False):
    rng = np.random.default_rng(seed)
    arms = rng.integers(0, 2, (reps, n))
    value = rng.integers(-1, 22, (reps, n)) + arms * rng.integers(0, 3, (reps, n))
    value = np.minimum(value, 21)
    patients = {"age": rng.normal(65, 12, (reps, n)), "cardiac_arrest": rng.random((reps, n)) < 0.4}
    include = rng.random((reps, n)) < 0.95
    from cstrial.endpoints.outcomes import Outcome

    outcome = Outcome(include=include, event=value == -1, value=value)
    trial = TrialCourse(
        arms=arms,
        death_day=np.where(value == -1, 5.0, INF),
        dropout_day=np.full((reps, n), INF),
        enrolment_months=np.zeros(n),
        patients=patients,
    )
    return outcome, trial


@pytest.mark.parametrize("covariates", [[], ["age", "cardiac_arrest"]], ids=["arm", "covariates"])
def test_the_engine_analysis_is_the_batched_cumulative_logit_fit(covariates):
    outcome, trial = _outcome_and_trial(3)
    endpoint = Endpoint.model_validate(
        {
            "name": "osfd",
            "type": "organ-support-free-days",
            "analysis": "proportional-odds",
            "covariates": covariates,
        }
    )
    result = analyse(endpoint, outcome, trial, 1)
    x = None
    if covariates:
        x = np.stack(
            [trial.patients["age"], trial.patients["cardiac_arrest"].astype(float)], axis=-1
        )
    direct = proportional_odds(outcome.value, trial.arms == 1, outcome.include, x)
    np.testing.assert_array_equal(result.z, direct.z)
    np.testing.assert_array_equal(result.estimate, direct.odds_ratio)
    # the treated do better by construction: odds ratios above 1 on average (> 1 favours them)
    assert np.exp(np.mean(np.log(result.estimate))) > 1.0


def test_proportional_odds_keeps_alpha_in_a_three_look_design():
    """Trials of 300 patients with OSFD the same in both arms (REMAP-CAP-like control
    distribution), Wald z of the cumulative logit at 1/3, 2/3 and all patients against
    O'Brien-Fleming-type bounds (Lan-DeMets, one-sided 0.025): rejection rate within
    4 Monte Carlo SE of 0.025 (the boundaries' own exactness is tested elsewhere)."""
    reps, n = 10_000, 300
    rng = np.random.default_rng(20261202)
    p = np.r_[0.35, 0.10, np.full(20, 0.02), 0.15]
    value = rng.choice(np.arange(-1, 22), size=(reps, n), p=p)
    treated = np.zeros((reps, n), bool)
    for block in range(0, n, 4):  # permuted blocks of 4, as the engine randomises
        treated[:, block : block + 4] = rng.permuted(np.tile([0, 0, 1, 1], (reps, 1)), axis=1)
    looks = np.array([100, 200, 300])
    bounds = efficacy_bounds_at(looks / n, ALPHA)
    rejected = np.zeros(reps, bool)
    for look, bound in zip(looks, bounds, strict=True):
        include = np.zeros((reps, n), bool)
        include[:, :look] = True
        fit = proportional_odds(value, treated, include)
        assert fit.converged.all()
        rejected |= fit.z >= bound
    assert_within_se(rejected.mean(), ALPHA, reps)


BASE = {
    "name": "osfd",
    "population": {"inclusion": {"etiology": ["AMI"]}},
    "arms": [
        {"name": "control", "control": True},
        {"name": "active", "effect": {"model": "hazard-ratio", "value": 1.0}},
    ],
    "endpoints": {
        "primary": {
            "name": "osfd21",
            "type": "organ-support-free-days",
            "analysis": "proportional-odds",
        }
    },
    "design": {
        "sample_size": 300,
        "alpha": ALPHA,
        "looks": [1 / 3, 2 / 3, 1.0],
        "accrual": {"patients_per_month": 30},
    },
    "simulation": {"n_sims": 400, "seed": 18, "chunk_size": 200},
}


def _protocol(tmp_path, hazard_ratio=1.0, **primary):
    data = yaml.safe_load(yaml.safe_dump(BASE))
    data["arms"][1]["effect"]["value"] = hazard_ratio
    data["endpoints"]["primary"].update(primary)
    path = tmp_path / "osfd.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_trial_on_organ_support_free_days_reports_odds_ratios(tmp_path):
    result = run(_protocol(tmp_path, 0.6), n_sims=200, jobs=1, out=tmp_path / "run")
    trials = pd.read_parquet(result.trials_path)
    assert (trials["estimate_scale"] == "odds-ratio").all()
    assert (trials["estimate"] > 0).all()
    row = result.summary.iloc[0]
    # fewer deaths and less organ support on the active arm: OR > 1, as REMAP-CAP reports
    assert row["estimate_scale"] == "odds-ratio"
    assert row["true_effect"] > 1.0
    assert np.exp(np.log(trials["estimate"]).mean()) > 1.0


def test_type_one_error_of_the_three_look_design_in_the_engine(tmp_path):
    # fast version (SE 0.0049 at 1000 trials); the slow one below runs 10,000
    n_sims = 1000
    result = run(_protocol(tmp_path), n_sims=n_sims, jobs=2, out=tmp_path / "run")
    assert_within_se(result.summary["power"].iloc[0], ALPHA, n_sims)


@pytest.mark.slow
def test_type_one_error_of_the_three_look_design_in_the_engine_10000(tmp_path):
    n_sims = 10_000
    result = run(_protocol(tmp_path), n_sims=n_sims, jobs=2, out=tmp_path / "run")
    assert_within_se(result.summary["power"].iloc[0], ALPHA, n_sims)


BAD = [
    (
        {"type": "binary", "horizon_days": 30},
        "proportional-odds does not analyse a binary endpoint; use one of two-proportion",
    ),
    (
        {"type": "time-to-event", "horizon_days": 90},
        "proportional-odds does not analyse a time-to-event endpoint",
    ),
    ({"horizon_days": 45}, "must be at most 30 for an organ-support-free-days endpoint"),
    ({"horizon_days": 14.5}, "must be a whole number of days for organ-support-free-days"),
    ({"support": ["ventilation"]}, "unknown organ support 'ventilation'"),
    ({"support": []}, "needs at least one organ support"),
    ({"support": ["mcs", "mcs"]}, "lists mcs more than once"),
    (
        {"type": "binary", "horizon_days": 30, "analysis": "two-proportion", "support": ["mcs"]},
        "only an organ-support-free-days endpoint takes support",
    ),
]


@pytest.mark.parametrize(("change", "message"), BAD, ids=[m for _, m in BAD])
def test_bad_endpoints_are_refused_with_a_remedy(tmp_path, change, message):
    from cstrial.protocol import load_protocol

    with pytest.raises(ProtocolError) as error:
        load_protocol(_protocol(tmp_path, **change))
    assert message in str(error.value)


def test_an_ordinal_endpoint_type_is_refused_naming_the_supported_ones(tmp_path):
    path = tmp_path / "try-ordinal.yaml"
    path.write_text(TRY_ORDINAL)
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert "unknown endpoint type 'ordinal'" in result.output
    assert "organ-support-free-days" in result.output
    # with the supported type the same protocol is valid
    path.write_text(
        TRY_ORDINAL.replace("type: ordinal, horizon_days: 30", "type: organ-support-free-days")
    )
    result = CliRunner().invoke(app, ["validate", str(path)])
    assert result.exit_code == 0, result.output


def test_the_same_seed_gives_the_same_trials_whatever_the_workers(tmp_path):
    # ventilation and the durations are drawn from a child stream of each chunk's generator
    protocol = _protocol(tmp_path, 0.8)
    data = yaml.safe_load(protocol.read_text())
    data["simulation"]["chunk_size"] = 25  # four chunks
    protocol.write_text(yaml.safe_dump(data))
    one = run(protocol, n_sims=100, jobs=1, out=tmp_path / "one")
    two = run(protocol, n_sims=100, jobs=2, out=tmp_path / "two")
    pd.testing.assert_frame_equal(
        pd.read_parquet(one.trials_path), pd.read_parquet(two.trials_path)
    )


def test_mann_whitney_ranks_the_same_scores():
    from cstrial.analysis.mann_whitney import mann_whitney_z

    outcome, trial = _outcome_and_trial(4)
    endpoint = Endpoint.model_validate(
        {"name": "osfd", "type": "organ-support-free-days", "analysis": "mann-whitney"}
    )
    result = analyse(endpoint, outcome, trial, 1)
    direct = mann_whitney_z(outcome.value, trial.arms == 1, outcome.include, higher_is_better=True)
    np.testing.assert_array_equal(result.z, direct.z)
