"""The Bayesian decision design in the engine: each look's posterior is the closed form on
what the trial saw, decisions follow it, and calibration gives its type I error.

Posteriors are checked against computations that do not use `cstrial.design.bayesian`:
the beta-binomial by adaptive quadrature (scipy.integrate.quad), the normal by its
closed form (precision-weighted mean, Spiegelhalter et al. 2004, §3.3).
"""

from __future__ import annotations

import copy
import math

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import SMALL
from scipy import integrate, stats

from cstrial.calibrate import calibrate_efficacy
from cstrial.engine import run
from cstrial.engine.plan import plan_scenario
from cstrial.engine.simulate import simulate_chunk
from cstrial.errors import ProtocolError, UsageError
from cstrial.protocol import expand_scenarios, parse_protocol

BINARY_RULE = {
    "type": "bayesian",
    "prior": {"beta": [1, 1]},
    "efficacy": {"probability": 0.99, "above": 0.02},
    "futility": {"probability": 0.2, "above": 0.0},
}


def _protocol(decision=None, primary=None, **design):
    data = yaml.safe_load(SMALL.read_text())
    data["design"].update({"looks": [0.5, 1.0], **design})
    if decision is not None:
        data["design"]["decision"] = copy.deepcopy(decision)
    if primary is not None:
        data["endpoints"]["primary"] = primary
    return parse_protocol(data)


LOG_RANK = {
    "name": "death_90d",
    "type": "time-to-event",
    "horizon_days": 90,
    "analysis": "log-rank",
}


def _trials(protocol, scenario=0, replicates=400, seed=5):
    plan = plan_scenario(expand_scenarios(protocol)[scenario], seed)
    return simulate_chunk(plan, 0, 0, replicates, plan.n_looks).trials.to_pandas(), plan


def _beta_by_quad(e_c, n_c, e_t, n_t, a, b, margin):
    """P(p_t < p_c - margin) by adaptive quadrature over the control risk."""
    control = stats.beta(a + e_c, b + n_c - e_c)
    treated = stats.beta(a + e_t, b + n_t - e_t)
    value, _ = integrate.quad(
        lambda x: control.pdf(x) * treated.cdf(x - margin), margin, 1.0, epsabs=1e-12
    )
    return value


def test_binary_posteriors_are_the_beta_binomial_on_the_trials_counts():
    trials, _ = _trials(_protocol(BINARY_RULE))
    assert {"posterior_look_1", "posterior_look_2", "posterior"} <= set(trials.columns)
    at_stop = trials.apply(lambda r: r[f"posterior_look_{r.stop_look}"], axis=1)
    np.testing.assert_array_equal(at_stop, trials.posterior)
    for row in trials.head(12).itertuples():
        expected = _beta_by_quad(
            row.events_control, row.n_control, row.events_treatment, row.n_treatment, 1, 1, 0.02
        )
        assert row.posterior == pytest.approx(expected, abs=1e-9)


def test_decisions_follow_the_posterior_thresholds():
    trials, _ = _trials(_protocol(BINARY_RULE))
    efficacy = trials.decision == "efficacy"
    assert (trials.posterior[efficacy] > 0.99).all()
    assert (trials.posterior[~efficacy] <= 0.99).all()
    futile = trials[trials.decision == "futility"]
    assert len(futile) > 0 and (futile.stop_look == 1).all()
    for row in futile.head(5).itertuples():  # P(any benefit) < 0.2 at the interim
        p = _beta_by_quad(
            row.events_control, row.n_control, row.events_treatment, row.n_treatment, 1, 1, 0.0
        )
        assert p < 0.2
    # a trial that goes on has a posterior at both looks; one that stops, NaN after
    stopped = trials.stop_look == 1
    assert trials.posterior_look_2[stopped].isna().all()
    assert trials.posterior_look_2[~stopped].notna().all()


def test_time_to_event_posteriors_are_the_normal_closed_form_on_the_log_hazard_ratio():
    rule = {
        "type": "bayesian",
        "prior": {"normal": [0.0, 0.5]},
        "efficacy": {"probability": 0.99, "below": 1.0},
        "futility": {"probability": 0.05, "below": 0.9},
    }
    trials, plan = _trials(_protocol(rule, LOG_RANK), replicates=300)
    assert plan.sampler == "events"
    log_hr = np.log(trials.estimate.to_numpy())
    z = trials[[f"z_look_{k}" for k in (1, 2)]].to_numpy()
    z = z[np.arange(len(trials)), trials.stop_look.to_numpy() - 1]
    se = -log_hr / z  # log-rank: z = -log(Peto HR) / SE
    precision = 1 / 0.5**2 + 1 / se**2
    mean = (log_hr / se**2) / precision
    expected = stats.norm.cdf((0.0 - mean) * np.sqrt(precision))  # P(log HR < 0)
    np.testing.assert_allclose(trials.posterior, expected, rtol=1e-9, atol=1e-12)
    assert set(trials.decision) <= {"efficacy", "futility", "none"}


def test_the_summary_reports_the_mean_posterior_beside_the_frequentist_error(tmp_path):
    result = run(_protocol(BINARY_RULE), n_sims=300, out=tmp_path, jobs=1)
    summary = result.summary.set_index("scenario")
    assert {"power", "posterior", "posterior_look_1"} <= set(summary.columns)
    trials = pd.read_parquet(tmp_path / "trials.parquet")
    for name, rows in trials.groupby("scenario"):
        assert summary.loc[name, "posterior"] == pytest.approx(rows.posterior.mean())
        assert summary.loc[name, "power"] == pytest.approx((rows.decision == "efficacy").mean())


FIVE_LOOKS = [0.2, 0.4, 0.6, 0.8, 1.0]


def test_calibrated_threshold_keeps_the_type_one_error_on_a_fresh_seed(tmp_path):
    rule = {"type": "bayesian", "prior": {"beta": [1, 1]}, "efficacy": {"probability": 0.975}}
    protocol = _protocol(rule, looks=FIVE_LOOKS)
    target = 0.025
    found = calibrate_efficacy(
        protocol, type_i_error=target, scenario="null-effect", n_sims=3000, jobs=1
    )
    assert found.achieved <= target and found.threshold > 0.975
    # the protocol's uncalibrated 0.975, checked at five looks, inflates the error
    assert found.protocol_error > target + 4 * math.sqrt(target * (1 - target) / 3000)
    calibrated = copy.deepcopy(rule)
    calibrated["efficacy"]["probability"] = found.threshold
    fresh = run(
        _protocol(calibrated, looks=FIVE_LOOKS),
        n_sims=3000,
        seed=991,
        scenario="null-effect",
        out=tmp_path,
        jobs=1,
    )
    error = float(fresh.summary.power.iloc[0])
    # the calibration's own noise and the fresh run's, both binomial at the target
    se = math.sqrt(2 * target * (1 - target) / 3000)
    assert abs(error - target) < 4 * se


def test_calibration_needs_a_bayesian_decision_and_a_target_in_zero_one():
    with pytest.raises(UsageError, match=r"design\.decision"):
        calibrate_efficacy(_protocol(), type_i_error=0.025, scenario="null-effect", n_sims=10)
    with pytest.raises(UsageError, match="type_i_error"):
        calibrate_efficacy(
            _protocol(BINARY_RULE), type_i_error=1.5, scenario="null-effect", n_sims=10
        )


@pytest.mark.parametrize(
    ("change", "where", "message"),
    [
        ({"efficacy": {"probability": 1.2}}, "design.decision.efficacy.probability", "between 0"),
        ({"efficacy": {"probability": 0}}, "design.decision.efficacy.probability", "between 0"),
        ({"prior": {"beta": [0, 1]}}, "design.decision.prior", "must be > 0"),
        ({"prior": {"normal": [0, 1]}}, "design.decision.prior", "beta priors"),
        ({"efficacy": {"probability": 0.99, "below": 0.1}}, "efficacy.below", "above"),
        ({"efficacy": {"probability": 0.99, "above": 1.5}}, "efficacy.above", "< 1"),
        ({"type": "frequentist"}, "design.decision.type", "bayesian"),
    ],
)
def test_bad_bayesian_decisions_are_named_with_their_field(change, where, message):
    rule = {**copy.deepcopy(BINARY_RULE), **change}
    with pytest.raises(ProtocolError) as error:
        _protocol(rule)
    text = str(error.value)
    assert where in text and message in text, text


def test_a_normal_prior_needs_a_positive_scale_and_a_log_scale_primary():
    rule = {"type": "bayesian", "prior": {"normal": [0, -1]}, "efficacy": {"probability": 0.99}}
    with pytest.raises(ProtocolError, match=r"normal\[1\] \(sd\) is a scale and must be > 0"):
        _protocol(rule, LOG_RANK)
    rule = {**rule, "prior": {"normal": [0, 1]}, "efficacy": {"probability": 0.99, "above": 1}}
    with pytest.raises(ProtocolError, match="below: 1"):
        _protocol(rule, LOG_RANK)
    mann_whitney = {
        "name": "daoh",
        "type": "days-alive-out-of-hospital",
        "horizon_days": 30,
        "analysis": "mann-whitney",
    }
    with pytest.raises(ProtocolError, match="needs a binary primary or an estimate on a log"):
        _protocol({**rule, "efficacy": {"probability": 0.99}}, mann_whitney)


OSFD = {
    "name": "osfd_21d",
    "type": "organ-support-free-days",
    "horizon_days": 21,
    "analysis": "proportional-odds",
}


def test_ordinal_posteriors_are_the_normal_closed_form_on_the_log_odds_ratio():
    rule = {
        "type": "bayesian",
        "prior": {"normal": [0.1, 1.5]},
        "efficacy": {"probability": 0.99, "above": 1.0},
        "futility": {"probability": 0.05, "above": 1.2},
    }
    trials, plan = _trials(_protocol(rule, OSFD, sample_size=200), replicates=40)
    assert plan.sampler == "patients"
    log_or = np.log(trials.estimate.to_numpy())
    z = trials[[f"z_look_{k}" for k in (1, 2)]].to_numpy()
    z = z[np.arange(len(trials)), trials.stop_look.to_numpy() - 1]
    se = log_or / z  # proportional odds: z = log OR / SE (OR > 1 favours treatment)
    precision = 1 / 1.5**2 + 1 / se**2
    mean = (0.1 / 1.5**2 + log_or / se**2) / precision
    expected = stats.norm.sf((0.0 - mean) * np.sqrt(precision))  # P(log OR > 0)
    np.testing.assert_allclose(trials.posterior, expected, rtol=1e-9, atol=1e-12)


def test_a_bayesian_protocol_loads_back_from_its_resolved_yaml():
    rule = {"type": "bayesian", "prior": {"normal": [0, 1]}, "efficacy": {"probability": 0.99}}
    for protocol in (_protocol(BINARY_RULE), _protocol(rule, LOG_RANK)):
        assert parse_protocol(yaml.safe_load(protocol.resolved_yaml())) == protocol
