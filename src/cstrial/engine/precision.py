"""Monte Carlo precision of a simulated power: its SE, its exact interval, and when to warn.

A simulated power is a binomial proportion over replicate trials. With patient
reuse (`simulation.patient_reuse`) trials share patients and are worth fewer
independent ones: n / design_effect (Kish 1965). Every SE and interval that
cstrial reports goes through `power_precision`, so the run's summary, the
sample-size search and `compare` agree.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from scipy.special import betaincinv

from cstrial.errors import MonteCarloPrecisionWarning

# Above this Monte Carlo SE a power estimate is too coarse to quote (STYLE.md).
POWER_SE_ADVISED = 0.01


@dataclass(frozen=True)
class Precision:
    """A simulated rejection rate with its Monte Carlo SE and 95% Clopper–Pearson interval."""

    power: float
    se: float
    ci_low: float
    ci_high: float


def power_precision(rejections: float, n: int, design_effect: float = 1.0) -> Precision:
    """Power = rejections / n, with SE and interval at the effective number of trials.

    SE = sqrt(p (1 - p) / (n / deff)); the interval is Clopper–Pearson on the
    effective counts (rejections / deff of n / deff).
    """
    power = rejections / n
    n_effective = n / design_effect
    low, high = clopper_pearson(int(rejections) / design_effect, n_effective)
    return Precision(power, float(np.sqrt(power * (1 - power) / n_effective)), low, high)


def clopper_pearson(successes: float, n: float, level: float = 0.95) -> tuple[float, float]:
    """Exact binomial confidence interval (Clopper & Pearson 1934).

    Non-integer counts are effective ones (successes and trials over a design effect).
    The bounds are Beta quantiles, betaincinv(a, b, q) = scipy.stats.beta.ppf(q, a, b)
    without importing scipy.stats (about 1 s at start-up).
    """
    tail = (1 - level) / 2
    low = 0.0 if successes == 0 else float(betaincinv(successes, n - successes + 1, tail))
    high = 1.0 if successes == n else float(betaincinv(successes + 1, n - successes, 1 - tail))
    return low, high


def design_effect(
    reuse: int,
    control_risk: np.ndarray,
    treatment_risk: np.ndarray,
    control_share: float,
    treatment_share: float,
) -> float:
    """Upper bound on the variance inflation of a simulated rejection rate from reuse.

    Two trials sharing a patient correlate only through that patient's own
    treatment effect tau(x) = p_T(x) - p_C(x): their arms and outcomes are drawn
    afresh. To first order in the shared fraction, with every pool member in
    `reuse` trials, the variance of the rejection rate grows by the factor

        1 + (reuse - 1) * phi(c - mu)^2 / (P (1 - P)) * Var tau / V,

    with V = E[p_C q_C] / w_C + E[p_T q_T] / w_T + Var tau, the per-patient variance
    of the efficient (covariate-adjusted) estimator's influence function, which
    no analysis beats; phi(c - mu)^2 / (P (1 - P)) <= 2 / pi. Risks are the
    per-patient risks of death by the horizon over the reference population.
    """
    if reuse == 1:
        return 1.0
    tau = np.asarray(treatment_risk) - np.asarray(control_risk)
    spread = float(np.var(tau))
    v = (
        float(np.mean(control_risk * (1 - control_risk))) / control_share
        + float(np.mean(treatment_risk * (1 - treatment_risk))) / treatment_share
        + spread
    )
    return 1.0 + (reuse - 1) * (2.0 / np.pi) * spread / v


@dataclass(frozen=True)
class PowerRow:
    """What the precision warning needs to know of one summary row."""

    scenario: str
    comparison: str
    n_sims: int
    power_se: float


def warn_if_imprecise(rows: Iterable[PowerRow], stacklevel: int = 3) -> None:
    """A `MonteCarloPrecisionWarning` naming the least precise power, if its SE is too large."""
    worst = max(rows, key=lambda row: row.power_se, default=None)
    if worst is None or not worst.power_se > POWER_SE_ADVISED:
        return
    warnings.warn(
        f"the power of {worst.comparison} in scenario {worst.scenario} has a Monte Carlo SE "
        f"of {worst.power_se:.4f} with n_sims {worst.n_sims}, above {POWER_SE_ADVISED}: quote "
        "it with its CI, or raise --n-sims (2,500 trials keep the SE below 0.01 at any power)",
        MonteCarloPrecisionWarning,
        stacklevel=stacklevel,
    )
