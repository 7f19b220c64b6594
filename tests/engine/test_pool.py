"""Patient reuse (simulation.patient_reuse): each trial an iid sample, expectations unchanged.

The claims of docs/scale.md, each tested here: a trial's patients are distinct pool
members chosen independently of their values (so the trial's law is the
population's); reuse 1 is the unpooled simulation; power and type I error are
those of fresh patients within Monte Carlo error; the reported design effect bounds
the variance inflation; results do not depend on the number of workers.
"""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from cstrial.engine import pool, run
from cstrial.engine.plan import plan_scenario
from cstrial.engine.pool import Enrolment, trial_blocks
from cstrial.engine.precision import design_effect
from cstrial.engine.simulate import chunk_generator
from cstrial.errors import ProtocolError
from cstrial.protocol import load_protocol
from cstrial.protocol.scenarios import expand_scenarios


def _plan(write_protocol, overrides=None, scenario=0):
    protocol = load_protocol(write_protocol(overrides))
    return plan_scenario(expand_scenarios(protocol)[scenario], 42)


def _enrolment(write_protocol, reuse: int) -> Enrolment:
    return dataclasses.replace(_plan(write_protocol).enrolment, patient_reuse=reuse)


def _rows(view) -> np.ndarray:
    """Pool rows of a block's patients (the pool's own row numbers, via a marker column)."""
    return view["row"]


def test_each_trial_takes_distinct_pool_members_and_each_pass_uses_a_member_once(
    write_protocol, monkeypatch
):
    enrolment = _enrolment(write_protocol, 4)
    n = enrolment.sample_size
    real_enroll = pool.enroll

    def enroll_with_rows(rng, size, criteria, fraction):
        patients, screened = real_enroll(rng, size, criteria, fraction)
        return {**patients, "row": np.arange(size)}, screened

    monkeypatch.setattr(pool, "enroll", enroll_with_rows)
    monkeypatch.setattr(pool, "REUSE_BLOCK_PATIENTS", 3 * n)  # blocks of 3 trials
    blocks = list(trial_blocks(enrolment, chunk_generator(1, 0, 0), 37))
    # 37 trials, reuse 4: one pool of ceil(37 / 4) = 10 trials, served in passes of
    # 10, 10, 10 and 7 trials, simulated in blocks of 3 trials that may span passes
    assert [start for start, *_ in blocks] == list(range(0, 37, 3))
    assert sum(size for _, size, _, _ in blocks) == 37
    rows = np.concatenate([_rows(patients) for _, _, patients, _ in blocks]).reshape(37, n)
    assert all(len(set(trial)) == n for trial in rows)  # distinct within a trial
    assert np.array_equal(rows[:10].ravel(), np.arange(10 * n))  # the first pass: in order
    for first in (10, 20, 30):  # each later pass: a permutation (the last one cut short)
        members = rows[first : first + 10].ravel()
        assert len(set(members)) == members.size
        assert set(members) <= set(range(10 * n))
        assert not np.array_equal(members, np.arange(members.size))


def test_eta_and_covariates_are_gathered_for_the_same_patients(write_protocol):
    enrolment = _enrolment(write_protocol, 3)
    from cstrial.disease import linear_predictor

    for _, _, patients, eta in trial_blocks(enrolment, chunk_generator(1, 0, 0), 9):
        assert np.array_equal(eta, linear_predictor(patients) + enrolment.baseline_shift)


def test_reused_trials_have_the_population_law(write_protocol):
    """A trial's mean IL-6 (log) has the fresh-sample mean and variance: no extra clustering."""
    fresh = _enrolment(write_protocol, 1)
    reused = dataclasses.replace(fresh, patient_reuse=16)
    means = {}
    for name, enrolment in (("fresh", fresh), ("reused", reused)):
        values = [
            np.log(patients["il6_pg_ml"]).reshape(size, enrolment.sample_size).mean(axis=1)
            for _, size, patients, _ in trial_blocks(enrolment, chunk_generator(7, 0, 0), 2000)
        ]
        means[name] = np.concatenate(values)
    a, b = means["fresh"], means["reused"]
    # difference of means within 4 SE; variances equal within 4 SE of a variance ratio
    assert abs(a.mean() - b.mean()) < 4 * np.sqrt(a.var() / a.size + b.var() / b.size)
    assert abs(np.log(b.var() / a.var())) < 4 * np.sqrt(2 / (a.size - 1) + 2 / (b.size - 1))


def test_design_effect_is_one_without_reuse_or_heterogeneity():
    risk_c = np.array([0.2, 0.4, 0.6])
    assert design_effect(1, risk_c, risk_c * 0.5, 0.5, 0.5) == 1.0
    # a constant risk difference: shared patients carry no common treatment effect
    assert design_effect(16, risk_c, risk_c - 0.1, 0.5, 0.5) == pytest.approx(1.0)


def test_design_effect_closed_form():
    """1 + (R-1) (2/pi) Var tau / (E p_C q_C / w_C + E p_T q_T / w_T + Var tau), by hand."""
    risk_c = np.array([0.2, 0.6])
    risk_t = np.array([0.2, 0.4])  # tau = 0, -0.2: Var tau = 0.01
    v = (0.16 + 0.24) / 2 / 0.5 + (0.16 + 0.24) / 2 / 0.5 + 0.01
    expected = 1 + 7 * (2 / np.pi) * 0.01 / v
    assert design_effect(8, risk_c, risk_t, 0.5, 0.5) == pytest.approx(expected, rel=1e-12)


def test_reuse_is_reported_and_widens_the_monte_carlo_error(write_protocol, tmp_path):
    protocol = write_protocol(
        {"simulation.patient_reuse": 8, "arms.1.effect": _il6_effect(), "scenarios": []}
    )
    result = run(protocol, n_sims=400, jobs=1, out=tmp_path / "run", scenario="base")
    row = result.summary.iloc[0]
    assert row["patient_reuse"] == 8
    assert row["design_effect"] > 1.0
    binomial = np.sqrt(row["power"] * (1 - row["power"]) / row["n_sims"])
    assert row["power_se"] == pytest.approx(binomial * np.sqrt(row["design_effect"]))


def test_reused_results_do_not_depend_on_the_workers(write_protocol, tmp_path):
    protocol = write_protocol({"simulation.patient_reuse": 8})
    one = run(protocol, n_sims=600, jobs=1, out=tmp_path / "one")
    two = run(protocol, n_sims=600, jobs=2, out=tmp_path / "two")
    assert one.trials_path.read_bytes() == two.trials_path.read_bytes()


def test_type_one_error_with_reuse_is_alpha(write_protocol, tmp_path):
    """Null effect, reuse 16: rejection rate within 4 SE of alpha (the invariant of issue 2)."""
    n_sims = 6000
    protocol = write_protocol(
        {"simulation.patient_reuse": 16, "simulation.chunk_size": 1000, "design.sample_size": 200}
    )
    result = run(protocol, n_sims=n_sims, jobs=2, out=tmp_path / "run", scenario="null-effect")
    row = result.summary.iloc[0]
    assert row["design_effect"] == pytest.approx(1.0)
    assert abs(row["power"] - 0.025) < 4 * np.sqrt(0.025 * 0.975 / n_sims)


def test_power_with_reuse_is_the_power_with_fresh_patients(write_protocol, tmp_path):
    """Same design, reuse 16 against reuse 1 and the normal approximation (Fleiss 2003, 4.14)."""
    n_sims = 4000
    rows = {}
    for reuse in (1, 16):
        protocol = write_protocol({"simulation.patient_reuse": reuse}, name=f"r{reuse}.yaml")
        out = tmp_path / f"r{reuse}"
        rows[reuse] = run(protocol, n_sims=n_sims, jobs=2, out=out, scenario="base").summary.iloc[0]
    fresh, reused = rows[1], rows[16]
    se = np.hypot(fresh["power_se"], reused["power_se"])
    assert abs(fresh["power"] - reused["power"]) < 4 * se
    p_c, p_t, n = reused["true_control_rate"], reused["true_treatment_rate"], 200
    p_bar = (p_c + p_t) / 2
    analytic = norm.cdf(
        ((p_c - p_t) - norm.ppf(1 - 0.025) * np.sqrt(2 * p_bar * (1 - p_bar) / n))
        / np.sqrt((p_c * (1 - p_c) + p_t * (1 - p_t)) / n)
    )
    assert abs(reused["power"] - analytic) < 4 * reused["power_se"]


TIME_TO_DEATH = {
    "name": "death_180d",
    "type": "time-to-event",
    "horizon_days": 180,
    "analysis": "log-rank",
}


@pytest.mark.slow
@pytest.mark.parametrize("primary", [None, TIME_TO_DEATH], ids=["binary", "time-to-event"])
def test_design_effect_bounds_the_variance_between_pools(write_protocol, tmp_path, primary):
    """Rejection rates of pool groups (trials sharing one pool) vary no more than the bound says.

    A strongly heterogeneous effect (full IL-6 blockade), 100 patients a trial and reuse
    64, so the bound is far from 1; 300 independent pools of 64 x 40 trials each. For
    time to death the bound is the documented approximation from the 180-day risks.
    """
    reuse, per_pass, groups = 64, 40, 300
    protocol = write_protocol(
        {
            **({"endpoints.primary": primary} if primary else {}),
            "design.sample_size": 100,
            "arms.1.effect": {"model": "il6-mediated", "blockade": 1.0, "delay_hours": 0},
            "simulation.patient_reuse": reuse,
            "simulation.chunk_size": reuse * per_pass,
            "scenarios": [],
        }
    )
    n_sims = reuse * per_pass * groups
    result = run(protocol, n_sims=n_sims, jobs=2, out=tmp_path / "run", scenario="base")
    trials = pd.read_parquet(result.trials_path)
    rejected = (trials["decision"] == "efficacy").to_numpy().reshape(groups, reuse * per_pass)
    rates = rejected.mean(axis=1)
    p = rejected.mean()
    observed = rates.var(ddof=1) / (p * (1 - p) / (reuse * per_pass))
    bound = result.summary["design_effect"].iloc[0]
    assert bound > 1.2  # the test has power to see a violation
    # the sample variance ratio has relative SE sqrt(2 / (groups - 1))
    assert observed < bound * (1 + 4 * np.sqrt(2 / (groups - 1))), (observed, bound)


def test_patient_reuse_is_checked_in_the_protocol(write_protocol):
    for value in (0, 65, 1.5, "8"):
        with pytest.raises(ProtocolError, match="patient_reuse"):
            load_protocol(write_protocol({"simulation.patient_reuse": value}))
    daoh = {
        "name": "daoh30",
        "type": "days-alive-out-of-hospital",
        "horizon_days": 30,
        "analysis": "mann-whitney",
    }
    with pytest.raises(ProtocolError, match=r"patient_reuse.*binary and time-to-event"):
        load_protocol(write_protocol({"simulation.patient_reuse": 4, "endpoints.primary": daoh}))


def test_scenarios_cannot_reuse_patients_for_other_endpoints(write_protocol):
    daoh = {
        "name": "daoh30",
        "type": "days-alive-out-of-hospital",
        "horizon_days": 30,
        "analysis": "mann-whitney",
    }
    overrides = {
        "endpoints.primary": daoh,
        "scenarios": [{"name": "fast", "set": {"simulation.patient_reuse": 4}}],
    }
    with pytest.raises(ProtocolError, match=r"scenarios\[0\].*patient_reuse"):
        load_protocol(write_protocol(overrides))


def _il6_effect() -> dict:
    return {"model": "il6-mediated", "blockade": 0.7, "delay_hours": 6}


def test_run_report_and_manifest_say_patients_were_reused(write_protocol, tmp_path):
    from typer.testing import CliRunner

    from cstrial.cli import app

    protocol = write_protocol({"simulation.patient_reuse": 4, "scenarios": []})
    out = tmp_path / "run"
    done = CliRunner().invoke(app, ["run", str(protocol), "--n-sims", "100", "--out", str(out)])
    assert done.exit_code == 0, done.output
    assert "served up to 4 trials" in done.output
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["patient_reuse"] == 4
    done = CliRunner().invoke(app, ["report", str(out)])
    assert done.exit_code == 0, done.output
    assert "each patient in up to 4 trials" in (out / "report.html").read_text()
