"""Sample size: the closed form against gsDesign and rpact, the simulation search against the closed form."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from helpers import ASSETS
from scipy.special import ndtr, ndtri
from typer.testing import CliRunner

from cstrial.cli import app
from cstrial.design import group_sequential_boundaries
from cstrial.design.sample_size import (
    allocation_block,
    round_to_block,
    schoenfeld_events,
    two_proportion_sample_size,
)
from cstrial.engine import run
from cstrial.engine.precision import power_precision
from cstrial.errors import InfeasibleDesignError
from cstrial.protocol import expand_scenarios, load_protocol
from cstrial.sample_size import (
    analytic_sample_size,
    probit_curve,
    probit_fit,
    simulated_sample_size,
)

FIXED = ASSETS / "sample-size-rr.yaml"  # risk ratio 0.7 at 45%, fixed design, ~540 patients
SEQUENTIAL = ASSETS / "sample-size-gs.yaml"  # risk ratio 0.8 at 45%, 3 looks, ~1330 patients
SURVIVAL = ASSETS / "sample-size-tte.yaml"  # time to death, hazard ratio 0.7 per patient, 2 looks
CONSTANT_EFFECTS = Path(__file__).parents[1] / "protocols" / "constant-effects.yaml"
runner = CliRunner()

# Published sample sizes for the two-proportion z-test, as data: one dict per R call.
# `allocation` is (control, treatment); `design` the group-sequential design whose
# inflation factor multiplies the fixed-design total (None: fixed design).
REFERENCE_CASES = [
    # gsDesign reference manual, nBinomial examples (Binomial.Rd, keaven/gsDesign):
    #   nBinomial(p1 = .15, p2 = .1, beta = .2, alpha = .05)   #> [1] 1079.853
    # p1 is the control group, p2 the experimental group; sided = 1 by default.
    {
        "source": "gsDesign nBinomial, 1:1",
        "control_rate": 0.15,
        "treatment_rate": 0.10,
        "alpha": 0.05,
        "power": 0.80,
        "allocation": (1, 1),
        "design": None,
        "expected": 1079.853,
        "tolerance": 1e-3,
    },
    #   nBinomial(p1 = .15, p2 = .1, beta = .2, ratio = 2, alpha = .05)   #> [1] 1191.041
    # ratio = n2 / n1: twice as many on the experimental arm.
    {
        "source": "gsDesign nBinomial, ratio 2",
        "control_rate": 0.15,
        "treatment_rate": 0.10,
        "alpha": 0.05,
        "power": 0.80,
        "allocation": (1, 2),
        "design": None,
        "expected": 1191.041,
        "tolerance": 1e-3,
    },
    # gsDesign reference manual, gsDesign examples (gsDesign.Rd):
    #   np <- nBinomial(p1 = .15, p2 = .10)      # alpha = .025, beta = .1
    #   xp <- gsDesign(n.fix = np, endpoint = "Binomial", delta1 = .05)
    #   summary(xp)  #> "... 3 analyses, sample size 1963, 90 percent power, 2.5 percent
    #   (1-sided) Type I error. Efficacy bounds derived using a Hwang-Shih-DeCani spending
    #   function with gamma = -4. Futility bounds derived using a Hwang-Shih-DeCani spending
    #   function with gamma = -2." (non-binding; gsBoundSummary: N 655, 1309, 1963)
    {
        "source": "gsDesign gsDesign(n.fix = nBinomial(.15, .10)), HSD(-4)/HSD(-2)",
        "control_rate": 0.15,
        "treatment_rate": 0.10,
        "alpha": 0.025,
        "power": 0.90,
        "allocation": (1, 1),
        "design": {
            "looks": [1 / 3, 2 / 3, 1.0],
            "efficacy": "hwang-shih-decani",
            "efficacy_parameter": -4,
            "futility": "hwang-shih-decani",
            "futility_parameter": -2,
        },
        "expected_ceiling": 1963,
        "expected_looks": [655, 1309, 1963],
    },
    # rpact unit tests, tests/testthat/test-f_design_plan_rates.R (rpact-com/rpact):
    #   designGS1 <- getDesignGroupSequential(informationRates = c(0.2, 0.5, 1), sided = 1,
    #                                         beta = 0.1, typeOfDesign = "WT", deltaWT = 0.3)
    #   getSampleSizeRates(designGS1, groups = 2, thetaH0 = 0, pi1 = 0.5, pi2 = 0.3,
    #                      allocationRatioPlanned = 1)$maxNumberOfSubjects   # 261.60183
    # pi1 is the active group, pi2 the reference; the formula is symmetric in direction.
    {
        "source": "rpact getSampleSizeRates, Wang-Tsiatis 0.3, 1:1",
        "control_rate": 0.3,
        "treatment_rate": 0.5,
        "alpha": 0.025,
        "power": 0.90,
        "allocation": (1, 1),
        "design": {
            "looks": [0.2, 0.5, 1.0],
            "efficacy": "wang-tsiatis",
            "efficacy_parameter": 0.3,
        },
        "expected": 261.60183,
        "tolerance": 1e-4,
    },
    #   getSampleSizeRates(designGS1, groups = 2, thetaH0 = 0, pi1 = 0.5, pi2 = 0.3,
    #                      allocationRatioPlanned = 3)$maxNumberOfSubjects   # 349.41307
    # allocationRatioPlanned = n1 / n2: three active patients per reference patient.
    {
        "source": "rpact getSampleSizeRates, Wang-Tsiatis 0.3, 3:1",
        "control_rate": 0.3,
        "treatment_rate": 0.5,
        "alpha": 0.025,
        "power": 0.90,
        "allocation": (1, 3),
        "design": {
            "looks": [0.2, 0.5, 1.0],
            "efficacy": "wang-tsiatis",
            "efficacy_parameter": 0.3,
        },
        "expected": 349.41307,
        "tolerance": 1e-4,
    },
]


def _inflation(design: dict | None, alpha: float, power: float) -> float:
    if design is None:
        return 1.0
    return group_sequential_boundaries(alpha=alpha, beta=1 - power, **design).inflation_factor


@pytest.mark.parametrize("case", REFERENCE_CASES, ids=[c["source"] for c in REFERENCE_CASES])
def test_closed_form_matches_published_reference(case):
    n = two_proportion_sample_size(
        case["control_rate"],
        case["treatment_rate"],
        alpha=case["alpha"],
        power=case["power"],
        allocation=case["allocation"],
        inflation_factor=_inflation(case["design"], case["alpha"], case["power"]),
    )
    if "expected" in case:
        assert n == pytest.approx(case["expected"], abs=case["tolerance"])
    else:  # gsDesign prints sample sizes rounded up
        assert math.ceil(n) == case["expected_ceiling"]
        looks = case["design"]["looks"]
        assert [math.ceil(n * t - 1e-9) for t in looks] == case["expected_looks"]


# Deaths for the one-sided log-rank test (Schoenfeld 1983), read from rpact 3.3.4:
#   getSampleSizeSurvival(hazardRatio = HR, alpha = 0.025, beta = B, sided = 1,
#       typeOfComputation = "Schoenfeld", allocationRatioPlanned = A,
#       lambda2 = log(2) / 12, accrualTime = c(0, 12), followUpTime = 12)$maxNumberOfEvents
# allocationRatioPlanned = treatment : control. With design = getDesignGroupSequential(
#   kMax = 3, alpha = 0.025, beta = 0.2, informationRates = c(1/3, 2/3, 1), typeOfDesign = "asOF")
# the events are those of the fixed design times its inflation factor.
SCHOENFELD_CASES = [
    {
        "hazard_ratio": 0.70,
        "power": 0.8,
        "allocation": (1, 1),
        "looks": None,
        "expected": 246.787105,
    },
    {
        "hazard_ratio": 0.75,
        "power": 0.9,
        "allocation": (1, 2),
        "looks": None,
        "expected": 571.324877,
    },
    {
        "hazard_ratio": 0.70,
        "power": 0.8,
        "allocation": (1, 1),
        "looks": [1 / 3, 2 / 3, 1.0],
        "expected": 249.944699,
    },
]


@pytest.mark.parametrize("case", SCHOENFELD_CASES)
def test_schoenfeld_events_match_rpact(case):
    inflation = 1.0
    if case["looks"] is not None:
        inflation = group_sequential_boundaries(case["looks"], 0.025, beta=0.2).inflation_factor
    events = schoenfeld_events(
        case["hazard_ratio"],
        alpha=0.025,
        power=case["power"],
        allocation=case["allocation"],
        inflation_factor=inflation,
    )
    assert events == pytest.approx(case["expected"], abs=1e-4)


def test_time_to_event_closed_form_is_schoenfeld_events_over_the_pairs_death_risk():
    """N = deaths / P(death by the horizon), at the model's marginal hazard ratio, which is
    the true effect the run reports (ln S_t / ln S_c at the horizon)."""
    from cstrial.engine.plan import plan_scenario

    answer = analytic_sample_size(SURVIVAL)
    plan = plan_scenario(expand_scenarios(load_protocol(SURVIVAL))[0], 42)
    assert answer.hazard_ratio == pytest.approx(plan.comparisons[0].true_effect, rel=1e-12)
    assert 0.7 < answer.hazard_ratio < 0.8  # per-patient 0.7 is weaker marginally
    boundaries = group_sequential_boundaries([0.5, 1.0], 0.025, beta=0.2)
    expected_events = schoenfeld_events(
        answer.hazard_ratio, alpha=0.025, power=0.8, inflation_factor=boundaries.inflation_factor
    )
    assert answer.events == pytest.approx(expected_events)
    deaths = (answer.control_rate + answer.treatment_rate) / 2
    assert answer.exact == pytest.approx(answer.events / deaths)
    assert answer.to_dict()["events"] == answer.events


@pytest.mark.slow
def test_time_to_event_power_at_the_closed_form_is_near_the_target(tmp_path):
    """Schoenfeld's N gives about the target power in the simulated trials (it is an
    approximation: 0.80 within 4 Monte Carlo SE and 0.03 of approximation error)."""
    import yaml

    answer = analytic_sample_size(SURVIVAL)
    data = yaml.safe_load(SURVIVAL.read_text())
    data["design"]["sample_size"] = answer.sample_size
    path = tmp_path / "at-answer.yaml"
    path.write_text(yaml.safe_dump(data))
    power = run(path, n_sims=2000, jobs=2, out=tmp_path / "answer").summary.iloc[0]["power"]
    se = math.sqrt(0.8 * 0.2 / 2000)
    assert abs(power - 0.8) <= 4 * se + 0.03


def test_analytic_uses_the_plans_rates_bonferroni_alpha_and_all_arms():
    """constant-effects: control 2 : rr085 1 : or080 1 : hr080 1, alpha 0.025 over 3 comparisons."""
    answer = analytic_sample_size(CONSTANT_EFFECTS, 0.9)
    assert answer.comparison == "rr085 vs control"
    assert answer.alpha == pytest.approx(0.025 / 3)
    assert (answer.control_rate, answer.treatment_rate) == pytest.approx((0.40, 0.34), abs=1e-9)
    pair = two_proportion_sample_size(0.40, 0.34, alpha=0.025 / 3, power=0.9, allocation=(2, 1))
    assert answer.exact == pytest.approx(pair * 5 / 3)
    assert answer.block == allocation_block([2, 1, 1, 1]) == 10
    assert answer.sample_size % answer.block == 0
    assert 0 <= answer.sample_size - answer.exact < answer.block


def test_analytic_inflates_for_looks_with_beta_of_the_target_power():
    answer = analytic_sample_size(SEQUENTIAL, 0.9)
    boundaries = group_sequential_boundaries(
        looks=[0.33, 0.67, 1.0],
        alpha=0.025,
        futility="hwang-shih-decani",
        futility_parameter=-2,
        beta=0.1,
    )
    assert answer.inflation_factor == pytest.approx(boundaries.inflation_factor)
    assert answer.exact == pytest.approx(answer.fixed_sample_size * boundaries.inflation_factor)


def test_rounding_up_to_whole_blocks():
    assert round_to_block(540.5, 4) == 544
    assert round_to_block(544.0, 4) == 544
    assert round_to_block(1.0, 4) == 4


def test_a_scenario_without_benefit_is_infeasible():
    with pytest.raises(InfeasibleDesignError, match="does not lower the risk of death_30d"):
        analytic_sample_size(FIXED, 0.9, scenario="null-effect")


def test_probit_fit_recovers_a_known_curve():
    n = np.array([300.0, 400.0, 500.0, 600.0, 700.0])
    trials = np.full(n.size, 100_000.0)
    rejections = np.round(trials * ndtr(-1.96 + 0.14 * np.sqrt(n)))
    intercept, slope = probit_fit(n, rejections, trials)
    assert intercept == pytest.approx(-1.96, abs=0.01)
    assert slope == pytest.approx(0.14, abs=0.001)


def test_probit_fit_converges_on_the_input_nelder_mead_failed_on():
    """Code review D5: a tolerance below float resolution made this good input fail.

    Newton's method finds the maximum likelihood fit that statsmodels' probit GLM finds.
    """
    import statsmodels.api as sm

    n = np.array([408.0, 488.0, 544.0, 596.0, 676.0])
    rejections = np.array([8028.0, 8641.0, 9045.0, 9257.0, 9531.0])
    trials = np.full(5, 10_000.0)
    fit = probit_curve(n, rejections, trials)
    reference = sm.GLM(
        np.column_stack([rejections, trials - rejections]),
        sm.add_constant(np.sqrt(n)),
        family=sm.families.Binomial(link=sm.families.links.Probit()),
    ).fit(tol=1e-12)
    np.testing.assert_allclose([fit.intercept, fit.slope], reference.params, rtol=1e-7)
    np.testing.assert_allclose(fit.covariance, reference.cov_params(), rtol=1e-5)


def test_the_interval_on_n_covers_the_truth_at_its_level():
    """Across many searches' worth of simulated curves, the 95% interval on N holds the truth."""
    rng = np.random.default_rng(5)
    n = np.array([300.0, 400.0, 500.0, 600.0, 700.0])
    truth = ((ndtri(0.9) + 1.96) / 0.14) ** 2  # probit(power) = -1.96 + 0.14 sqrt(N)
    trials = 1000
    covered = 0
    searches = 400
    for _ in range(searches):
        rejections = rng.binomial(trials, ndtr(-1.96 + 0.14 * np.sqrt(n)))
        low, high = probit_curve(n, rejections, np.full(5, float(trials))).interval(0.9)
        covered += low <= truth <= high
    # 95% coverage, within 4 binomial SEs over the searches
    assert abs(covered / searches - 0.95) < 4 * np.sqrt(0.95 * 0.05 / searches)


def test_the_searchs_se_is_the_runs_se_at_the_chosen_n(write_protocol):
    """One precision path (code review D1): the search quotes the SE a run would."""
    protocol = write_protocol({"simulation.chunk_size": 200, "design.power": 0.8, "scenarios": []})
    result = simulated_sample_size(protocol, n_sims=400, jobs=1, write=False)
    expected = power_precision(round(result.power * 400), 400)
    assert result.power_se == pytest.approx(expected.se, rel=1e-12)


@pytest.fixture(scope="module")
def fixed(tmp_path_factory):
    """The search on the fixed design: 1000 trials per candidate N, written to a folder."""
    out = tmp_path_factory.mktemp("sample-size")
    return simulated_sample_size(FIXED, 0.9, n_sims=1000, jobs=1, out=out)


def test_simulated_sample_size_matches_the_closed_form_within_its_interval(fixed):
    """Fast version: constant risk ratio 0.7, fixed design, 1000 trials per candidate N.

    The closed form (exact here up to the normal approximation) lies within 4 SE of the
    fitted N, its SE read off the fit's 95% interval.
    """
    assert fixed.analytic.sample_size == 544
    low, high = fixed.sample_size_interval
    se = (high - low) / (2 * 1.96)
    assert abs(fixed.fitted_sample_size - fixed.analytic.exact) < 4 * se
    assert fixed.power == pytest.approx(0.9, abs=4 * fixed.power_se)


@pytest.mark.slow
def test_simulated_sample_size_matches_the_closed_form_with_interim_looks(tmp_path):
    """Three looks, O'Brien-Fleming efficacy, non-binding beta-spending futility, 4000 trials per N."""
    result = simulated_sample_size(SEQUENTIAL, 0.9, n_sims=4000, out=tmp_path)
    assert result.analytic.inflation_factor > 1.05
    assert abs(result.sample_size / result.analytic.sample_size - 1) <= 0.03
    assert result.power == pytest.approx(0.9, abs=3 * result.power_se)


def test_the_same_seed_gives_the_same_answer():
    one = simulated_sample_size(FIXED, 0.8, n_sims=200, seed=3, jobs=1, write=False)
    two = simulated_sample_size(FIXED, 0.8, n_sims=200, seed=3, jobs=1, write=False)
    assert one.to_dict() == two.to_dict()
    other = simulated_sample_size(FIXED, 0.8, n_sims=200, seed=4, jobs=1, write=False)
    assert other.curve["power"].tolist() != one.curve["power"].tolist()


def test_power_at_the_answer_is_what_cstrial_run_gives_there(fixed, tmp_path):
    """Common random numbers: the search's trials at N are the run's trials at N, same seed."""
    protocol = load_protocol(FIXED)
    design = protocol.design.model_copy(update={"sample_size": fixed.sample_size})
    at_n = run(
        protocol.model_copy(update={"design": design}),
        n_sims=1000,
        jobs=1,
        out=tmp_path,
        scenario="base",
    )
    assert at_n.summary["power"].iloc[0] == fixed.power


def test_curve_and_answer_are_written(fixed):
    curve = pd.read_parquet(fixed.out / "sample_size_curve.parquet")
    assert list(curve.columns) == ["n", "power", "power_se", "n_sims", "fitted_power"]
    assert curve["n"].is_monotonic_increasing and fixed.sample_size in set(curve["n"])
    assert curve["power"].tolist() == fixed.curve["power"].tolist()
    saved = json.loads((fixed.out / "sample_size.json").read_text())
    assert saved["sample_size"] == fixed.sample_size
    assert saved["curve"] == json.loads(json.dumps(fixed.to_dict()["curve"]))


def test_no_sample_size_up_to_max_n_is_infeasible_and_says_what_to_try():
    with pytest.raises(InfeasibleDesignError) as error:
        simulated_sample_size(FIXED, 0.9, n_sims=200, jobs=1, max_n=200, write=False)
    message = str(error.value)
    assert message.startswith("no total sample size up to 200 reaches power 0.90 (power at 200 is")
    assert "Try 1) a larger --max-n, 2) a lower target power, or 3) enrichment" in message


# --------------------------------------------------------------------------- CLI


def test_cli_json_has_the_documented_shape(tmp_path):
    result = runner.invoke(
        app,
        ["sample-size", str(FIXED), "--power", "0.9", "--n-sims", "100", "--jobs", "1",
         "--out", str(tmp_path), "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    payload = json.loads(result.output)
    assert {"sample_size", "power", "power_se", "analytic_sample_size", "curve"} <= set(payload)
    assert all(set(point) >= {"n", "power"} for point in payload["curve"])
    assert payload["analytic_sample_size"] == 544


def test_cli_analytic_prints_the_closed_form_alone():
    result = runner.invoke(app, ["sample-size", str(FIXED), "--power", "0.9", "--analytic"])
    assert result.exit_code == 0, result.output
    assert "sample size 544 (analytic" in result.output
    as_json = runner.invoke(
        app, ["sample-size", str(FIXED), "--power", "0.9", "--analytic", "--json"]
    )
    assert json.loads(as_json.output)["analytic_sample_size"] == 544


def test_cli_infeasible_exits_2_with_the_remedies(tmp_path):
    result = runner.invoke(
        app,
        ["sample-size", str(FIXED), "--n-sims", "100", "--jobs", "1", "--max-n", "100",
         "--out", str(tmp_path)],
    )  # fmt: skip
    assert result.exit_code == 2
    assert "no total sample size up to 100 reaches power 0.90" in result.output
    assert "Traceback" not in result.output
