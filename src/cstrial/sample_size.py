"""The sample size for the primary comparison: the closed form, then a search by simulation.

The primary comparison is the first active arm against control. The closed form
(`cstrial.design.sample_size`) takes the model's event rates: the scenario plan's
true risks by the endpoint's horizon.

The search simulates whole trials through the engine at candidate sample sizes
around the closed form, all with the same seed (common random numbers: the chunk
generators are seeded by run seed, scenario and chunk, never by N), fits power
against N by probit regression on sqrt(N), solves the fit for the target power,
and simulates once more at the answer. sqrt(N) is the natural scale: under the
normal approximation probit(power) = Δ·sqrt(N)/σ − z_α, a straight line in
sqrt(N), so the fit has no shape error to absorb. The interval on N is the delta
method's on sqrt(N) from the fit's covariance.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from scipy.special import log_ndtr, ndtr, ndtri

from cstrial.design.sample_size import (
    AnalyticSampleSize,
    allocation_block,
    analytic_for_rates,
    round_to_block,
)
from cstrial.engine.parallel import chunk_tasks, execute
from cstrial.engine.plan import ScenarioPlan, plan_scenario
from cstrial.engine.precision import Precision, power_precision
from cstrial.errors import ConvergenceError, CstrialError, InfeasibleDesignError, UsageError
from cstrial.protocol import (
    Protocol,
    Scenario,
    expand_scenarios,
    load_protocol,
    select_scenarios,
)
from cstrial.protocol.limits import MAX_SEED
from cstrial.results import write_json_atomic, write_table_atomic

Progress = Callable[[int, int], None]

DEFAULT_MAX_N = 20_000
"""Largest total sample size the search considers unless told otherwise."""

# Candidate sample sizes of the first round, as multiples of the closed form: they
# span roughly ±1 SD of power around the target, where the probit fit is best pinned.
_FIRST_ROUND = (0.75, 0.9, 1.0, 1.1, 1.25)
_MAX_ROUNDS = 4


# --------------------------------------------------------------------------- closed form


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


# --------------------------------------------------------------------------- simulation


@dataclass(frozen=True)
class SampleSizeResult:
    """The smallest total sample size reaching the target power, found by simulation.

    `power` and `power_se` are simulated at `sample_size`; `curve` holds every
    sample size simulated (columns n, power, power_se, n_sims, fitted_power);
    `probit` the fit probit(power) = intercept + slope·sqrt(n); `fitted_sample_size`
    the fit's unrounded answer and `sample_size_interval` its 95% interval (the
    Monte Carlo uncertainty of the fit, by the delta method on sqrt(N)).
    """

    sample_size: int
    power: float
    power_se: float
    target_power: float
    fitted_sample_size: float
    sample_size_interval: tuple[float, float]
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
            "sample_size_interval": list(self.sample_size_interval),
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
        raise UsageError("n_sims", f"must be at least 1, found {n_sims}")
    if not 0 <= seed <= MAX_SEED:
        raise UsageError("seed", f"must be a whole number from 0 to {MAX_SEED:,}, found {seed}")
    if not 0.0 < power < 1.0:
        raise UsageError("power", f"must lie strictly between 0 and 1, found {power}")

    search = _Search(chosen, power, n_sims, seed, sim.chunk_size, jobs, progress)
    analytic = analytic_for_plan(
        chosen.protocol, search.plan(chosen.protocol.design.sample_size), power
    )
    block = analytic.block
    max_n = int(max_n)
    if max_n < block:
        raise UsageError(
            "max_n", f"must be at least one randomisation block ({block}), found {max_n}"
        )
    limit = max_n - max_n % block  # the largest balanced total allowed

    centre = min(analytic.exact, limit)
    first = {min(round_to_block(centre * f, block), limit) for f in _FIRST_ROUND}
    if len(first) < 3:  # the closed form lies far beyond max_n: spread below the limit
        first |= {round_to_block(limit * f, block) for f in (0.6, 0.8)}
    search.run(sorted(first), limit)
    fit = _fit_or_infeasible(search, limit, max_n)
    for _ in range(_MAX_ROUNDS):
        target = fit.solve(power)
        sizes = list(search.rejections)
        if min(sizes) * 0.95 <= target <= max(sizes) * 1.05 or target > limit:
            break
        spread = (0.9, 1.0, 1.1)
        search.run([round_to_block(min(target, limit) * f, block) for f in spread], limit)
        fit = _fit_or_infeasible(search, limit, max_n)
    target = fit.solve(power)
    if not math.isfinite(target) or target > limit:
        search.run([limit], limit)
        if search.power[limit] < power:
            raise InfeasibleDesignError(_infeasible(max_n, limit, power, search.power[limit]))
        chosen_n = limit
    else:
        chosen_n = round_to_block(target, block)
        search.run([chosen_n], limit)

    curve = search.curve(fit)
    reached = search.precision(chosen_n)
    result = SampleSizeResult(
        sample_size=chosen_n,
        power=reached.power,
        power_se=reached.se,
        target_power=power,
        fitted_sample_size=float(target),
        sample_size_interval=fit.interval(power),
        probit=(fit.intercept, fit.slope),
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


def _fit_or_infeasible(search: _Search, limit: int, max_n: int) -> ProbitFit:
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
        plans = {n: self.plan(n) for n in new}
        sizes_of = {id(plans[n]): n for n in new}
        tasks = [task for n in new for task in chunk_tasks(plans[n], self.n_sims, self.chunk_size)]
        total = self.done + len(tasks)
        for n in new:
            self.rejections[n] = 0
        results = execute(tasks, max(p.n_looks for p in plans.values()), jobs=self.jobs)
        for task, result in zip(tasks, results, strict=True):
            # the primary comparison is the plan's first
            self.rejections[sizes_of[id(task.plan)]] += int(result.tallies[0].reject.sum())
            self.done += 1
            if self.progress is not None:
                self.progress(self.done, total)

    def precision(self, n: int) -> Precision:
        """The simulated power at `n`, with its Monte Carlo SE and interval."""
        return power_precision(self.rejections[n], self.n_sims)

    def fit(self) -> ProbitFit:
        n = np.array(list(self.rejections), dtype=float)
        r = np.array(list(self.rejections.values()), dtype=float)
        return probit_curve(n, r, np.full(n.size, self.n_sims, dtype=float))

    def curve(self, fit: ProbitFit) -> pd.DataFrame:
        n = np.array(sorted(self.rejections), dtype=np.int64)
        precision = [self.precision(int(k)) for k in n]
        return pd.DataFrame(
            {
                "n": n,
                "power": np.array([p.power for p in precision]),
                "power_se": np.array([p.se for p in precision]),
                "n_sims": np.full(n.size, self.n_sims, dtype=np.int64),
                "fitted_power": fit.power(n),
            }
        )


# --------------------------------------------------------------------------- probit fit


@dataclass(frozen=True)
class ProbitFit:
    """probit(power) = intercept + slope·sqrt(n), fitted by maximum likelihood, with covariance."""

    intercept: float
    slope: float
    covariance: np.ndarray  # of (intercept, slope)

    def power(self, n: np.ndarray | float) -> np.ndarray:
        """The fitted curve at total sample size(s) `n`."""
        return ndtr(self.intercept + self.slope * np.sqrt(np.asarray(n, dtype=float)))

    def solve(self, power: float) -> float:
        """The sample size at which the fitted curve reaches `power`."""
        root = (float(ndtri(power)) - self.intercept) / self.slope
        return root**2 if root > 0 else 0.0

    def interval(self, power: float, level: float = 0.95) -> tuple[float, float]:
        """A `level` interval on `solve(power)`: delta method on sqrt(N), then squared."""
        root = (float(ndtri(power)) - self.intercept) / self.slope
        gradient = np.array([-1.0 / self.slope, -root / self.slope])
        se = float(np.sqrt(gradient @ self.covariance @ gradient))
        z = float(ndtri(0.5 + level / 2))
        low, high = max(root - z * se, 0.0), max(root + z * se, 0.0)
        return low**2, high**2


def probit_curve(n: np.ndarray, rejections: np.ndarray, trials: np.ndarray) -> ProbitFit:
    """Maximum-likelihood binomial regression with probit link on sqrt(n), by Newton's method.

    P(reject | n) = Φ(a + b·sqrt(n)). Fisher scoring with step halving on the
    log-likelihood, to a relative change of 1e-10 in the parameters (on a covariate
    scaled near 1, so both are of order one); the covariance is the inverse Fisher
    information at the optimum (McCullagh & Nelder 1989, §4.4). Counts may be
    effective (non-integer). Raises ConvergenceError if the fit fails or the slope
    is not positive.
    """
    n, r, m = (np.asarray(x, dtype=float) for x in (n, rejections, trials))
    scale = float(np.sqrt(n).mean())
    x = np.column_stack([np.ones(n.size), np.sqrt(n) / scale])  # a covariate near 1

    def log_likelihood(theta: np.ndarray) -> float:
        eta = x @ theta
        return float(np.sum(r * log_ndtr(eta) + (m - r) * log_ndtr(-eta)))

    # start from least squares on the empirical probits, shrunk away from 0 and 1
    p = (r + 0.5) / (m + 1.0)
    if n.size > 1 and np.ptp(x[:, 1]) > 0:
        slope0, intercept0 = np.polyfit(x[:, 1], ndtri(p), 1, w=np.sqrt(m))
    else:
        slope0, intercept0 = 0.0, float(ndtri(p.mean()))
    theta = np.array([intercept0, slope0])
    current = log_likelihood(theta)
    for _ in range(200):
        eta = x @ theta
        mu = np.clip(ndtr(eta), 1e-300, 1 - 1e-16)
        density = np.exp(-0.5 * eta**2) / np.sqrt(2 * np.pi)
        weight = m * density**2 / (mu * (1 - mu))
        information = x.T @ (weight[:, None] * x)
        score = x.T @ (density * (r - m * mu) / (mu * (1 - mu)))
        try:
            step = np.linalg.solve(information, score)
        except np.linalg.LinAlgError:
            break
        for _ in range(50):  # halve until the likelihood does not fall
            candidate = theta + step
            value = log_likelihood(candidate)
            if value >= current - 1e-12 * abs(current):
                break
            step /= 2
        theta, previous, current = candidate, theta, value
        if np.all(np.abs(theta - previous) <= 1e-10 * np.maximum(1.0, np.abs(theta))):
            break
    else:
        raise ConvergenceError("the probit fit of power against sample size did not converge")
    eta = x @ theta
    mu = np.clip(ndtr(eta), 1e-300, 1 - 1e-16)
    density = np.exp(-0.5 * eta**2) / np.sqrt(2 * np.pi)
    information = x.T @ ((m * density**2 / (mu * (1 - mu)))[:, None] * x)
    if not np.all(np.isfinite(theta)) or np.linalg.cond(information) > 1e14:
        raise ConvergenceError(
            "the probit fit of power against sample size failed: power is 0 or 1 at every "
            "size simulated. Try 1) more --n-sims, or 2) a scenario with a smaller effect"
        )
    if theta[1] <= 0:
        raise ConvergenceError(
            "simulated power does not increase with the sample size, so no curve can be fitted. "
            "Try 1) more --n-sims, or 2) a scenario with a larger treatment effect"
        )
    unscale = np.diag([1.0, 1.0 / scale])
    covariance = unscale @ np.linalg.inv(information) @ unscale
    return ProbitFit(float(theta[0]), float(theta[1]) / scale, covariance)


def probit_fit(n: np.ndarray, rejections: np.ndarray, trials: np.ndarray) -> tuple[float, float]:
    """(intercept, slope) of `probit_curve`."""
    fit = probit_curve(n, rejections, trials)
    return fit.intercept, fit.slope


# --------------------------------------------------------------------------- helpers


def _scenario(protocol: Protocol | str | Path, name: str) -> Scenario:
    if not isinstance(protocol, Protocol):
        protocol = load_protocol(protocol)
    return select_scenarios(expand_scenarios(protocol), name)[0]


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
