"""The interim analyses inside the simulation: simulated trials obey group-sequential theory.

Every Monte Carlo check compares a simulated proportion with its reference within 4 Monte
Carlo standard errors, the SE being the binomial one at the reference value,
sqrt(p (1 - p) / n_sims), with a fixed seed. Two references:

- **canonical**: the normal approximation of the pooled two-proportion z statistic by
  the canonical joint distribution (Jennison & Turnbull 2000, ch. 3), boundary-crossing
  probabilities by `cstrial.design.crossing_probabilities` at the information fractions
  look_patients / N of the manifest, with the drift of the unpooled-variance normal
  approximation at the final sample size. The statistic simulated is the *pooled* z:
  to first order it is D / se_pooled with D ~ N(p_c - p_t, se_unpooled^2), so Z >= b
  exactly when D / se_unpooled >= b * se_pooled / se_unpooled; the bounds are scaled
  by that ratio (the same at every look, both SEs being proportional to 1/sqrt(n)) and
  are unchanged under H0. This is the group-sequential form of Fleiss, Levin & Paik
  (2003) eq. 4.14, used for the fixed design in tests/test_engine.py.
- **exact**: the exact distribution of the pooled z of two binomial arms, looks
  included, by recursion over (deaths on control, deaths on treatment) through the
  looks. The designs below have look sizes that are whole permuted blocks (4 patients
  for 1:1, 10 for 3:2), so each arm holds exactly its allocated share at every look
  (asserted on the trials), and each patient dies independently with the arm's marginal
  30-day risk (`true_control_rate`, `true_treatment_rate`): the only error left is
  Monte Carlo error (and that of the true rates, means over the engine's 200,000-patient
  reference sample, about 0.001 from the sampler's; a few tenths of an SE here).

The canonical approximation is not exact for a discrete statistic. With 1:1 allocation
the pooled z lives on a coarse lattice (steps of one death difference, about 0.07 on
the z scale at 400 patients per arm), and where a bound falls between lattice points
decides the error: up to 0.005 in a per-look futility probability at N = 1200, more
than 2 SE of a 20,000-trial run. The designs under the alternative therefore allocate
3:2, which puts the statistic on a lattice more than twice as fine;
`test_canonical_reference_is_close_to_the_exact_binomial_one` checks that the
approximation error is then below 1 SE of the slow tests, so that the 4-SE checks keep
at least 3 SE for Monte Carlo error and the margin is visible, not tuned away.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from helpers import assert_within_se
from scipy.stats import binom
from typer.testing import CliRunner

from cstrial.cli import app
from cstrial.design import crossing_probabilities, group_sequential_boundaries
from cstrial.engine import run
from cstrial.protocol import load_protocol

ALPHA = 0.025
LOOKS = [0.33, 0.67, 1.0]
OBF = {"spending": "lan-demets-obrien-fleming"}
HSD_NON_BINDING = {"spending": "hwang-shih-decani", "parameter": -2, "binding": False}
HSD_BINDING = {"spending": "hwang-shih-decani", "parameter": -2, "binding": True}
DAYS_PER_MONTH = 365.25 / 12

# Designs under the alternative, as data: 1000 patients allocated 3:2 (looks at 330, 670
# and 1000 patients, whole blocks of 10), a constant risk ratio 0.8 on a 45% control
# mortality: drift about 2.8, power about 0.8, efficacy stops at every look.
ALTERNATIVES = [
    {"id": "efficacy-only", "futility": None},
    {"id": "hsd-2-non-binding-futility", "futility": HSD_NON_BINDING},
]
ALTERNATIVE = {
    "sample_size": 1000,
    "allocation": (3, 2),
    "effect": {"model": "risk-ratio", "value": 0.8},
}
# The null design: 1200 patients 1:1 (looks at 396, 804 and 1200, whole blocks of 4).
NULL = {"sample_size": 1200, "allocation": (1, 1)}
# Trials per slow test (at least 20,000; each run well under 90 s on 2 cores).
SLOW_N_SIMS = {"null": 40_000, **{case["id"]: 30_000 for case in ALTERNATIVES}}


# ----------------------------------------------------------------- protocols and runs


def trial_protocol(
    *,
    name: str = "gs-sim",
    sample_size: int = 1000,
    allocation: tuple[int, int] = (1, 1),
    effect: dict[str, Any] | None = None,
    futility: dict[str, Any] | None = None,
    patients_per_month: float = 25.0,
    ramp_up_months: float = 0.0,
    seed: int = 20261121,
) -> dict[str, Any]:
    """A two-arm 3-look LD-OBF protocol: 45% control mortality, no dropout."""
    design: dict[str, Any] = {
        "sample_size": sample_size,
        "alpha": ALPHA,
        "power": 0.8,
        "looks": LOOKS,
        "efficacy": OBF,
        "accrual": {"patients_per_month": patients_per_month, "ramp_up_months": ramp_up_months},
        "dropout": {"rate_per_year": 0.0},
    }
    if futility is not None:
        design["futility"] = futility
    return {
        "name": name,
        "population": {"model": "default", "control_mortality_30d": 0.45},
        "arms": [
            {"name": "control", "control": True, "allocation": allocation[0]},
            {
                "name": "active",
                "allocation": allocation[1],
                "effect": effect or {"model": "risk-ratio", "value": 0.8},
            },
        ],
        "endpoints": {
            "primary": {
                "name": "death_30d",
                "type": "binary",
                "horizon_days": 30,
                "analysis": "two-proportion",
            }
        },
        "design": design,
        "simulation": {"n_sims": 1000, "seed": seed, "chunk_size": 1000},
    }


def write_yaml(directory: Path, data: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


class Run:
    """A finished run read back: summary row, trials, and the manifest's plan of it."""

    def __init__(self, directory: Path, data: dict[str, Any], n_sims: int) -> None:
        result = run(write_yaml(directory, data), n_sims=n_sims, jobs=2, out=directory / "out")
        self.n_sims = n_sims
        self.summary = result.summary.iloc[0]
        self.trials = pd.read_parquet(result.trials_path)
        manifest = json.loads((directory / "out" / "manifest.json").read_text())
        self.scenario = manifest["scenarios"][0]
        self.comparison = self.scenario["comparisons"][0]
        self.sample_size = int(self.summary["sample_size"])
        self.look_patients = np.asarray(self.scenario["look_patients"])
        self.information = self.look_patients / self.sample_size
        self.efficacy_z = np.asarray(self.comparison["efficacy_z"], dtype=float)
        futility = self.comparison["futility_z"]
        self.futility_z = None if futility is None else np.asarray(futility, dtype=float)
        self.k = self.look_patients.size
        arms = {arm["name"]: arm["allocation"] for arm in data["arms"]}
        self.control_share = arms["control"] / sum(arms.values())

    def simulated(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-look probabilities of stopping for efficacy and for futility (summary)."""
        reject = np.array([self.summary[f"reject_look_{k + 1}"] for k in range(self.k)])
        futility = np.array([self.summary[f"futility_look_{k + 1}"] for k in range(self.k)])
        return reject, futility


# ----------------------------------------------------------------- references


def canonical_crossing(r: Run) -> tuple[np.ndarray, np.ndarray]:
    """Per-look crossing probabilities of the normal approximation (see the module doc)."""
    p_c, p_t = float(r.summary["true_control_rate"]), float(r.summary["true_treatment_rate"])
    n_c = r.sample_size * r.control_share
    n_t = r.sample_size - n_c
    se_unpooled = math.sqrt(p_c * (1 - p_c) / n_c + p_t * (1 - p_t) / n_t)
    p_bar = (n_c * p_c + n_t * p_t) / (n_c + n_t)
    se_pooled = math.sqrt(p_bar * (1 - p_bar) * (1 / n_c + 1 / n_t))
    drift = (p_c - p_t) / se_unpooled
    scale = se_pooled / se_unpooled
    lower = None if r.futility_z is None else r.futility_z * scale
    upper, below = crossing_probabilities(r.efficacy_z * scale, lower, r.information, drift)
    if r.futility_z is not None:
        below[-1] = 0.0  # the final look has no futility stop: non-rejection is "none"
    return upper, below


def _pooled_z(deaths_c: np.ndarray, deaths_t: np.ndarray, n_c: int, n_t: int) -> np.ndarray:
    """Pooled two-proportion z, positive when treatment has fewer deaths (Fleiss 2003, §4.3)."""
    pooled = (deaths_c + deaths_t) / (n_c + n_t)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n_c + 1 / n_t))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = (deaths_c / n_c - deaths_t / n_t) / se
    return np.where(se > 0, z, 0.0)  # all or no deaths: no evidence either way


def _add_patients(before: int, added: int, p: float) -> np.ndarray:
    """Transition matrix of the death count of one arm when `added` patients join it."""
    diff = np.arange(before + added + 1)[:, None] - np.arange(before + 1)[None, :]
    inside = (diff >= 0) & (diff <= added)
    return np.where(inside, binom.pmf(np.clip(diff, 0, added), added, p), 0.0)


def exact_binomial_crossing(r: Run) -> tuple[np.ndarray, np.ndarray]:
    """Exact per-look stopping probabilities of the pooled z of two binomial arms.

    P[i, j] is the probability of i deaths on control and j on treatment among the
    patients analysed so far, having continued at every earlier look; the patients
    added between looks move it by one binomial transition matrix per arm.
    """
    p_c, p_t = float(r.summary["true_control_rate"]), float(r.summary["true_treatment_rate"])
    per_control = r.look_patients * r.control_share
    assert np.allclose(per_control, np.round(per_control))  # whole blocks at every look
    per_control = np.round(per_control).astype(int)
    per_treatment = r.look_patients - per_control
    upper, lower = np.zeros(r.k), np.zeros(r.k)
    mass = np.ones((1, 1))
    before_c = before_t = 0
    for k, (n_c, n_t) in enumerate(zip(per_control, per_treatment, strict=True)):
        add_c = _add_patients(before_c, n_c - before_c, p_c)
        add_t = _add_patients(before_t, n_t - before_t, p_t)
        mass = add_c @ mass @ add_t.T
        before_c, before_t = n_c, n_t
        z = _pooled_z(np.arange(n_c + 1)[:, None], np.arange(n_t + 1)[None, :], n_c, n_t)
        efficacy = z >= r.efficacy_z[k]
        futility = np.zeros_like(efficacy)
        if r.futility_z is not None and k < r.k - 1:
            futility = ~efficacy & (z <= r.futility_z[k])
        upper[k] = mass[efficacy].sum()
        lower[k] = mass[futility].sum()
        mass = np.where(efficacy | futility, 0.0, mass)
    return upper, lower


def check_against_theory(r: Run) -> None:
    """Power, per-look efficacy and (interim) futility stops vs both references, 4 SE."""
    reject, futility = r.simulated()
    references = [
        ("canonical", canonical_crossing(r)),
        ("exact binomial", exact_binomial_crossing(r)),
    ]
    for name, (upper, lower) in references:
        assert_within_se(reject.sum(), upper.sum(), r.n_sims, what=f"power vs {name}")
        assert_within_se(reject, upper, r.n_sims, what=f"efficacy stop per look vs {name}")
        if r.futility_z is not None:
            interim = slice(0, r.k - 1)
            assert_within_se(
                futility[interim],
                lower[interim],
                r.n_sims,
                what=f"futility stop per look vs {name}",
            )
    # the final look decides efficacy or "none", never futility
    assert futility[-1] == 0.0


def null_protocol(**kwargs: Any) -> dict[str, Any]:
    """IL-6 blockade 0: an active arm with no effect, as the shipped null-effect scenarios."""
    effect = {"model": "il6-mediated", "blockade": 0.0, "delay_hours": 6}
    return trial_protocol(name="gs-null", effect=effect, **NULL, **kwargs)


def check_null(r: Run) -> None:
    assert r.summary["true_treatment_rate"] == pytest.approx(r.summary["true_control_rate"])
    assert r.summary["true_effect"] == pytest.approx(0.0, abs=1e-12)
    # Under H0 the crossing probabilities are the alpha spent at each look
    # (Lan & DeMets 1983): recomputed from the manifest's bounds, not read from the design.
    alpha_spent, _ = crossing_probabilities(r.efficacy_z, None, r.information, 0.0)
    assert alpha_spent.sum() == pytest.approx(ALPHA, abs=1e-9)
    reject, _ = r.simulated()
    assert_within_se(r.summary["power"], ALPHA, r.n_sims, what="type I error vs alpha")
    assert_within_se(reject, alpha_spent, r.n_sims, what="rejection per look vs alpha spent")
    upper, _ = exact_binomial_crossing(r)
    assert_within_se(r.summary["power"], upper.sum(), r.n_sims, what="type I error vs exact")
    assert_within_se(reject, upper, r.n_sims, what="rejection per look vs exact")


# ----------------------------------------------------------------- fast runs, shared


@pytest.fixture(scope="module")
def fast_runs(tmp_path_factory) -> dict[str, Run]:
    """2,000 trials of each alternative design and of the null, run once for this module."""
    root = tmp_path_factory.mktemp("fast")
    runs = {
        case["id"]: Run(
            root / case["id"],
            trial_protocol(futility=case["futility"], seed=101, **ALTERNATIVE),
            n_sims=2000,
        )
        for case in ALTERNATIVES
    }
    runs["null"] = Run(root / "null", null_protocol(seed=102), n_sims=2000)
    return runs


# ----------------------------------------------------------------- 1-3: operating characteristics


def test_type_one_error_of_three_look_design_is_alpha_under_null_fast(fast_runs):
    """Default-run version of the slow test below: 2,000 null trials."""
    check_null(fast_runs["null"])


@pytest.mark.slow
def test_type_one_error_of_three_look_design_is_alpha_under_null(tmp_path):
    """40,000 null trials of a 3-look LD-OBF design: alpha within 4 SE, per look too."""
    r = Run(tmp_path, null_protocol(seed=7), n_sims=SLOW_N_SIMS["null"])
    check_null(r)


@pytest.mark.parametrize("case", ALTERNATIVES, ids=[c["id"] for c in ALTERNATIVES])
def test_power_and_stopping_per_look_match_group_sequential_theory_fast(fast_runs, case):
    """Default-run version of the slow test below: 2,000 trials."""
    check_against_theory(fast_runs[case["id"]])


@pytest.mark.slow
@pytest.mark.parametrize("case", ALTERNATIVES, ids=[c["id"] for c in ALTERNATIVES])
def test_power_and_stopping_per_look_match_group_sequential_theory(tmp_path, case):
    """30,000 trials: power, efficacy stops per look and interim futility stops per look
    agree with the canonical normal approximation and with the exact binomial recursion."""
    data = trial_protocol(futility=case["futility"], seed=8, **ALTERNATIVE)
    check_against_theory(Run(tmp_path, data, n_sims=SLOW_N_SIMS[case["id"]]))


@pytest.mark.slow
def test_stopping_per_look_of_the_patient_level_sampler_matches_theory(tmp_path):
    """With simulation.sampler: patients (virtual patients with covariates instead of the
    arms' exact laws, docs/scale.md) every per-look stopping probability is the same: the
    same checks as above."""
    case = ALTERNATIVES[1]  # efficacy and non-binding futility stops
    data = trial_protocol(futility=case["futility"], seed=9, **ALTERNATIVE)
    data["simulation"]["sampler"] = "patients"
    r = Run(tmp_path, data, n_sims=SLOW_N_SIMS[case["id"]])
    assert r.scenario["sampler"] == "patients"
    check_against_theory(r)


def test_canonical_reference_is_close_to_the_exact_binomial_one(fast_runs):
    """The normal approximation's error is below 1 Monte Carlo SE of the slow tests.

    So the slow tests' 4-SE checks against it keep at least 3 SE for Monte Carlo error.
    Measured, in SEs of the slow runs (exact minus canonical): under the alternative
    (3:2) power +0.1, efficacy stops -0.5, +0.6, -0.4 per look, interim futility stops
    -0.4, +0.7; under the null (1:1, 40,000 trials) type I error -0.7 (the exact level of
    the discrete test is 0.02448).
    """
    for name, n_sims in SLOW_N_SIMS.items():
        r = fast_runs[name]
        upper_c, lower_c = canonical_crossing(r)
        upper_e, lower_e = exact_binomial_crossing(r)
        interim = slice(0, r.k - 1)
        for what, exact, canonical in [
            ("power", upper_e.sum(), upper_c.sum()),
            ("efficacy per look", upper_e, upper_c),
            ("futility per interim look", lower_e[interim], lower_c[interim]),
        ]:
            se = np.sqrt(canonical * (1 - canonical) / n_sims)
            error = np.abs(np.asarray(exact) - canonical)
            assert np.all(error <= se), (
                name,
                what,
                exact,
                canonical,
                error / np.maximum(se, 1e-300),
            )


# ----------------------------------------------------------------- 6: the trials row by row


def _recompute(r: Run) -> tuple[np.ndarray, np.ndarray]:
    """Stopping look (1-based) and decision of each trial from its z values and the bounds."""
    z = r.trials[[f"z_look_{k + 1}" for k in range(r.k)]].to_numpy()
    efficacy = z >= r.efficacy_z  # NaN (look not reached) compares False
    futility = np.zeros_like(efficacy)
    if r.futility_z is not None:
        futility[:, :-1] = z[:, :-1] <= r.futility_z[:-1]
    stops = efficacy | futility
    stops[:, -1] = True
    stop = np.argmax(stops, axis=1)
    rows = np.arange(z.shape[0])
    decision = np.where(
        efficacy[rows, stop], "efficacy", np.where(futility[rows, stop], "futility", "none")
    )
    return stop + 1, decision


@pytest.mark.parametrize("case", ALTERNATIVES, ids=[c["id"] for c in ALTERNATIVES])
def test_z_is_nan_after_the_stopping_look_and_decisions_follow_the_bounds(fast_runs, case):
    r = fast_runs[case["id"]]
    trials = r.trials
    z = trials[[f"z_look_{k + 1}" for k in range(r.k)]].to_numpy()
    stop = trials["stop_look"].to_numpy()
    reached = np.arange(1, r.k + 1)[None, :] <= stop[:, None]
    assert np.all(np.isfinite(z[reached]))
    assert np.all(np.isnan(z[~reached]))

    expected_stop, expected_decision = _recompute(r)
    np.testing.assert_array_equal(stop, expected_stop)
    np.testing.assert_array_equal(trials["decision"].to_numpy(), expected_decision)
    decisions = set(trials["decision"])
    assert {"efficacy", "none"} <= decisions
    if r.futility_z is not None:
        assert "futility" in decisions
        assert not ((trials["decision"] == "futility") & (trials["stop_look"] == r.k)).any()
    else:
        assert "futility" not in decisions

    # each look analyses the first look_patients[k] patients, each arm its allocated share
    analysed = r.look_patients[stop - 1]
    np.testing.assert_array_equal(trials["n_control"] + trials["n_treatment"], analysed)
    np.testing.assert_array_equal(trials["n_control"], np.rint(analysed * r.control_share))
    # the summary's per-look probabilities are the shares of the trials
    reject, futility = r.simulated()
    for k in range(r.k):
        at_k = trials["stop_look"] == k + 1
        assert reject[k] == pytest.approx(((trials["decision"] == "efficacy") & at_k).mean())
        assert futility[k] == pytest.approx(((trials["decision"] == "futility") & at_k).mean())
    assert r.summary["power"] == pytest.approx((trials["decision"] == "efficacy").mean())


# ----------------------------------------------------------------- 4: sample size and duration


def _months_to_enrol(count: np.ndarray, rate: float, ramp: float) -> np.ndarray:
    """Month the count-th patient is enrolled: the intensity rises linearly from 0 to
    `rate` over `ramp` months, then stays at `rate`, so rate*t^2/(2 ramp) patients are
    enrolled by month t <= ramp and rate*ramp/2 + rate*(t - ramp) after."""
    count = np.asarray(count, dtype=float)
    if ramp == 0:
        return count / rate
    in_ramp = rate * ramp / 2
    return np.where(
        count <= in_ramp, np.sqrt(2 * ramp * count / rate), ramp + (count - in_ramp) / rate
    )


def _enrolled_by(month: np.ndarray, rate: float, ramp: float) -> np.ndarray:
    month = np.asarray(month, dtype=float)
    if ramp == 0:
        cumulative = rate * month
    else:
        cumulative = np.where(
            month <= ramp, rate * month**2 / (2 * ramp), rate * ramp / 2 + rate * (month - ramp)
        )
    return np.floor(cumulative + 1e-9)  # 1e-9: a whole patient reached up to rounding


@pytest.mark.parametrize(
    ("rate", "ramp"), [(25.0, 0.0), (40.0, 6.0)], ids=["constant-accrual", "ramp-up"]
)
def test_expected_sample_size_and_duration_count_the_overrun(tmp_path, rate, ramp):
    """Efficacy stopping saves patients; those enrolled before an interim stop still count.

    At a look the analysed patients are those with 30-day follow-up; the trial has by then
    enrolled min(N, patients enrolled by the look's calendar month).
    """
    data = trial_protocol(
        effect={"model": "risk-ratio", "value": 0.7},
        patients_per_month=rate,
        ramp_up_months=ramp,
        seed=103,
    )
    r = Run(tmp_path, data, n_sims=500)
    trials = r.trials
    n = r.sample_size

    look_months = _months_to_enrol(r.look_patients, rate, ramp) + 30 / DAYS_PER_MONTH
    np.testing.assert_allclose(r.scenario["look_months"], look_months, rtol=1e-12)
    enrolled = np.minimum(n, _enrolled_by(look_months, rate, ramp)).astype(int)
    assert np.all(enrolled[:-1] > r.look_patients[:-1])  # enrolment runs on during follow-up
    assert enrolled[-1] == n

    stop = trials["stop_look"].to_numpy() - 1
    np.testing.assert_array_equal(trials["n_enrolled"], enrolled[stop])
    assert np.all(trials["n_enrolled"].to_numpy() >= r.look_patients[stop])
    np.testing.assert_allclose(trials["duration_months"], look_months[stop], rtol=1e-12)

    assert (trials["stop_look"] < r.k).mean() > 0.5  # a strong effect: mostly early stops
    assert r.summary["expected_n"] < n
    assert r.summary["expected_n"] == pytest.approx(trials["n_enrolled"].mean(), rel=1e-12)
    assert r.summary["expected_duration_months"] == pytest.approx(
        trials["duration_months"].mean(), rel=1e-12
    )
    assert r.summary["expected_duration_months"] < look_months[-1]


# ----------------------------------------------------------------- 5: binding and non-binding


def test_non_binding_futility_leaves_efficacy_bounds_unchanged_and_binding_lowers_them(
    tmp_path,
):
    runs = {
        label: Run(tmp_path / label, trial_protocol(futility=futility, seed=104), n_sims=50)
        for label, futility in [
            ("efficacy-only", None),
            ("non-binding", HSD_NON_BINDING),
            ("binding", HSD_BINDING),
        ]
    }
    alone, non_binding, binding = (runs[k] for k in ("efficacy-only", "non-binding", "binding"))
    assert alone.futility_z is None
    assert non_binding.futility_z is not None and binding.futility_z is not None
    # non-binding: regulators' convention, alpha is controlled whether futility is obeyed
    np.testing.assert_array_equal(non_binding.efficacy_z, alone.efficacy_z)
    # binding: futility stops remove null paths that could still cross later, so the later
    # bounds are lower (by 0.0004 and 0.035 here, far above the 1e-11 root tolerance);
    # the first look has nothing before it
    assert binding.efficacy_z[0] == pytest.approx(alone.efficacy_z[0], abs=1e-9)
    assert np.all(binding.efficacy_z[1:] < alone.efficacy_z[1:] - 1e-5)
    # the manifest holds the design the boundaries module computes at the looks' fractions
    design = group_sequential_boundaries(
        looks=alone.information, alpha=ALPHA, futility="hwang-shih-decani",
        futility_parameter=-2, binding=True, beta=0.2,
    )  # fmt: skip
    np.testing.assert_allclose(binding.efficacy_z, design.efficacy_z, rtol=0, atol=1e-12)
    np.testing.assert_allclose(binding.futility_z, design.futility_z, rtol=0, atol=1e-12)
    # the bounds change the decisions, never the trials: same seed, same z at look 1
    np.testing.assert_array_equal(alone.trials["z_look_1"], non_binding.trials["z_look_1"])
    np.testing.assert_array_equal(alone.trials["z_look_1"], binding.trials["z_look_1"])


# ----------------------------------------------------------------- 8: the shipped 3-look protocol

PROTOCOLS = Path(__file__).parents[1] / "protocols"


def test_shipped_three_look_protocol_is_toci_amics_with_two_interim_looks():
    one_look = yaml.safe_load(load_protocol(PROTOCOLS / "toci-amics.yaml").resolved_yaml())
    three = yaml.safe_load(load_protocol(PROTOCOLS / "toci-amics-3look.yaml").resolved_yaml())
    for section in ("population", "arms", "endpoints", "simulation", "scenarios"):
        assert three[section] == one_look[section], section
    added = {"looks", "efficacy", "futility", "power"}
    for key in one_look["design"].keys() - added:
        assert three["design"][key] == one_look["design"][key], key
    assert three["design"]["looks"] == [0.33, 0.67, 1.0]
    assert three["design"]["efficacy"]["spending"] == "lan-demets-obrien-fleming"
    futility = three["design"]["futility"]
    assert (futility["spending"], futility["parameter"], futility["binding"]) == (
        "hwang-shih-decani",
        -2,
        False,
    )
    assert three["design"]["power"] == 0.8


def test_cli_run_of_shipped_three_look_protocol_prints_stopping_per_look_and_expected_n(
    tmp_path,
):
    result = CliRunner().invoke(
        app,
        [
            "run",
            str(PROTOCOLS / "toci-amics-3look.yaml"),
            "--n-sims",
            "100",
            "--scenario",
            "base",
            "--jobs",
            "2",
            "--out",
            str(tmp_path / "run"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Stopping probabilities per look" in result.stdout
    for heading in ("expected N", "expected months", *(f"eff {k}" for k in (1, 2, 3))):
        assert heading in result.stdout, heading
    assert "eff k / fut k: stopped for efficacy / futility at look k" in result.stdout
    assert "fut 1" in result.stdout and "fut 2" in result.stdout
    summary = pd.read_parquet(tmp_path / "run" / "summary.parquet")
    assert summary["expected_n"].iloc[0] < 3700  # interim stops save patients


def test_conditional_power_futility_rule_stops_exactly_when_cp_is_low(tmp_path):
    """futility: {conditional_power_below: 0.2}: stop at an interim when the conditional power
    under the current trend, 1 - Phi((c_K - z sqrt(t) - (z / sqrt(t)) (1 - t)) / sqrt(1 - t))
    (Lan & Wittes 1988; Jennison & Turnbull 2000, section 10.2), falls below 0.2."""
    import yaml as _yaml
    from scipy.stats import norm as _norm

    from cstrial.engine import run as _run

    protocol = {
        "name": "cp-futility",
        "population": {"inclusion": {"etiology": ["AMI"]}},
        "arms": [
            {"name": "control", "control": True},
            {"name": "active", "effect": {"model": "risk-ratio", "value": 0.85}},
        ],
        "endpoints": {
            "primary": {
                "name": "death_30d",
                "type": "binary",
                "horizon_days": 30,
                "analysis": "two-proportion",
            }
        },
        "design": {
            "sample_size": 400,
            "alpha": 0.025,
            "looks": [0.5, 1.0],
            "efficacy": {"spending": "none"},
            "futility": {"conditional_power_below": 0.2},
            "accrual": {"patients_per_month": 40},
        },
        "simulation": {"n_sims": 600, "seed": 5, "chunk_size": 300},
    }
    path = tmp_path / "cp.yaml"
    path.write_text(_yaml.safe_dump(protocol))
    result = _run(path, jobs=1, out=tmp_path / "run")
    trials = pd.read_parquet(result.trials_path)
    bounds = result.manifest["scenarios"][0]["comparisons"][0]["efficacy_z"]
    t = result.manifest["scenarios"][0]["look_patients"][0] / 400
    z = trials["z_look_1"].to_numpy()
    cp = 1 - _norm.cdf((bounds[-1] - z * np.sqrt(t) - (z / np.sqrt(t)) * (1 - t)) / np.sqrt(1 - t))
    stopped = (trials["decision"] == "futility").to_numpy()
    np.testing.assert_array_equal(stopped, cp < 0.2)
    assert 0 < stopped.mean() < 1
    assert (trials.loc[stopped, "stop_look"] == 1).all()
