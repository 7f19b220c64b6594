"""What an arm does to a patient's hazard of death.

Every effect model reduces to one per-patient form: time is cut into pieces at
common edges, and on piece k the hazard of death is the control hazard times a
patient-specific multiplier m_ik, so

    H_arm(t) = H30_i * sum_k m_ik * (G(min(t, e_k+1)) - G(min(t, e_k))),

with G the disease model's baseline shape. Pieces from day 30 on carry, besides the
arm's multiplier, the patient's own late factor exp(late_i) of the disease model
(`disease.late_log_ratio`), so control care itself is H30_i * G(t) to day 30 and
H30_i * (1 + exp(late_i) * (G(t) - 1)) after. Constant models apply one multiplier
to everyone from time 0 (risk- and odds-ratios are converted per patient at the
horizon, so the risk by the horizon is exactly RR * p or has odds OR * o);
`il6-mediated` removes the fraction `blockade` of the IL-6 excess log hazard from
`delay_hours` on; `pkpd` does the same with the time-varying blockade of a
tocilizumab or anakinra regimen.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING

import numpy as np

from cstrial.disease.model import (
    EARLY_DAYS,
    MODEL_HORIZON_DAYS,
    cumulative_hazard,
    il6_log_hazard,
    inverse_timing,
    risk_by,
    timing_fraction,
)
from cstrial.disease.parameters import DISEASE, LATE
from cstrial.parameters import Parameter, ParameterTable
from cstrial.protocol.effects import Effect, HazardRatio, Il6Mediated, OddsRatio, Pkpd, RiskRatio
from cstrial.treatment.pkpd import PKPD, BlockadeProfile, anakinra_profile, tocilizumab_profile

if TYPE_CHECKING:
    from cstrial.model_parameters import ModelParameters

TREATMENT = ParameterTable(
    "Treatment effect models",
    [
        Parameter(
            "il6_blockade_floor",
            120.0,
            "pg/mL",
            "[assumption] the IL-6-attributable log hazard is the excess of beta_il6 * ln(IL-6) "
            "over its value at the population median; below it blockade neither helps nor "
            "harms. With blockade 0.7 this gives a marginal 30-day hazard ratio of 0.86 in CRP "
            ">= 75 mg/L, RECOVERY's 0.85 (docs/model.md, effect translation)",
            35.0,
            400.0,
            "[assumption] anchored on IL-6 in uncomplicated MI (peak 34 pg/mL, Debrunner 2008: "
            "IL-6 above it is shock-related) and on the CS cut-offs for death (307 pg/mL, "
            "Andrie 2012) and for CS vs STEMI (357 pg/mL, Parenica 2014). The enrichment gain "
            "on IL-6 shrinks as the floor falls",
        ),
        Parameter(
            "blockade",
            0.7,
            "fraction of the IL-6-attributable excess log hazard",
            "reference value of a protocol's `blockade` (the default of `pkpd` effects and the "
            "value of the shipped protocols; each protocol sets its own): it gives the "
            "RECOVERY rate ratio in CRP >= 75 mg/L (model HR 0.86 vs 0.85) and a 30-day RR of "
            "0.92 in all comers. Not a finding in cardiogenic shock: no trial has measured it",
            0.0,
            1.0,
            "from no benefit (WHO REACT meta-analysis: 28-day OR 1.09 for IL-6 antagonists "
            "without corticosteroids, Shankar-Hari 2021; REMAP-CAP found no difference in effect "
            "by CRP level) to full removal (model HR 0.80 in CRP >= 75 mg/L, inside RECOVERY's "
            "0.76-0.94; REMAP-CAP in-hospital 28.0% vs 35.8%, RR 0.78). ASSAIL-MI's myocardial "
            "salvage (+5.6 points, 0.2-11.3, STEMI without shock) shows a cardiac action but "
            "has no mortality endpoint: it favours no value inside the range. The null must "
            "always be run",
        ),
    ],
)

# Risks are capped just below 1 so a risk-ratio > 1 keeps a finite hazard.
_MAX_RISK = 1.0 - 1e-12


@dataclass(frozen=True)
class HazardCourse:
    """Per-patient hazard of death under an arm: control H30 and piecewise multipliers.

    `edges` has m+1 increasing days from 0 to the model horizon, day 30 among them
    whenever `late` is not 0. The multiplier of patient i on piece k is
    exp(load_i * slopes_k), times exp(late_i) on pieces from day 30 on, with `load`
    and `late` scalars or (n,): every effect model has this form, so memory stays
    O(n + m). `disease` and `late_table` give the baseline shape G (the model's tables,
    or a sensitivity analysis's overridden ones).
    """

    h30: np.ndarray
    edges: np.ndarray
    slopes: np.ndarray
    load: np.ndarray | float = 1.0
    late: np.ndarray | float = 0.0
    disease: ParameterTable = field(default=DISEASE, repr=False, compare=False)
    late_table: ParameterTable = field(default=LATE, repr=False, compare=False)

    def __post_init__(self) -> None:
        has_late = bool(np.any(np.asarray(self.late) != 0.0))
        if has_late and EARLY_DAYS not in self.edges:
            raise ValueError("a course with a late factor needs day 30 among its edges")
        # first piece with the late factor (len(slopes) if none): the check stays O(1) a piece
        first = int(np.searchsorted(self.edges, EARLY_DAYS)) if has_late else len(self.slopes)
        object.__setattr__(self, "_first_late_piece", first)

    def cumulative_hazard(self, days: float) -> np.ndarray:
        """H_arm(t) at day t."""
        g = timing_fraction(np.minimum(self.edges, days), self.disease, self.late_table)
        total = np.zeros_like(self.h30)
        for k in range(len(self.edges) - 1):
            total += self._multiplier(k) * (g[k + 1] - g[k])
        return self.h30 * total

    def cumulative_hazard_grid(self, days: np.ndarray) -> np.ndarray:
        """H_arm at each of `days` for every patient, (n, len(days)): the pieces' increments
        of G are common to all patients, so this is one (n, pieces) @ (pieces, days) product."""
        g = timing_fraction(
            np.minimum(self.edges[:, None], np.asarray(days)[None, :]),
            self.disease,
            self.late_table,
        )
        increments = np.diff(g, axis=0)  # (pieces, days)
        multipliers = np.stack(
            [np.broadcast_to(self._multiplier(k), self.h30.shape) for k in range(len(self.slopes))],
            axis=1,
        )
        return self.h30[:, None] * (multipliers @ increments)

    def risk(self, days: float) -> np.ndarray:
        """Probability of death by day t."""
        return risk_by(self.cumulative_hazard(days))

    def death_time(self, exposure: np.ndarray, horizon_days: float) -> np.ndarray:
        """Day of death for unit-exponential draws `exposure` (inf if alive at the horizon)."""
        days = inverse_timing(
            self.death_fraction(exposure / self.h30), self.disease, self.late_table
        )
        return np.where(days <= horizon_days, days, np.inf)

    def death_fraction(self, target: np.ndarray) -> np.ndarray:
        """G at the day of death, given target = exposure / H30 (inf: alive at the model horizon).

        Whole-array arithmetic, no masks: the piece in which the multiplied baseline
        shape reaches `target` is found piece by piece, and G is interpolated there.
        """
        g = timing_fraction(self.edges, self.disease, self.late_table)
        y = None
        reached: np.ndarray | float = 0.0
        for k in range(len(self.edges) - 1):
            m = self._multiplier(k)
            step = m * (g[k + 1] - g[k])
            reaching = reached + step >= target
            if k == 0 and g[0] == 0.0 and isinstance(m, float) and m == 1.0:
                value = target  # g[0] + (target - 0) / 1, exactly
            else:
                value = g[k] + (target - reached) / m
            # the first piece that reaches the target: y is still inf before it
            y = (
                np.where(reaching, value, np.inf)
                if y is None
                else np.where(reaching & np.isinf(y), value, y)
            )
            reached = reached + step
        assert y is not None  # the loop runs at least once: a course has one piece or more
        return y

    def cumulative_hazard_at(self, days: np.ndarray) -> np.ndarray:
        """H_arm at a day of each patient's own (`days` shaped like `h30`)."""
        total = np.zeros_like(self.h30)
        for k in range(len(self.edges) - 1):
            g_low = timing_fraction(np.minimum(self.edges[k], days), self.disease, self.late_table)
            g_high = timing_fraction(
                np.minimum(self.edges[k + 1], days), self.disease, self.late_table
            )
            total += self._multiplier(k) * (g_high - g_low)
        return self.h30 * total

    def subset(self, index: np.ndarray) -> HazardCourse:
        """The same course for the patients at `index`."""
        load = np.asarray(self.load)[index] if np.ndim(self.load) else self.load
        late = np.asarray(self.late)[index] if np.ndim(self.late) else self.late
        return HazardCourse(
            self.h30[index], self.edges, self.slopes, load, late, self.disease, self.late_table
        )

    def _multiplier(self, k: int) -> np.ndarray | float:
        is_late = k >= self._first_late_piece  # type: ignore[attr-defined]
        if self.slopes[k] == 0.0:
            return np.exp(self.late) if is_late else 1.0
        if is_late:
            return np.exp(self.load * self.slopes[k] + self.late)
        return np.exp(self.load * self.slopes[k])


def hazard_course(
    effect: Effect | None,
    h30: np.ndarray,
    il6_pg_ml: np.ndarray,
    horizon_days: float,
    blockade_profile: BlockadeProfile | None = None,
    late: np.ndarray | float = 0.0,
    model: ModelParameters | None = None,
) -> HazardCourse:
    """The hazard course of patients with control 30-day cumulative hazard `h30` under `effect`.

    `effect` is a protocol effect (`cstrial.protocol.effects`) or None
    for control care / a null effect. `blockade_profile` (edges_days, blockade) is
    the regimen's time course for `pkpd` effects. `late` is each patient's late log
    ratio (`disease.late_log_ratio(patients, eta)`); 0 makes the hazard after day 30
    proportional to the 30-day hazard, which is not the calibrated model. `model` gives
    the parameter tables (`cstrial.model_parameters`; None: the model's own), for a
    sensitivity analysis: the baseline shape, the IL-6 floor and strength, the PK/PD.
    """
    tables = _Tables.of(model)
    if is_null(effect):
        effect = None  # the same course as control care, to the last bit (exact symmetry)
    course = _hazard_course(effect, h30, il6_pg_ml, horizon_days, blockade_profile, late, tables)
    if np.ndim(late) or late != 0.0:
        course = _split_at(course, EARLY_DAYS)
    return HazardCourse(
        course.h30, course.edges, course.slopes, course.load, late, tables.disease, tables.late
    )


@dataclass(frozen=True)
class _Tables:
    disease: ParameterTable = DISEASE
    late: ParameterTable = LATE
    treatment: ParameterTable | None = None  # None: TREATMENT (defined below)
    pkpd: ParameterTable = PKPD

    @classmethod
    def of(cls, model: ModelParameters | None) -> _Tables:
        if model is None:
            return cls()
        return cls(model.disease, model.late, model.treatment, model.pkpd)


def is_null(effect: Effect | None) -> bool:
    """Whether `effect` changes no hazard: a ratio of 1, or no blockade (harms aside)."""
    if effect is None:
        return True
    if isinstance(effect, RiskRatio | OddsRatio | HazardRatio):
        return effect.value == 1.0
    return effect.blockade == 0.0


def _split_at(course: HazardCourse, day: float) -> HazardCourse:
    """The same course with `day` among its edges (the piece holding it cut in two)."""
    if day in course.edges:
        return course
    k = int(np.searchsorted(course.edges, day)) - 1
    edges = np.insert(course.edges, k + 1, day)
    slopes = np.insert(course.slopes, k, course.slopes[k])
    return HazardCourse(
        course.h30, edges, slopes, course.load, 0.0, course.disease, course.late_table
    )


def _hazard_course(
    effect: Effect | None,
    h30: np.ndarray,
    il6_pg_ml: np.ndarray,
    horizon_days: float,
    blockade_profile: BlockadeProfile | None,
    late: np.ndarray | float,
    tables: _Tables,
) -> HazardCourse:
    everything = np.array([0.0, MODEL_HORIZON_DAYS])
    timing = (tables.disease, tables.late)
    if effect is None:
        return HazardCourse(h30, everything, np.zeros(1), 1.0, 0.0, *timing)
    if isinstance(effect, HazardRatio):
        return HazardCourse(h30, everything, np.array([np.log(effect.value)]), 1.0, 0.0, *timing)
    if isinstance(effect, RiskRatio | OddsRatio):
        h_control = cumulative_hazard(h30, horizon_days, late, *timing)
        p_control = risk_by(h_control)
        value = effect.value
        if isinstance(effect, RiskRatio):
            p_arm = np.minimum(value * p_control, _MAX_RISK)
        else:
            # odds OR * p/(1-p), written so that p = 1 (a certain death) stays finite
            p_arm = np.minimum(value * p_control / (1.0 - p_control + value * p_control), _MAX_RISK)
        multiplier = -np.log1p(-p_arm) / h_control  # the same on every piece, late ones too
        return HazardCourse(h30, everything, np.ones(1), np.log(multiplier), 0.0, *timing)
    excess = il6_excess(il6_pg_ml, tables.treatment or TREATMENT, tables.disease)
    if isinstance(effect, Il6Mediated):
        delay = min(effect.delay_hours / 24.0, MODEL_HORIZON_DAYS)
        edges = np.array([0.0, delay, MODEL_HORIZON_DAYS])
        return HazardCourse(h30, edges, np.array([0.0, -effect.blockade]), excess, 0.0, *timing)
    if blockade_profile is None:
        blockade_profile = regimen_profile(effect, tables.pkpd)
    edges = np.asarray(blockade_profile.edges_days, dtype=float)
    occupancy = np.asarray(blockade_profile.blockade, dtype=float)
    return HazardCourse(h30, edges, -effect.blockade * occupancy, excess, 0.0, *timing)


def regimen_profile(effect: Pkpd, table: ParameterTable = PKPD) -> BlockadeProfile:
    """The IL-6 signalling blockade over time of a `pkpd` effect's dosing regimen (cached),
    with the PK/PD parameters of `table`."""
    e = effect
    if e.drug == "tocilizumab":
        return _tocilizumab(e.dose_mg_per_kg, e.delay_hours, e.doses, e.dose_interval_hours, table)
    return _anakinra(e.dose_mg, e.doses_per_day, e.days, e.delay_hours, table)


# keyed by the table's identity: tables with overridden values are made once per set of
# overrides (`cstrial.model_parameters`), so a changed value never meets a stale profile
@lru_cache(maxsize=32)
def _tocilizumab(
    dose: float, delay: float, doses: int, interval: float, table: ParameterTable
) -> BlockadeProfile:
    return tocilizumab_profile(
        dose,
        delay_hours=delay,
        horizon_days=MODEL_HORIZON_DAYS,
        doses=doses,
        dose_interval_hours=interval,
        table=table,
    )


@lru_cache(maxsize=32)
def _anakinra(
    dose: float | None, per_day: int, days: int, delay: float, table: ParameterTable
) -> BlockadeProfile:
    return anakinra_profile(
        dose_mg=100.0 if dose is None else dose,
        doses_per_day=per_day,
        days=days,
        delay_hours=delay,
        horizon_days=MODEL_HORIZON_DAYS,
        table=table,
    )


def il6_excess(
    il6_pg_ml: np.ndarray,
    treatment: ParameterTable | None = None,
    disease: ParameterTable = DISEASE,
) -> np.ndarray:
    """Each patient's IL-6-attributable excess log hazard (0 at or below the floor), with the
    floor of `treatment` (default `TREATMENT`) and IL-6's strength (beta_il6) of `disease`."""
    treatment = TREATMENT if treatment is None else treatment
    floor = il6_log_hazard(np.asarray(treatment["il6_blockade_floor"], dtype=float), disease)
    return np.maximum(il6_log_hazard(il6_pg_ml, disease) - floor, 0.0)
