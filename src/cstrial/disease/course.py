"""Organ support and hospital stay: the events hierarchical and days-out-of-hospital endpoints need.

Renal replacement therapy (RRT), escalation of mechanical circulatory support
(MCS) and invasive mechanical ventilation are competing with death: each has a
proportional cumulative hazard exp(eta_event) * F(t) / F(30) with F an exponential
CDF (most start in the first days), and happens only if it comes before death and by
day 30. Survivors' days on vasopressors, ICU stay and ward stay are log-normal.
Treatment reaches these events through the arm's 30-day hazard ratio of death for
each patient: an assumption that organ failure shares the pathway (IL-6 tracks organ
failure: Geppert 2002).

Organ-support intervals (for organ-support-free days): vasopressors/inotropes run
from day 0 for `vasopressor_days`; MCS from day 0 if in place at randomisation
(`mcs_at_baseline`), else from its escalation, for a log-normal duration (to the
later of the two ends when a device in place is escalated); ventilation and RRT from
their start for a log-normal duration. Every support ends at death; MCS and
ventilation, which need the ICU, end by ICU discharge. Durations do not depend on the
arm [assumption]: treatment reaches them through death and the events' incidence.

Random streams: ventilation and every support's duration were added after the other
draws, and come from a stream of their own (a child spawned from the caller's
generator, which does not advance it), so the earlier draws, and every seeded output
that does not use them, are unchanged.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from cstrial.disease.model import linear_predictor
from cstrial.parameters import Parameter, ParameterTable
from cstrial.population.sample import Patients
from cstrial.protocol.vocabulary import ORGAN_SUPPORTS

EVENT_DAYS = 30.0

COURSE = ParameterTable(
    "Disease course: organ support and hospital stay",
    [
        Parameter(
            "rrt_log_h30",
            -3.0854,
            "log cumulative hazard",
            "[derived] calibrated so 13% of AMI-CS patients start RRT by day 30 before death "
            "(Lauridsen 2015, Danish MI-CS AKI-RRT 13%; CULPRIT-SHOCK RRT 11.6-16.4%)",
            -4.6,
            -2.9,
            "[derived] incidences 0.03-0.16 (calibration.md: CULPRIT-SHOCK 11.6-16.4%, US acute haemodialysis 2.6-12% by CKD stage), log cumulative hazard shifted by ln(incidence / 0.13)",
        ),
        Parameter(
            "rrt_beta_death_risk",
            1.8,
            "per unit of eta",
            "[derived] RRT shares the patient's severity: 30-day mortality 68% with vs 40% without "
            "RRT (ratio 1.72), as Lauridsen 2015 (in-hospital 62% vs 36%, ratio 1.72; adjusted RR "
            "1.70)",
            1.0,
            3.0,
            "[assumption] around the value that reproduces Lauridsen's 62% vs 36% gradient",
        ),
        Parameter(
            "rrt_death_risk_reference", -0.7468, "eta", "mean eta of AMI-CS (centres the term)"
        ),
        Parameter(
            "rrt_beta_log_egfr",
            -0.9,
            "per ln(eGFR/60)",
            "[assumption] worse renal function, more RRT",
            -1.5,
            -0.3,
            "[assumption]",
        ),
        Parameter(
            "rrt_beta_log_lactate",
            0.4,
            "per ln(lactate/4.6)",
            "[assumption] hypoperfusion",
            0.0,
            0.8,
            "[assumption]",
        ),
        Parameter(
            "rrt_beta_cardiorenal",
            0.5,
            "log hazard ratio",
            "[assumption] cardiorenal phenotype (Zweck 2021); AKI by creatinine 31% in CardShock",
            0.0,
            1.0,
            "[assumption]",
        ),
        Parameter(
            "rrt_mean_onset_days",
            3.0,
            "days",
            "[assumption] AKI-RRT starts in the first days",
            1.0,
            5.0,
            "[assumption]",
        ),
        Parameter(
            "mcs_log_h30",
            -2.0820,
            "log cumulative hazard",
            "[derived] calibrated so 15% of AMI-CS patients escalate MCS by day 30 before death "
            "[assumption: calibration.md gives MCS use 0.15-0.45 by setting; escalation itself "
            "was not retrieved]",
            -3.2,
            -1.4,
            "[assumption] escalation in 5-30% of AMI-CS, log cumulative hazard shifted by ln(share / 0.15)",
        ),
        Parameter(
            "mcs_beta_stage_d",
            0.6,
            "log hazard ratio",
            "[assumption] escalation at worse stages",
            0.2,
            1.0,
            "[assumption]",
        ),
        Parameter(
            "mcs_beta_stage_e", 1.0, "log hazard ratio", "[assumption]", 0.5, 1.5, "[assumption]"
        ),
        Parameter(
            "mcs_beta_log_lactate",
            0.3,
            "per ln(lactate/4.6)",
            "[assumption]",
            0.0,
            0.6,
            "[assumption]",
        ),
        Parameter(
            "mcs_mean_onset_days",
            1.5,
            "days",
            "[assumption] escalation within the first days",
            0.5,
            3.0,
            "[assumption]",
        ),
        Parameter(
            "vasopressor_median_days",
            3.0,
            "days",
            "[assumption] not retrieved (IABP-SHOCK II reports no difference in catecholamine "
            "duration, without numbers)",
            2.0,
            5.0,
            "[assumption]",
        ),
        Parameter(
            "vasopressor_beta_per_stage",
            0.25,
            "ln days per stage",
            "[assumption]",
            0.0,
            0.5,
            "[assumption]",
        ),
        Parameter(
            "icu_after_vasopressor_median_days",
            3.0,
            "days",
            "[assumption] ICU LOS not retrieved (calibration.md Gap 5)",
            2.0,
            6.0,
            "[derived] median ICU stay 5 days (CULPRIT-SHOCK, DOREMI) to 9 days (ECLS-SHOCK) (J Am Heart Assoc 2024 review of CS trials, Table 2, PMC11009990), less about 3 days on vasopressors",
        ),
        Parameter(
            "ward_median_days",
            6.0,
            "days",
            "[assumption] hospital LOS not retrieved (calibration.md Gap 5)",
            4.0,
            10.0,
            "[assumption]",
        ),
        Parameter(
            "rrt_extra_days",
            5.0,
            "days",
            "[assumption] RRT prolongs the stay",
            2.0,
            10.0,
            "[assumption]",
        ),
        Parameter(
            "stay_sd_log",
            0.6,
            "ln units",
            "[assumption] spread of each log-normal stay",
            0.4,
            0.8,
            "[assumption]",
        ),
        # Invasive mechanical ventilation and the durations of each organ support: drawn
        # from a stream of their own (`simulate_course`), so that adding them moved no
        # earlier draw.
        Parameter(
            "ventilation_log_h30",
            -1.4317,
            "log cumulative hazard",
            "[derived] calibrated so 45% of AMI-CS patients are invasively ventilated by day 30 "
            "before death (US NIS AMI-CS 2000-14: invasive ventilation 43%, 39.2% in 2000 to "
            "46.4% in 2014; Vallabhajosyula, Ann Intensive Care 2019; calibration.md Gap 5)",
            -1.9606,
            1.2479,
            "[derived] shares 0.38-0.91: FRENSHOCK all-cause CS 37.9% (Volle, Clin Res Cardiol "
            "2025), Altshock-2 55.3%, Danish AMI-CS cohort with many arrests 84-91% "
            "(calibration.md); the log cumulative hazard that gives each share, holding the rest",
        ),
        Parameter(
            "ventilation_beta_death_risk",
            1.0,
            "per unit of eta",
            "[assumption] ventilation shares the patient's severity: 30-day mortality with vs "
            "without ventilation about 2-fold (US NIS: respiratory failure with ventilation aOR "
            "2.50 for death; FRENSHOCK: ventilation HR 1.41 for 30-day death)",
            0.5,
            1.5,
            "[assumption]",
        ),
        Parameter(
            "ventilation_beta_cardiac_arrest",
            1.0,
            "log hazard ratio",
            "[assumption] arrest before admission, more intubation (a third of intubations in "
            "CS are for ongoing arrest: safety-net CS cohort 2017-23, N=110, AHA abstract)",
            0.5,
            1.5,
            "[assumption]",
        ),
        Parameter(
            "ventilation_beta_comatose",
            4.0,
            "log hazard ratio",
            "[assumption] a comatose patient after arrest is intubated to protect the airway "
            "(about 98% of them are ventilated)",
            3.0,
            6.0,
            "[assumption]",
        ),
        Parameter(
            "ventilation_mean_onset_days",
            0.3,
            "days",
            "[assumption] most intubations in CS happen at admission (arrest, respiratory "
            "failure), before or at randomisation",
            0.1,
            1.0,
            "[assumption]",
        ),
        Parameter(
            "ventilation_median_days",
            6.8,
            "days",
            "[derived] calibrated so ventilated AMI-CS patients alive at day 30 are ventilated "
            "a median 4.8 days once ICU discharge ends ventilation (safety-net CS cohort "
            "2017-23, N=110 ventilated: extubation after a median 4.8 days, IQR 2.1-8.0; AHA "
            "abstract, discovery.researcher.life topic 7391367)",
            4.8,
            9.0,
            "[assumption] from the published median itself to a realised median of about 6 days",
        ),
        Parameter(
            "ventilation_sd_log",
            0.99,
            "ln units",
            "[derived] (ln 8.0 - ln 2.1) / 1.349 from the same IQR",
            0.7,
            1.2,
            "[assumption]",
        ),
        Parameter(
            "rrt_median_days",
            5.0,
            "days",
            "[assumption] duration of RRT for AKI not retrieved; 11% of survivors with "
            "AKI-RRT were on chronic dialysis at 5 years (Lauridsen 2015), so most stop",
            3.0,
            10.0,
            "[assumption]",
        ),
        Parameter(
            "mcs_median_days",
            3.0,
            "days",
            "IABP-SHOCK II: median IABP duration 3 days (calibration.md Gap 5); the same for "
            "escalated support [assumption]",
            2.0,
            5.0,
            "[assumption]",
        ),
        Parameter(
            "support_sd_log",
            0.6,
            "ln units",
            "[assumption] spread of the log-normal RRT and MCS durations",
            0.4,
            0.9,
            "[assumption]",
        ),
    ],
)


@dataclass(frozen=True)
class Course:
    """Per-patient organ support and stay (days from randomisation; inf if it never happens)."""

    rrt_day: np.ndarray
    mcs_escalation_day: np.ndarray
    vasopressor_days: np.ndarray
    icu_discharge_day: np.ndarray
    hospital_discharge_day: np.ndarray
    # organ-support intervals [start, end) (inf start: never); see the module docstring
    rrt_end_day: np.ndarray
    mcs_start_day: np.ndarray
    mcs_end_day: np.ndarray
    ventilation_day: np.ndarray
    ventilation_end_day: np.ndarray

    def support_intervals(
        self, supports: Iterable[str] = ORGAN_SUPPORTS
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """(start, end) day arrays of each organ support named (`ORGAN_SUPPORTS`)."""
        intervals = {
            "vasopressors": (np.zeros_like(self.vasopressor_days), self.vasopressor_days),
            "mechanical_ventilation": (self.ventilation_day, self.ventilation_end_day),
            "mcs": (self.mcs_start_day, self.mcs_end_day),
            "renal_replacement": (self.rrt_day, self.rrt_end_day),
        }
        return [intervals[name] for name in supports]

    def reshaped(self, shape: tuple[int, ...]) -> Course:
        """The same days as arrays of `shape` (e.g. (replicates, patients))."""
        return Course(**{k: v.reshape(shape) for k, v in self.__dict__.items()})

    def rows(self, rows: slice | np.ndarray) -> Course:
        """Replicates `rows` of (replicates, patients) arrays (views)."""
        return Course(**{k: v[rows] for k, v in self.__dict__.items()})


def simulate_course(
    rng: np.random.Generator,
    patients: Patients,
    death_day: np.ndarray,
    hazard_ratio_30d: np.ndarray | float = 1.0,
    table: ParameterTable = COURSE,
    death_eta: np.ndarray | None = None,
) -> Course:
    """Draw each patient's organ support and stay given their day of death (inf if alive)."""
    n = death_day.shape[0]
    rrt = _competing_event(
        rng.standard_exponential(n),
        rrt_log_h30(patients, table, death_eta),
        hazard_ratio_30d,
        table["rrt_mean_onset_days"],
        death_day,
    )
    mcs = _competing_event(
        rng.standard_exponential(n),
        mcs_log_h30(patients, table),
        hazard_ratio_30d,
        table["mcs_mean_onset_days"],
        death_day,
    )
    sd = table["stay_sd_log"]
    stay = rng.standard_normal((3, n))
    vasopressor = table["vasopressor_median_days"] * np.exp(
        table["vasopressor_beta_per_stage"] * patients["scai_stage"] + sd * stay[0]
    )
    icu = vasopressor + table["icu_after_vasopressor_median_days"] * np.exp(sd * stay[1])
    ward = table["ward_median_days"] * np.exp(sd * stay[2])
    hospital = icu + ward + np.where(np.isfinite(rrt), table["rrt_extra_days"], 0.0)
    # the dead leave neither the ICU nor the hospital alive
    icu_discharge = np.where(icu < death_day, icu, np.inf)
    supports = _organ_support(
        rng.spawn(1)[0], patients, death_day, hazard_ratio_30d, table, death_eta, icu_discharge
    )
    return Course(
        rrt_day=rrt,
        mcs_escalation_day=mcs,
        vasopressor_days=np.minimum(vasopressor, death_day),
        icu_discharge_day=icu_discharge,
        hospital_discharge_day=np.where(hospital < death_day, hospital, np.inf),
        **supports.finish(rrt, mcs),
    )


@dataclass(frozen=True)
class _Supports:
    """Ventilation and the durations of RRT and MCS, before they are joined to the events."""

    ventilation_day: np.ndarray
    ventilation_end_day: np.ndarray
    rrt_days: np.ndarray
    mcs_days: np.ndarray  # of a device (in place at randomisation, or from escalation)
    baseline_mcs_end_day: np.ndarray  # inf: no device at randomisation
    death_day: np.ndarray
    icu_discharge_day: np.ndarray

    def finish(self, rrt: np.ndarray, mcs: np.ndarray) -> dict[str, np.ndarray]:
        """The Course's support-interval fields given the RRT and MCS escalation days."""
        death, icu = self.death_day, self.icu_discharge_day
        on_baseline = np.isfinite(self.baseline_mcs_end_day)
        mcs_start = np.where(on_baseline, 0.0, mcs)
        # an escalated device in place runs on to the later end [assumption]
        escalation_end = np.where(np.isfinite(mcs), mcs + self.mcs_days, 0.0)
        baseline_end = np.where(on_baseline, self.baseline_mcs_end_day, 0.0)
        # MCS needs the ICU; an escalation after ICU discharge (a return to the ICU,
        # which the stays do not model) is not cut short by it
        icu_end = np.where(mcs_start < icu, icu, np.inf)
        mcs_end = np.where(
            np.isfinite(mcs_start),
            np.minimum(np.maximum(baseline_end, escalation_end), np.minimum(death, icu_end)),
            np.inf,
        )
        return {
            "rrt_end_day": np.where(
                np.isfinite(rrt), np.minimum(rrt + self.rrt_days, death), np.inf
            ),
            "mcs_start_day": mcs_start,
            "mcs_end_day": mcs_end,
            "ventilation_day": self.ventilation_day,
            "ventilation_end_day": self.ventilation_end_day,
        }


def _organ_support(
    rng: np.random.Generator,
    patients: Patients,
    death_day: np.ndarray,
    hazard_ratio_30d: np.ndarray | float,
    table: ParameterTable,
    death_eta: np.ndarray | None,
    icu_discharge_day: np.ndarray,
) -> _Supports:
    """Ventilation (start and end) and the RRT and MCS durations, from `rng` alone."""
    n = death_day.shape[0]
    start = _competing_event(
        rng.standard_exponential(n),
        ventilation_log_h30(patients, table, death_eta),
        hazard_ratio_30d,
        table["ventilation_mean_onset_days"],
        death_day,
    )
    # ventilation needs the ICU: one that would start after ICU discharge does not happen
    start = np.where(start < icu_discharge_day, start, np.inf)
    spread = rng.standard_normal((3, n))
    ventilated = table["ventilation_median_days"] * np.exp(table["ventilation_sd_log"] * spread[0])
    end = np.minimum(start + ventilated, np.minimum(death_day, icu_discharge_day))
    sd = table["support_sd_log"]
    mcs_days = table["mcs_median_days"] * np.exp(sd * spread[2])
    baseline_end = np.where(patients["mcs_at_baseline"].astype(bool), mcs_days, np.inf)
    return _Supports(
        ventilation_day=start,
        ventilation_end_day=np.where(np.isfinite(start), end, np.inf),
        rrt_days=table["rrt_median_days"] * np.exp(sd * spread[1]),
        mcs_days=mcs_days,
        baseline_mcs_end_day=baseline_end,
        death_day=death_day,
        icu_discharge_day=icu_discharge_day,
    )


def ventilation_log_h30(
    patients: Patients, table: ParameterTable = COURSE, death_eta: np.ndarray | None = None
) -> np.ndarray:
    """Log 30-day cumulative hazard of invasive mechanical ventilation."""
    if death_eta is None:
        death_eta = linear_predictor(patients)
    return (
        table["ventilation_log_h30"]
        + table["ventilation_beta_death_risk"] * (death_eta - table["rrt_death_risk_reference"])
        + table["ventilation_beta_cardiac_arrest"] * patients["cardiac_arrest"]
        + table["ventilation_beta_comatose"] * patients["comatose_after_arrest"]
    )


def organ_support_free_days(
    death_day: np.ndarray,
    intervals: list[tuple[np.ndarray, np.ndarray]],
    horizon_days: int = 21,
) -> np.ndarray:
    """Days alive and free of organ support to the horizon; -1 for death by the horizon.

    Day d (d = 1, ..., horizon) is the interval (d - 1, d] from randomisation; it is a
    day on support when any support interval [start, end) overlaps it (a support that
    runs at any time in the day counts the whole day, as a daily case report form
    records it). A survivor's score is the number of days on no support, 0 to horizon.
    The REMAP-CAP definition and the differences are in docs/model.md.
    """
    horizon = int(horizon_days)
    free = np.zeros(death_day.shape, dtype=np.int16)
    for day in range(1, horizon + 1):
        on = np.zeros(death_day.shape, dtype=bool)
        for start, end in intervals:
            on |= (start < day) & (end > day - 1) & (end > start)
        free += ~on
    return np.where(death_day <= horizon, -1, free).astype(np.int16)


def rrt_log_h30(
    patients: Patients, table: ParameterTable = COURSE, death_eta: np.ndarray | None = None
) -> np.ndarray:
    """Log 30-day cumulative hazard of starting renal replacement therapy."""
    if death_eta is None:
        death_eta = linear_predictor(patients)
    return (
        table["rrt_log_h30"]
        + table["rrt_beta_death_risk"] * (death_eta - table["rrt_death_risk_reference"])
        + table["rrt_beta_log_egfr"] * np.log(patients["egfr_ml_min"] / 60.0)
        + table["rrt_beta_log_lactate"] * np.log(patients["lactate_mmol_l"] / 4.6)
        + table["rrt_beta_cardiorenal"] * (patients["phenotype"] == 1)
    )


def mcs_log_h30(patients: Patients, table: ParameterTable = COURSE) -> np.ndarray:
    """Log 30-day cumulative hazard of escalating mechanical circulatory support."""
    stage = np.array([0.0, table["mcs_beta_stage_d"], table["mcs_beta_stage_e"]])
    return (
        table["mcs_log_h30"]
        + stage[patients["scai_stage"]]
        + table["mcs_beta_log_lactate"] * np.log(patients["lactate_mmol_l"] / 4.6)
    )


def days_alive_out_of_hospital(
    death_day: np.ndarray, hospital_discharge_day: np.ndarray, horizon_days: float = 30.0
) -> np.ndarray:
    """Days alive and out of hospital to the horizon; 0 for patients who die by then.

    The common convention for DAOH (Myles et al., BMJ Open 2017); readmissions are not modelled.
    """
    out = horizon_days - np.minimum(hospital_discharge_day, horizon_days)
    return np.where(death_day <= horizon_days, 0.0, out)


def _competing_event(
    exposure: np.ndarray | float,
    log_h30: np.ndarray,
    hazard_ratio: np.ndarray | float,
    mean_onset_days: float,
    death_day: np.ndarray,
) -> np.ndarray:
    """Day of an event with cumulative hazard H30 * F(t)/F(30), if before death and day 30."""
    h30 = np.exp(log_h30) * hazard_ratio
    f30 = -np.expm1(-EVENT_DAYS / mean_onset_days)
    share = exposure / h30  # the fraction of F(30) reached at the event
    with np.errstate(divide="ignore", invalid="ignore"):
        day = -mean_onset_days * np.log1p(-share * f30)
    happens = (share < 1.0) & (day < death_day)
    return np.where(happens, day, np.inf)
