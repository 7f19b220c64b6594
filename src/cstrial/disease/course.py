"""Organ support and hospital stay: the events hierarchical and days-out-of-hospital endpoints need.

Renal replacement therapy (RRT) and escalation of mechanical circulatory support
(MCS) are competing with death: each has a proportional cumulative hazard
exp(eta_event) * F(t) / F(30) with F an exponential CDF (most start in the first
days), and happens only if it comes before death and by day 30. Survivors' days on
vasopressors, ICU stay and ward stay are log-normal. Treatment reaches these events
through the arm's 30-day hazard ratio of death for each patient: an assumption that
organ failure shares the pathway (IL-6 tracks organ failure: Geppert 2002).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cstrial.disease.model import linear_predictor
from cstrial.parameters import Parameter, ParameterTable
from cstrial.population.sample import Patients

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
    return Course(
        rrt_day=rrt,
        mcs_escalation_day=mcs,
        vasopressor_days=np.minimum(vasopressor, death_day),
        icu_discharge_day=np.where(icu < death_day, icu, np.inf),
        hospital_discharge_day=np.where(hospital < death_day, hospital, np.inf),
    )


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
