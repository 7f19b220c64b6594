"""What an arm does to a patient's hazard of death.

Every effect model reduces to one per-patient form: from `delay_days` on, the
hazard of death is multiplied by `multiplier` (before it, control care), so

    H_arm(t) = H30 * [g(min(t, d)) + multiplier * (g(t) - g(min(t, d)))],

with g the disease model's timing fraction. Constant models apply one
multiplier to everyone (risk- and odds-ratios are converted per patient at the
horizon, so that the risk by the horizon is exactly RR * p or the odds OR * o);
`il6-mediated` removes a fraction of the IL-6 excess log hazard, so the benefit
grows with baseline IL-6.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cstrial.disease.model import il6_log_hazard, risk_by, timing_fraction
from cstrial.parameters import Parameter, ParameterTable

TREATMENT = ParameterTable(
    "Treatment effect models",
    [
        Parameter(
            "il6_blockade_floor",
            120.0,
            "pg/mL",
            "[assumption] the IL-6-attributable log hazard is the excess of beta_il6 * ln(IL-6) over "
            "its value at the population median; below it blockade neither helps nor harms. With "
            "blockade 0.7 this gives a marginal RR near 0.85-0.9, the optimistic anchor of "
            "calibration.md (RECOVERY RR 0.85; IL-6i meta-analysis RR 0.90)",
        ),
    ],
)

# Risks are capped just below 1 so a risk-ratio > 1 keeps a finite hazard.
_MAX_RISK = 1.0 - 1e-12


@dataclass(frozen=True)
class HazardCourse:
    """Per-patient hazard of death under an arm: control H30, multiplier, onset (days)."""

    h30: np.ndarray
    multiplier: np.ndarray
    delay_days: float

    def cumulative_hazard(self, days: float) -> np.ndarray:
        """H_arm(t) at day t (t at most 30)."""
        g_t = timing_fraction(days)
        g_d = timing_fraction(min(days, self.delay_days))
        return self.h30 * (g_d + self.multiplier * (g_t - g_d))

    def risk(self, days: float) -> np.ndarray:
        """Probability of death by day t."""
        return risk_by(self.cumulative_hazard(days))

    def death_time(self, exposure: np.ndarray, horizon_days: float) -> np.ndarray:
        """Day of death for unit-exponential draws `exposure` (inf if alive at the horizon)."""
        g_d = timing_fraction(self.delay_days)
        y = exposure / self.h30  # target value of the hazard shape g
        after = y > g_d
        y = np.where(after, g_d + (y - g_d) / self.multiplier, y)
        days = _inverse_timing(y)
        return np.where(days <= horizon_days, days, np.inf)


def hazard_course(
    effect: object | None, h30: np.ndarray, il6_pg_ml: np.ndarray, horizon_days: float
) -> HazardCourse:
    """The hazard course of patients with control 30-day cumulative hazard `h30` under `effect`.

    `effect` is a protocol effect (attribute `model` and its parameters) or None
    for control care / a null effect.
    """
    if effect is None:
        return HazardCourse(h30, np.ones_like(h30), 0.0)
    model = effect.model  # type: ignore[attr-defined]
    if model == "hazard-ratio":
        return HazardCourse(h30, np.full_like(h30, effect.value), 0.0)  # type: ignore[attr-defined]
    if model in ("risk-ratio", "odds-ratio"):
        h_control = h30 * timing_fraction(horizon_days)
        p_control = risk_by(h_control)
        value = effect.value  # type: ignore[attr-defined]
        if model == "risk-ratio":
            p_arm = np.minimum(value * p_control, _MAX_RISK)
        else:
            odds = value * p_control / (1.0 - p_control)
            p_arm = odds / (1.0 + odds)
        multiplier = -np.log1p(-p_arm) / h_control
        return HazardCourse(h30, multiplier, 0.0)
    if model == "il6-mediated":
        excess = np.maximum(
            il6_log_hazard(il6_pg_ml) - il6_log_hazard(TREATMENT["il6_blockade_floor"]), 0.0
        )
        multiplier = np.exp(-effect.blockade * excess)  # type: ignore[attr-defined]
        return HazardCourse(h30, multiplier, effect.delay_hours / 24.0)  # type: ignore[attr-defined]
    raise ValueError(f"unknown effect model {model!r}")


def _inverse_timing(y: np.ndarray) -> np.ndarray:
    """Day t with g(t) = y (the inverse of `timing_fraction`); inf where y >= 1 beyond day 30."""
    from cstrial.disease.parameters import DISEASE

    shape = DISEASE["death_timing_weibull_shape"]
    scale = DISEASE["death_timing_weibull_scale_days"]
    g30 = -np.expm1(-((30.0 / scale) ** shape))
    inner = 1.0 - y * g30
    with np.errstate(divide="ignore", invalid="ignore"):
        days = scale * (-np.log(inner)) ** (1.0 / shape)
    return np.where((y <= 1.0) & (inner > 0), days, np.inf)
