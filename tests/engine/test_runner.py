"""The engine: reproducible bytes whatever the workers, correct operating characteristics, safe files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from cstrial.engine import parallel as engine
from cstrial.engine import run, samplers, simulate
from cstrial.engine.laws import LAW_TOLERANCE

TRIALS_COLUMNS = [
    "scenario",
    "comparison",
    "sim",
    "decision",
    "stop_look",
    "n_enrolled",
    "n_control",
    "n_treatment",
    "events_control",
    "events_treatment",
    "z_look_1",
    "estimate",
    "p_value",
]
SUMMARY_COLUMNS = [
    "scenario",
    "comparison",
    "n_sims",
    "power",
    "power_se",
    "power_ci_low",
    "power_ci_high",
    "reject_look_1",
    "futility_look_1",
    "expected_n",
    "expected_duration_months",
    "control_rate",
    "treatment_rate",
    "mean_estimate",
    "true_effect",
    "bias",
]


def test_same_seed_gives_the_same_bytes_whatever_the_number_of_workers(write_protocol, tmp_path):
    protocol = write_protocol({"simulation.chunk_size": 100})
    one = run(protocol, n_sims=500, jobs=1, out=tmp_path / "one")
    two = run(protocol, n_sims=500, jobs=2, out=tmp_path / "two")
    assert (one.out / "trials.parquet").read_bytes() == (two.out / "trials.parquet").read_bytes()
    assert (one.out / "summary.parquet").read_bytes() == (two.out / "summary.parquet").read_bytes()


def test_a_single_scenario_reproduces_its_rows_of_the_full_run(write_protocol, tmp_path):
    protocol = write_protocol()
    full = pd.read_parquet(run(protocol, n_sims=300, jobs=1, out=tmp_path / "full").trials_path)
    alone = pd.read_parquet(
        run(
            protocol, n_sims=300, jobs=1, out=tmp_path / "alone", scenario="null-effect"
        ).trials_path
    )
    expected = full[full["scenario"] == "null-effect"].reset_index(drop=True)
    pd.testing.assert_frame_equal(alone, expected)


def test_a_different_seed_gives_different_trials(write_protocol, tmp_path):
    protocol = write_protocol()
    a = pd.read_parquet(run(protocol, n_sims=200, seed=1, jobs=1, out=tmp_path / "a").trials_path)
    b = pd.read_parquet(run(protocol, n_sims=200, seed=2, jobs=1, out=tmp_path / "b").trials_path)
    assert not a["events_control"].equals(b["events_control"])


def test_outputs_hold_the_contract_columns(write_protocol, tmp_path):
    result = run(write_protocol(), n_sims=100, jobs=1, out=tmp_path / "run")
    trials = pd.read_parquet(result.trials_path)
    assert list(trials.columns[: len(TRIALS_COLUMNS) - 2]) == TRIALS_COLUMNS[:-2]
    assert set(TRIALS_COLUMNS) <= set(trials.columns)
    assert len(trials) == 2 * 100
    assert set(trials["decision"]) <= {"efficacy", "futility", "none"}
    assert set(trials["comparison"]) == {"active vs control"}
    summary = pd.read_parquet(result.out / "summary.parquet")
    assert set(SUMMARY_COLUMNS) <= set(summary.columns)
    assert list(summary["scenario"]) == ["base", "null-effect"]
    manifest = json.loads((result.out / "manifest.json").read_text())
    for key in (
        "cstrial_version",
        "protocol",
        "seed",
        "n_sims",
        "wall_time_seconds",
        "dependencies",
    ):
        assert key in manifest
    assert len(manifest["protocol"]["sha256"]) == 64
    assert manifest["protocol"]["resolved_yaml"].startswith("name: small")


def test_power_matches_the_normal_approximation_for_a_risk_ratio(write_protocol, tmp_path):
    """Power of the pooled z-test from the arms' true rates (Fleiss 2003, eq. 4.14), within 4 SE."""
    n_sims = 4000
    result = run(write_protocol(), n_sims=n_sims, jobs=2, out=tmp_path / "run", scenario="base")
    row = result.summary.iloc[0]
    p_c, p_t, n = row["true_control_rate"], row["true_treatment_rate"], 200
    p_bar = (p_c + p_t) / 2
    analytic = norm.cdf(
        ((p_c - p_t) - norm.ppf(1 - 0.025) * np.sqrt(2 * p_bar * (1 - p_bar) / n))
        / np.sqrt((p_c * (1 - p_c) + p_t * (1 - p_t)) / n)
    )
    se = np.sqrt(analytic * (1 - analytic) / n_sims)
    assert abs(row["power"] - analytic) < 4 * se, (row["power"], analytic, se)
    assert row["treatment_rate"] / row["control_rate"] == pytest.approx(0.8, abs=0.02)


def test_type_one_error_is_alpha_under_the_null_small(write_protocol, tmp_path):
    n_sims = 4000
    result = run(
        write_protocol(), n_sims=n_sims, jobs=2, out=tmp_path / "run", scenario="null-effect"
    )
    se = np.sqrt(0.025 * 0.975 / n_sims)
    assert abs(result.summary["power"].iloc[0] - 0.025) < 4 * se


@pytest.mark.slow
def test_type_one_error_is_alpha_under_the_null(write_protocol, tmp_path):
    """>= 20,000 null trials: rejection rate within 4 Monte Carlo SE of alpha (issue 2)."""
    n_sims = 20_000
    protocol = write_protocol({"simulation.chunk_size": 1000})
    result = run(protocol, n_sims=n_sims, jobs=2, out=tmp_path / "run", scenario="null-effect")
    se = np.sqrt(0.025 * 0.975 / n_sims)
    assert abs(result.summary["power"].iloc[0] - 0.025) < 4 * se


def test_recalibration_hits_control_mortality(write_protocol, tmp_path):
    """control_mortality_30d = 0.45: the law's control rate is 0.45 within the laws' tolerance
    (cstrial.engine.laws), and the simulated one over ~600k patients within 0.005."""
    protocol = write_protocol(
        {"population.control_mortality_30d": 0.45, "design.sample_size": 2000}
    )
    result = run(protocol, n_sims=600, jobs=2, out=tmp_path / "run", scenario="base")
    row = result.summary.iloc[0]
    assert row["true_control_rate"] == pytest.approx(0.45, abs=LAW_TOLERANCE)
    assert row["control_rate"] == pytest.approx(0.45, abs=0.005)


def test_patients_are_saved_for_the_first_replicates(write_protocol, tmp_path):
    result = run(write_protocol(), n_sims=300, jobs=1, out=tmp_path / "run", save_patients=3)
    patients = pd.read_parquet(result.out / "patients.parquet")
    assert len(patients) == 2 * 3 * 400
    assert set(patients["sim"]) == {0, 1, 2}
    assert {"age", "il6_pg_ml", "scai_stage", "arm", "death", "death_day"} <= set(patients.columns)
    assert set(patients["etiology"]) == {"AMI"}
    trials = pd.read_parquet(result.trials_path)
    first = trials[(trials["scenario"] == "base") & (trials["sim"] == 0)].iloc[0]
    mine = patients[(patients["scenario"] == "base") & (patients["sim"] == 0)]
    assert mine.query("arm == 'control'")["death"].sum() == first["events_control"]


def test_saved_patients_mark_who_was_enrolled_and_keep_deaths_past_the_primary_horizon(
    write_protocol, tmp_path
):
    """DESIGN.md: patients.parquet holds outcome times and flags; a trial that stops early
    lists the patients of the stages it reached, all enrolled (those enrolled while its
    last interim matured were never seen, so never drawn)."""
    protocol = write_protocol(
        {
            "design.looks": [0.3, 0.6, 1.0],
            "design.futility": {"spending": "lan-demets-obrien-fleming"},
            "design.dropout": {"rate_per_year": 0.2},
        }
    )
    result = run(protocol, n_sims=60, jobs=1, out=tmp_path / "run", save_patients=40)
    patients = pd.read_parquet(result.out / "patients.parquet")
    trials = pd.read_parquet(result.trials_path)
    assert (trials["n_enrolled"] < 400).any()  # some trials stopped early
    stopped = trials.groupby(["scenario", "sim"])["stop_look"].max()
    listed = patients.groupby(["scenario", "sim"]).size()
    analysed = np.array([120, 240, 400])[stopped.loc[listed.index].to_numpy() - 1]
    assert (listed.to_numpy() == analysed).all()  # the patients of the stages reached
    assert patients["enrolled"].all()
    # and no more than were enrolled by the stop
    enrolled = trials.groupby(["scenario", "sim"])["n_enrolled"].max()
    assert (listed <= enrolled.loc[listed.index]).all()
    # the day of death is the model's, beyond the 30-day primary horizon; `death` is by day 30
    assert patients["death_day"].max() > 30.0
    assert (patients["death"] == (patients["death_day"] <= 30.0)).all()
    assert patients["dropout_day"].notna().all()


def test_a_failed_run_leaves_no_file_that_looks_whole(write_protocol, tmp_path, monkeypatch):
    calls = {"n": 0}
    original = simulate.simulate_chunk

    def failing(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("worker died")
        return original(*args, **kwargs)

    monkeypatch.setattr(engine, "simulate_chunk", failing)
    with pytest.raises(RuntimeError):
        run(write_protocol(), n_sims=1000, jobs=1, out=tmp_path / "run")
    # only the finished chunks are left, hidden, for `cstrial run --resume`, beside the
    # run folder's marker and lock (docs/run-folder.md)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        ".chunks",
        ".cstrial-lock",
        ".cstrial-run.json",
    ]


def test_unknown_scenario_is_a_clear_error(write_protocol, tmp_path):
    from cstrial.errors import CstrialError

    with pytest.raises(CstrialError, match="null-effect"):
        run(write_protocol(), n_sims=10, jobs=1, out=tmp_path / "run", scenario="nope")


def test_too_few_trials_for_a_precise_power_is_a_named_warning(write_protocol, tmp_path):
    from cstrial.errors import MonteCarloPrecisionWarning

    with pytest.warns(
        MonteCarloPrecisionWarning, match=r"Monte Carlo SE of 0\.\d+ with n_sims 100"
    ):
        run(write_protocol(), n_sims=100, jobs=1, out=tmp_path / "run")


def test_an_infection_harm_eats_into_the_benefit(write_protocol, tmp_path):
    effect = {"model": "il6-mediated", "blockade": 0.7, "delay_hours": 6}
    harmed = {**effect, "infection_hazard_ratio": 1.5}
    plain = run(
        write_protocol({"arms.1.effect": effect, "scenarios": []}, "a.yaml"),
        n_sims=600,
        jobs=2,
        out=tmp_path / "a",
        scenario="base",
        save_patients=1,
    )
    worse = run(
        write_protocol({"arms.1.effect": harmed, "scenarios": []}, "b.yaml"),
        n_sims=600,
        jobs=2,
        out=tmp_path / "b",
        scenario="base",
        save_patients=1,
    )
    a, b = plain.summary.iloc[0], worse.summary.iloc[0]
    assert b["true_treatment_rate"] > a["true_treatment_rate"]
    assert b["true_effect"] > a["true_effect"]  # a smaller reduction in deaths
    # the simulation agrees with the model's treatment rate within 4 SE
    n = b["n_sims"] * 200
    se = np.sqrt(b["true_treatment_rate"] * (1 - b["true_treatment_rate"]) / n)
    assert abs(b["treatment_rate"] - b["true_treatment_rate"]) < 4 * se
    patients = pd.read_parquet(worse.out / "patients.parquet")
    infected = patients["excess_infection_day"].notna()
    assert set(patients.loc[infected, "arm"]) == {"active"}


def test_a_chunk_is_simulated_in_blocks_with_rows_in_order(write_protocol, tmp_path, monkeypatch):
    # 400 patients a trial, blocks of 1,000 patients: 2 trials a block, chunks of 250 trials
    monkeypatch.setattr(samplers, "BLOCK_PATIENTS", 1000)
    result = run(
        write_protocol({"scenarios": []}), n_sims=300, jobs=1, out=tmp_path / "run", save_patients=5
    )
    trials = pd.read_parquet(result.trials_path)
    assert list(trials["sim"]) == list(range(300))
    patients = pd.read_parquet(result.out / "patients.parquet")
    assert sorted(set(patients["sim"])) == [0, 1, 2, 3, 4]
    assert len(patients) == 5 * 400
    # the tallies of all blocks add up: simulated rates over every enrolled patient
    assert 0.2 < result.summary["control_rate"].iloc[0] < 0.6


def test_a_chunk_runs_on_one_blas_thread_and_restores_the_callers(
    write_protocol, tmp_path, monkeypatch
):
    # chunks run one per core: a second BLAS thread would only spin against the others
    from threadpoolctl import ThreadpoolController

    seen = []
    inner = simulate._simulate_chunk

    def recording(*args, **kwargs):
        seen.append(
            {p["num_threads"] for p in ThreadpoolController().info() if p["user_api"] == "blas"}
        )
        return inner(*args, **kwargs)

    monkeypatch.setattr(simulate, "_simulate_chunk", recording)
    before = ThreadpoolController().info()
    run(write_protocol({"scenarios": []}), n_sims=20, jobs=1, out=tmp_path / "run")
    assert seen and all(threads == {1} for threads in seen)
    assert ThreadpoolController().info() == before


def test_failed_fits_are_counted_and_named_in_a_convergence_warning(write_protocol, tmp_path):
    """Tiny adjusted trials separate often: each scenario says how many fits failed."""
    from cstrial.errors import ConvergenceWarning

    protocol = write_protocol(
        {
            "endpoints.primary": {
                "name": "death_30d",
                "type": "binary",
                "horizon_days": 30,
                "analysis": "logistic-adjusted",
                "covariates": ["scai_stage", "lactate_mmol_l", "age", "il6_pg_ml"],
            },
            "design.sample_size": 24,
            "scenarios": [],
        }
    )
    with pytest.warns(ConvergenceWarning, match=r"analyses of active vs control in scenario base"):
        run(protocol, n_sims=200, jobs=1, out=tmp_path / "run")
