"""Closed-form sample sizes: two proportions (binary) and Schoenfeld's events (time to event).

The two-proportion normal approximation pools the variance under H0 and not under
H1 (Fleiss, Tytun & Ury 1980; Farrington & Manning 1990 with a null difference of 0;
gsDesign ``nBinomial``, rpact ``getSampleSizeRates``), generalised to unequal
allocation, at the comparison's alpha, multiplied by the group-sequential inflation
factor of the protocol's looks and spending functions (Jennison & Turnbull 2000,
ch. 7; rpact ``inflationFactor``). For a time-to-event primary the closed form is
Schoenfeld's number of deaths at the marginal hazard ratio, over the two arms'
risk of death by the horizon (the final look follows every patient to it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from scipy.special import ndtri

from cstrial.design.boundaries import design_boundaries
from cstrial.design.randomisation import BLOCK_REPEATS
from cstrial.errors import CstrialError, InfeasibleDesignError, UsageError
from cstrial.protocol import Protocol


def two_proportion_sample_size(
    control_rate: float,
    treatment_rate: float,
    *,
    alpha: float,
    power: float,
    allocation: Sequence[float] = (1, 1),
    inflation_factor: float = 1.0,
    continuity_correction: bool = False,
) -> float:
    """Total sample size of the two arms for a one-sided two-proportion z-test.

    n = (z_{1−α}·σ0 + z_{1−β}·σ1)² / Δ² · inflation_factor, where with allocation
    fractions w_c, w_t: σ0² = p̄q̄(1/w_c + 1/w_t), p̄ = w_c·p_c + w_t·p_t (pooled,
    under H0) and σ1² = p_c q_c / w_c + p_t q_t / w_t (under H1). For 1:1 this is
    n per arm = (z_{1−α}·sqrt(2 p̄ q̄) + z_{1−β}·sqrt(p_c q_c + p_t q_t))² / Δ².
    `allocation` is (control, treatment); the answer is not rounded.

    With `continuity_correction` (the test with Yates's correction, R's ``prop.test``),
    the fixed-design total n solves (|Δ| − c/n)·√n = z_{1−α}·σ0 + z_{1−β}·σ1 with
    c = (1/w_c + 1/w_t)/2, i.e. n = n0/4 · (1 + sqrt(1 + 4c/(n0·|Δ|)))² for the
    uncorrected n0 (Fleiss, Tytun & Ury 1980, eq. 5, for any allocation; for 1:1,
    n per arm = n'/4 · (1 + sqrt(1 + 4/(n'·|Δ|)))²); the inflation factor then
    multiplies it.

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
    if continuity_correction:
        c = 0.5 * (1.0 / w_c + 1.0 / w_t)
        fixed = fixed / 4.0 * (1.0 + math.sqrt(1.0 + 4.0 * c / (fixed * abs(p_c - p_t)))) ** 2
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
        raise UsageError("power", f"must lie strictly between 0 and 1, found {power}")
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
    boundaries = design_boundaries(design, design.looks, alpha, power)
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
            continuity_correction=endpoint.continuity_correction,
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
