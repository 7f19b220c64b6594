"""Monte Carlo precision of a simulated power: its SE, its exact interval, and when to warn.

A simulated power is a binomial proportion over independent replicate trials. Every
SE and interval that cstrial reports goes through `power_precision`, so the run's
summary, the sample-size search and `compare` agree. (`design_effect` > 1 is for
correlated replicates, n / design_effect independent ones, Kish 1965.)
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
