"""Sample size for the primary comparison: the closed form, then a search by simulation.

The primary comparison is the first active arm against control. The closed form
is the two-proportion normal approximation with the variance pooled under H0 and
unpooled under H1 (Fleiss, Tytun & Ury 1980; Farrington & Manning 1990 with a
null difference of 0; gsDesign ``nBinomial``, rpact ``getSampleSizeRates``),
generalised to unequal allocation, at the comparison's (Bonferroni) alpha, and
multiplied by the group-sequential inflation factor of the protocol's looks and
spending functions (Jennison & Turnbull 2000, ch. 7; rpact ``inflationFactor``).
The arm event rates are the model's: the scenario plan's true risks by the
endpoint's horizon. For a time-to-event primary the closed form is Schoenfeld's
number of deaths at the model's marginal hazard ratio, over the two arms' risk of
death by the horizon (the final look follows every patient to it).

The search simulates whole trials at candidate sample sizes around the closed
form, all with the same seed (common random numbers: the chunk generators of
`cstrial.engine.simulate` are seeded by run seed, scenario and chunk, never by N),
fits power against N by probit regression on sqrt(N), solves the fit for the
target power, and simulates once more at the answer. sqrt(N) is the natural
scale: under the normal approximation probit(power) = Δ·sqrt(N)/σ − z_α, a
straight line in sqrt(N), so the fit has no shape error to absorb.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.optimize import minimize
from scipy.special import log_ndtr, ndtr, ndtri

from cstrial.design import group_sequential_boundaries
from cstrial.design.randomisation import BLOCK_REPEATS
from cstrial.engine.plan import ScenarioPlan, plan_scenario
from cstrial.engine.simulate import simulate_chunk
from cstrial.errors import ConvergenceError, CstrialError, InfeasibleDesignError
from cstrial.protocol import Protocol, Scenario, expand_scenarios, load_protocol
from cstrial.results import write_json_atomic, write_table_atomic

Progress = Callable[[int, int], None]

DEFAULT_MAX_N = 20_000
"""Largest total sample size the search considers unless told otherwise."""

# Candidate sample sizes of the first round, as multiples of the closed form: they
# span roughly ±1 SD of power around the target, where the probit fit is best pinned.
_FIRST_ROUND = (0.75, 0.9, 1.0, 1.1, 1.25)
_MAX_ROUNDS = 4


# --------------------------------------------------------------------------- closed form


def two_proportion_sample_size(
    control_rate: float,
    treatment_rate: float,
    *,
    alpha: float,
    power: float,
    allocation: Sequence[float] = (1, 1),
    inflation_factor: float = 1.0,
) -> float:
    """Total sample size of the two arms for a one-sided two-proportion z-test.

    n = (z_{1−α}·σ0 + z_{1−β}·σ1)² / Δ² · inflation_factor, where with allocation
    fractions w_c, w_t: σ0² = p̄q̄(1/w_c + 1/w_t), p̄ = w_c·p_c + w_t·p_t (pooled,
    under H0) and σ1² = p_c q_c / w_c + p_t q_t / w_t (under H1). For 1:1 this is
    n per arm = (z_{1−α}·sqrt(2 p̄ q̄) + z_{1−β}·sqrt(p_c q_c + p_t q_t))² / Δ².
    `allocation` is (control, treatment); the answer is not rounded.

    References: Fleiss, Tytun & Ury 1980; Farrington & Manning 1990; gsDesign
    ``nBinomial``; rpact ``getSampleSizeRates``; Jennison & Turnbull 2000, ch. 7.
    """
    p_c, p_t = float(control_rate), float(treatment_rate)
    for name, p in (("control_rate", p_c), ("treatment_rate", p_t)):
        if not 0.0 < p < 1.0:
            raise CstrialError(f"{name} must lie strictly between 0 and 1, found {p}")
    if p_c == p_t:
        raise InfeasibleDesignError(
            f"the event rates are equal ({p_c:.4g}), so no sample size gives power above alpha"
        )
    w_c, w_t = _allocation_fractions(alpha, power, allocation)
    pooled = w_c * p_c + w_t * p_t
    sigma0 = math.sqrt(pooled * (1.0 - pooled) * (1.0 / w_c + 1.0 / w_t))
    sigma1 = math.sqrt(p_c * (1.0 - p_c) / w_c + p_t * (1.0 - p_t) / w_t)
    z_alpha, z_beta = float(ndtri(1.0 - alpha)), float(ndtri(power))
    fixed = ((z_alpha * sigma0 + z_beta * sigma1) / (p_c - p_t)) ** 2
    return fixed * float(inflation_factor)


def schoenfeld_events(
    hazard_ratio: float,
    *,
    alpha: float,
    power: float,
    allocation: Sequence[float] = (1, 1),
    inflation_factor: float = 1.0,
) -> float:
    """Deaths needed for a one-sided log-rank test to detect `hazard_ratio`.

    D = (z_{1−α} + z_{1−β})² / (w_c·w_t·(ln HR)²) · inflation_factor, with w_c, w_t the
    allocation fractions of (control, treatment); the answer is not rounded.

    References: Schoenfeld 1983 (Biometrika 68:316); rpact ``getSampleSizeSurvival``
    (typeOfComputation = "Schoenfeld"); gsDesign ``nEvents``.
    """
    hr = float(hazard_ratio)
    if not (hr > 0.0 and math.isfinite(hr)):
        raise CstrialError(f"hazard_ratio must be a positive number, found {hr}")
    if hr == 1.0:
        raise InfeasibleDesignError(
            "the hazard ratio is 1, so no number of events gives power above alpha"
        )
    w_c, w_t = _allocation_fractions(alpha, power, allocation)
    z = float(ndtri(1.0 - alpha)) + float(ndtri(power))
    return z**2 / (w_c * w_t * math.log(hr) ** 2) * float(inflation_factor)


def _allocation_fractions(
    alpha: float, power: float, allocation: Sequence[float]
) -> tuple[float, float]:
    """(w_c, w_t) of a (control, treatment) allocation, after checking alpha and power."""
    if not 0.0 < alpha < 0.5:
        raise CstrialError(f"alpha (one-sided) must lie in (0, 0.5), found {alpha}")
    if not alpha < power < 1.0:
        raise CstrialError(f"power must lie in (alpha, 1), found {power}")
    a_c, a_t = (float(a) for a in allocation)
    if a_c <= 0 or a_t <= 0:
        raise CstrialError(f"allocation must be positive, found {tuple(allocation)}")
    return a_c / (a_c + a_t), a_t / (a_c + a_t)


@dataclass(frozen=True)
class AnalyticSampleSize:
    """The closed-form sample size of a scenario's primary comparison, and what it rests on.

    `sample_size` is the total over all arms rounded up to whole randomisation
    blocks; `exact` the same before rounding; `fixed_sample_size` what a design
    without interim looks would need. `dropout_fraction` is the share of patients
    expected to be lost before the horizon, which the totals are inflated for.
    Time to event: `hazard_ratio` and the deaths of the two compared arms at full
    information, `events` (Schoenfeld); None for binary endpoints.
    """

    sample_size: int
    exact: float
    fixed_sample_size: float
    inflation_factor: float
    power: float
    alpha: float
    control_rate: float
    treatment_rate: float
    allocation: tuple[int, ...]
    block: int
    dropout_fraction: float
    scenario: str
    comparison: str
    hazard_ratio: float | None = None
    events: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "sample_size": self.sample_size,
            "exact": self.exact,
            "fixed_sample_size": self.fixed_sample_size,
            "inflation_factor": self.inflation_factor,
            "power": self.power,
            "alpha": self.alpha,
            "control_rate": self.control_rate,
            "treatment_rate": self.treatment_rate,
            "allocation": list(self.allocation),
            "block": self.block,
            "dropout_fraction": self.dropout_fraction,
            "scenario": self.scenario,
            "comparison": self.comparison,
            "hazard_ratio": self.hazard_ratio,
            "events": self.events,
        }


def analytic_sample_size(
    protocol: Protocol | str | Path,
    power: float | None = None,
    *,
    scenario: str = "base",
    seed: int | None = None,
) -> AnalyticSampleSize:
    """The closed-form total sample size giving `power` to the scenario's primary comparison.

    `power` defaults to the protocol's `design.power`. The event rates are the
    scenario plan's true risks (`cstrial.engine.plan.plan_scenario`), the alpha that of the
    comparison (Bonferroni over the active arms), the inflation factor that of the
    protocol's looks and spending functions with beta = 1 − power.
    """
    chosen = _scenario(protocol, scenario)
    power = chosen.protocol.design.power if power is None else float(power)
    plan = plan_scenario(chosen, chosen.protocol.simulation.seed if seed is None else seed)
    return analytic_for_plan(chosen.protocol, plan, power)


def analytic_for_plan(protocol: Protocol, plan: ScenarioPlan, power: float) -> AnalyticSampleSize:
    """`analytic_sample_size` for a scenario already planned (its protocol and plan)."""
    comparison = plan.comparisons[0]
    if comparison.treatment_risk >= comparison.control_risk:
        raise InfeasibleDesignError(
            f"in scenario {plan.name!r}, {comparison.label} does not lower the risk of "
            f"{protocol.endpoints.primary.name} ({comparison.treatment_risk:.4f} vs "
            f"{comparison.control_risk:.4f}), so no sample size reaches power {power:.2f}. "
            "Try 1) a scenario with a treatment effect, or 2) a larger effect in the arm's "
            "`effect`"
        )
    return analytic_for_rates(
        protocol,
        comparison.control_risk,
        comparison.treatment_risk,
        power=power,
        alpha=comparison.alpha,
        arm=plan.arm_names[comparison.arm_index],
        scenario=plan.name,
    )


def analytic_for_rates(
    protocol: Protocol,
    control_rate: float,
    treatment_rate: float,
    *,
    power: float,
    alpha: float | None = None,
    arm: str | None = None,
    scenario: str = "base",
) -> AnalyticSampleSize:
    """The closed-form total sample size of `protocol` at given event rates.

    `arm` is the active arm compared with control (default the first); `alpha` that
    of the comparison (default design.alpha split over the active arms, Bonferroni).
    The pair's total is scaled up to all arms by their allocation, and for the
    patients expected to drop out before the horizon, who give no information.
    """
    if not 0.0 < power < 1.0:
        raise CstrialError(f"--power must lie strictly between 0 and 1, found {power}")
    endpoint = protocol.endpoints.primary
    if endpoint.type not in ("binary", "time-to-event"):
        raise CstrialError(
            f"the closed form covers binary (two proportions) and time-to-event (Schoenfeld) "
            f"primary endpoints; {endpoint.name} is {endpoint.type} ({endpoint.analysis}). "
            "Try `cstrial run` at a few sample sizes, or a scenario with a binary primary, "
            "e.g. endpoints.primary: {name: death_30d, type: binary, horizon_days: 30, "
            "analysis: two-proportion}"
        )
    design = protocol.design
    active = protocol.active_arms[0] if arm is None else protocol.arm(arm)
    control = protocol.control_arm
    alpha = design.alpha / len(protocol.active_arms) if alpha is None else float(alpha)
    boundaries = _boundaries(design, alpha, power)
    pair_allocation = (control.allocation, active.allocation)
    hazard_ratio = events = None
    if endpoint.type == "binary":
        pair = two_proportion_sample_size(
            control_rate,
            treatment_rate,
            alpha=alpha,
            power=power,
            allocation=pair_allocation,
            inflation_factor=boundaries.inflation_factor,
        )
    else:
        # the marginal hazard ratio at the horizon (as `plan.true_effect`); the trial's
        # final look is at full follow-up, where the pair's expected deaths are
        # n_pair * (w_c p_c + w_t p_t)
        hazard_ratio = math.log1p(-treatment_rate) / math.log1p(-control_rate)
        events = schoenfeld_events(
            hazard_ratio,
            alpha=alpha,
            power=power,
            allocation=pair_allocation,
            inflation_factor=boundaries.inflation_factor,
        )
        w_c = control.allocation / sum(pair_allocation)
        pair = events / (w_c * control_rate + (1.0 - w_c) * treatment_rate)
    allocation = tuple(a.allocation for a in protocol.arms)
    share = sum(allocation) / (control.allocation + active.allocation)
    per_day = design.dropout.rate_per_year / 365.25
    dropout = 1.0 - math.exp(-per_day * protocol.endpoints.primary.horizon_days)
    exact = pair * share / (1.0 - dropout)
    block = allocation_block(allocation)
    return AnalyticSampleSize(
        sample_size=round_to_block(exact, block),
        exact=exact,
        fixed_sample_size=exact / boundaries.inflation_factor,
        inflation_factor=float(boundaries.inflation_factor),
        power=power,
        alpha=alpha,
        control_rate=float(control_rate),
        treatment_rate=float(treatment_rate),
        allocation=allocation,
        block=block,
        dropout_fraction=dropout,
        scenario=scenario,
        comparison=f"{active.name} vs {control.name}",
        hazard_ratio=hazard_ratio,
        events=events,
    )


def allocation_block(allocation: Sequence[int]) -> int:
    """Patients in one randomisation block: a total that is a multiple keeps arms balanced."""
    return int(sum(allocation)) * BLOCK_REPEATS


def round_to_block(n: float, block: int) -> int:
    """`n` rounded up to a whole number of blocks (at least one block)."""
    return max(block, math.ceil(n / block - 1e-9) * block)


def _boundaries(design: Any, alpha: float, power: float):
    futility = design.futility
    spending = None if futility is None or futility.spending == "none" else futility.spending
    return group_sequential_boundaries(
        looks=design.looks,
        alpha=alpha,
        efficacy=design.efficacy.spending,
        efficacy_parameter=design.efficacy.parameter,
        futility=spending,
        futility_parameter=None if spending is None else futility.parameter,
        binding=False if futility is None else futility.binding,
        beta=1.0 - power,
    )


# --------------------------------------------------------------------------- simulation


@dataclass(frozen=True)
class SampleSizeResult:
    """The smallest total sample size reaching the target power, found by simulation.

    `power` and `power_se` are simulated at `sample_size`; `curve` holds every
    sample size simulated (columns n, power, power_se, n_sims, fitted_power);
    `probit` the fit probit(power) = intercept + slope·sqrt(n); `fitted_sample_size`
    the fit's unrounded answer.
    """

    sample_size: int
    power: float
    power_se: float
    target_power: float
    fitted_sample_size: float
    probit: tuple[float, float]
    curve: pd.DataFrame
    analytic: AnalyticSampleSize
    n_sims: int
    seed: int
    scenario: str
    comparison: str
    out: Path | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The `cstrial sample-size --json` shape (DESIGN.md), with extra keys."""
        return {
            "sample_size": self.sample_size,
            "power": self.power,
            "power_se": self.power_se,
            "analytic_sample_size": self.analytic.sample_size,
            "curve": [
                {
                    "n": int(row.n),
                    "power": float(row.power),
                    "power_se": float(row.power_se),
                    "fitted_power": float(row.fitted_power),
                }
                for row in self.curve.itertuples()
            ],
            "target_power": self.target_power,
            "fitted_sample_size": self.fitted_sample_size,
            "probit": {"intercept": self.probit[0], "slope_sqrt_n": self.probit[1]},
            "analytic": self.analytic.to_dict(),
            "n_sims": self.n_sims,
            "seed": self.seed,
            "scenario": self.scenario,
            "comparison": self.comparison,
            "out": None if self.out is None else str(self.out),
        }


def simulated_sample_size(
    protocol: Protocol | str | Path,
    power: float | None = None,
    *,
    scenario: str = "base",
    n_sims: int | None = None,
    seed: int | None = None,
    jobs: int | None = None,
    max_n: int = DEFAULT_MAX_N,
    out: str | Path | None = None,
    write: bool = True,
    progress: Progress | None = None,
) -> SampleSizeResult:
    """The smallest total sample size at which the primary comparison reaches `power`.

    Simulates the scenario's trials (looks, futility and all) at candidate sample
    sizes around the closed form, every one with the same seed; fits a probit
    curve of power against sqrt(N); rounds the fit's answer up to whole
    randomisation blocks and simulates there. `power` defaults to the protocol's
    `design.power`, and also sets the beta of beta-spending futility bounds, as in
    gsDesign and rpact. Writes sample_size_curve.parquet and sample_size.json to
    `out` (default results/<name>/sample_size/) unless `write` is False.

    Raises InfeasibleDesignError when the fit puts the answer above `max_n` and the
    simulated power at `max_n` falls short.
    """
    if not isinstance(protocol, Protocol):
        protocol = load_protocol(protocol)
    chosen = _scenario(protocol, scenario)
    sim = protocol.simulation  # as in `cstrial run`: the run's settings, not the scenario's
    n_sims = sim.n_sims if n_sims is None else int(n_sims)
    seed = sim.seed if seed is None else int(seed)
    power = chosen.protocol.design.power if power is None else float(power)
    if n_sims < 1:
        raise CstrialError(f"--n-sims must be at least 1, found {n_sims}")
    if seed < 0:
        raise CstrialError(f"--seed must be a non-negative integer, found {seed}")
    if not 0.0 < power < 1.0:
        raise CstrialError(f"--power must lie strictly between 0 and 1, found {power}")

    search = _Search(chosen, power, n_sims, seed, sim.chunk_size, jobs, progress)
    analytic = analytic_for_plan(
        chosen.protocol, search.plan(chosen.protocol.design.sample_size), power
    )
    block = analytic.block
    max_n = int(max_n)
    if max_n < block:
        raise CstrialError(
            f"--max-n must be at least one randomisation block ({block}), found {max_n}"
        )
    limit = max_n - max_n % block  # the largest balanced total allowed

    centre = min(analytic.exact, limit)
    first = {min(round_to_block(centre * f, block), limit) for f in _FIRST_ROUND}
    if len(first) < 3:  # the closed form lies far beyond max_n: spread below the limit
        first |= {round_to_block(limit * f, block) for f in (0.6, 0.8)}
    search.run(sorted(first), limit)
    fit = _fit_or_infeasible(search, limit, max_n)
    for _ in range(_MAX_ROUNDS):
        target = _solve(fit, power)
        sizes = list(search.rejections)
        if min(sizes) * 0.95 <= target <= max(sizes) * 1.05 or target > limit:
            break
        spread = (0.9, 1.0, 1.1)
        search.run([round_to_block(min(target, limit) * f, block) for f in spread], limit)
        fit = _fit_or_infeasible(search, limit, max_n)
    target = _solve(fit, power)
    if not math.isfinite(target) or target > limit:
        search.run([limit], limit)
        reached = search.power[limit]
        if reached < power:
            raise InfeasibleDesignError(_infeasible(max_n, limit, power, reached))
        chosen_n = limit
    else:
        chosen_n = round_to_block(target, block)
        search.run([chosen_n], limit)

    curve = search.curve(fit)
    reached = search.power[chosen_n]
    result = SampleSizeResult(
        sample_size=chosen_n,
        power=reached,
        power_se=math.sqrt(reached * (1.0 - reached) / n_sims),
        target_power=power,
        fitted_sample_size=float(target),
        probit=fit,
        curve=curve,
        analytic=analytic,
        n_sims=n_sims,
        seed=seed,
        scenario=chosen.name,
        comparison=analytic.comparison,
    )
    if not write:
        return result
    folder = Path(out) if out is not None else Path("results") / protocol.name / "sample_size"
    _write(result, folder)
    return dataclasses.replace(result, out=folder)


def _fit_or_infeasible(search: _Search, limit: int, max_n: int) -> tuple[float, float]:
    """The probit fit; where none can be made, infeasible if power at the limit falls short."""
    try:
        return search.fit()
    except ConvergenceError:
        search.run([limit], limit)
        if search.power[limit] < search.target:
            raise InfeasibleDesignError(
                _infeasible(max_n, limit, search.target, search.power[limit])
            ) from None
        raise


def _infeasible(max_n: int, limit: int, power: float, reached: float) -> str:
    return (
        f"no total sample size up to {max_n} reaches power {power:.2f} "
        f"(power at {limit} is {reached:.2f}). Try 1) a larger --max-n, 2) a lower target "
        "power, or 3) enrichment, e.g. population.inclusion.il6_pg_ml: {min: 100}."
    )


class _Search:
    """Simulated power at candidate sample sizes of one scenario, all from the same seed."""

    def __init__(
        self,
        scenario: Scenario,
        power: float,
        n_sims: int,
        seed: int,
        chunk_size: int,
        jobs: int | None,
        progress: Progress | None,
    ) -> None:
        self.scenario = scenario
        self.target = power
        self.n_sims = n_sims
        self.seed = seed
        self.chunk_size = chunk_size
        self.jobs = jobs
        self.progress = progress
        self.rejections: dict[int, int] = {}
        self.done = 0

    @property
    def power(self) -> dict[int, float]:
        return {n: r / self.n_sims for n, r in sorted(self.rejections.items())}

    def plan(self, n: int) -> ScenarioPlan:
        """The scenario at total sample size `n`, its futility bounds at the target power."""
        protocol = self.scenario.protocol
        design = protocol.design.model_copy(update={"sample_size": int(n), "power": self.target})
        variant = protocol.model_copy(update={"design": design})
        return plan_scenario(Scenario(self.scenario.index, self.scenario.name, variant), self.seed)

    def run(self, sizes: list[int], limit: int) -> None:
        """Simulate every new size in `sizes` (clipped to [one block, `limit`])."""
        block = allocation_block([arm.allocation for arm in self.scenario.protocol.arms])
        new = sorted({min(max(n, block), limit) for n in sizes} - set(self.rejections))
        if not new:
            return
        chunk = self.chunk_size
        n_chunks = -(-self.n_sims // chunk)
        plans = {n: self.plan(n) for n in new}
        tasks = [
            (n, c, c * chunk, min(chunk, self.n_sims - c * chunk))
            for n in new
            for c in range(n_chunks)
        ]
        total = self.done + len(tasks)
        for n in new:
            self.rejections[n] = 0
        for n, rejected in _execute(plans, tasks, self.jobs):
            self.rejections[n] += rejected
            self.done += 1
            if self.progress is not None:
                self.progress(self.done, total)

    def fit(self) -> tuple[float, float]:
        n = np.array(list(self.rejections), dtype=float)
        r = np.array(list(self.rejections.values()), dtype=float)
        return probit_fit(n, r, np.full(n.size, self.n_sims, dtype=float))

    def curve(self, fit: tuple[float, float]) -> pd.DataFrame:
        n = np.array(sorted(self.rejections), dtype=np.int64)
        p = np.array([self.rejections[k] / self.n_sims for k in n])
        return pd.DataFrame(
            {
                "n": n,
                "power": p,
                "power_se": np.sqrt(p * (1 - p) / self.n_sims),
                "n_sims": np.full(n.size, self.n_sims, dtype=np.int64),
                "fitted_power": fitted_power(fit, n),
            }
        )


def _execute(plans: dict[int, ScenarioPlan], tasks: list, jobs: int | None):
    """(n, rejections of the primary comparison) per chunk, in any order of completion."""
    n_jobs = -1 if jobs is None else jobs
    if n_jobs == 1 or len(tasks) == 1:
        for n, chunk, first, reps in tasks:
            yield n, _rejections(plans[n], chunk, first, reps)
        return
    parallel = joblib.Parallel(n_jobs=n_jobs, return_as="generator", batch_size=1)
    yield from parallel(
        joblib.delayed(_chunk_rejections)(n, plans[n], chunk, first, reps)
        for n, chunk, first, reps in tasks
    )


def _chunk_rejections(n: int, plan: ScenarioPlan, chunk: int, first: int, reps: int):
    return n, _rejections(plan, chunk, first, reps)


def _rejections(plan: ScenarioPlan, chunk: int, first: int, reps: int) -> int:
    trials = simulate_chunk(plan, chunk, first, reps, plan.n_looks).trials
    primary = plan.comparisons[0].label
    mask = pc.and_(
        pc.equal(trials["comparison"], pa.scalar(primary)),
        pc.equal(trials["decision"], pa.scalar("efficacy")),
    )
    return int(pc.sum(mask).as_py() or 0)


# --------------------------------------------------------------------------- probit fit


def probit_fit(n: np.ndarray, rejections: np.ndarray, trials: np.ndarray) -> tuple[float, float]:
    """Maximum-likelihood binomial regression with probit link on sqrt(n).

    P(reject | n) = Φ(intercept + slope·sqrt(n)); returns (intercept, slope).
    Raises ConvergenceError if the fit fails or the slope is not positive.
    """
    n, r, m = (np.asarray(x, dtype=float) for x in (n, rejections, trials))
    x = np.sqrt(n)
    scale = x.mean()
    u = x / scale  # a well-conditioned covariate near 1
    # start from least squares on the empirical probits, shrunk away from 0 and 1
    p = (r + 0.5) / (m + 1.0)
    if u.size > 1 and np.ptp(u) > 0:
        slope0, intercept0 = np.polyfit(u, ndtri(p), 1, w=np.sqrt(m))
    else:
        slope0, intercept0 = 0.0, float(ndtri(p.mean()))

    def negative_log_likelihood(theta: np.ndarray) -> float:
        eta = theta[0] + theta[1] * u
        return -float(np.sum(r * log_ndtr(eta) + (m - r) * log_ndtr(-eta)))

    fit = minimize(
        negative_log_likelihood,
        np.array([intercept0, slope0]),
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-12, "maxiter": 4000},
    )
    intercept, slope = float(fit.x[0]), float(fit.x[1]) / scale
    if not (fit.success and np.isfinite(intercept) and np.isfinite(slope)):
        raise ConvergenceError(f"the probit fit of power against sample size failed: {fit.message}")
    if slope <= 0:
        raise ConvergenceError(
            "simulated power does not increase with the sample size, so no curve can be fitted. "
            "Try 1) more --n-sims, or 2) a scenario with a larger treatment effect"
        )
    return intercept, slope


def fitted_power(fit: tuple[float, float], n: np.ndarray | float) -> np.ndarray:
    """The fitted probit curve at total sample size(s) `n`."""
    intercept, slope = fit
    return ndtr(intercept + slope * np.sqrt(np.asarray(n, dtype=float)))


def _solve(fit: tuple[float, float], power: float) -> float:
    """The sample size at which the fitted curve reaches `power`."""
    intercept, slope = fit
    root = (float(ndtri(power)) - intercept) / slope
    return root**2 if root > 0 else 0.0


# --------------------------------------------------------------------------- helpers


def _scenario(protocol: Protocol | str | Path, name: str) -> Scenario:
    if not isinstance(protocol, Protocol):
        protocol = load_protocol(protocol)
    scenarios = expand_scenarios(protocol)
    for s in scenarios:
        if s.name == name:
            return s
    names = ", ".join(s.name for s in scenarios)
    raise CstrialError(f"--scenario {name!r} is not in the protocol; its scenarios are: {names}")


def _write(result: SampleSizeResult, folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CstrialError(
            f"cannot write results to {folder}: {exc.strerror or exc}. Choose another --out."
        ) from None
    table = pa.Table.from_pandas(result.curve, preserve_index=False)
    write_table_atomic(table, folder / "sample_size_curve.parquet")
    payload = {**result.to_dict(), "out": str(folder)}
    write_json_atomic(payload, folder / "sample_size.json")
