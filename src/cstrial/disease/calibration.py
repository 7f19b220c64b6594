"""Root-finding that ties the disease model's baseline to published mortality.

Two uses: (1) the calibrated parameters of `DISEASE` and `LATE` (tagged
"[derived] calibrated") were found with `fit_disease` on a large sample of the
default population (`python -m cstrial.disease.calibration` prints them; tests
re-run the fits so a drift fails CI); (2) a protocol's `control_mortality_30d`
shifts the baseline so the mean control-arm risk of the *enrolled* population
equals it (`baseline_shift`).

The fits, in order, repeated until stable (each changes what the others see):

- stage intercepts: AMI-CS 30-day mortality C 0.27 / D 0.50 / E 0.75;
- beta_arrest and beta_comatose: AMI-CS 30-day mortality 0.82 times lower after
  cardiac arrest than without, and coma causing 57% of deaths after arrest
  (RETROSHOCK);
- beta_crp: hazard ratio 1.08 per +50 mg/L CRP, adjusted (Dettling 2023);
- beta_etiology_hf: odds ratio of 30-day death 0.55, HF-CS vs AMI-CS (calibration.md
  target 7);
- the two phenotype coefficients: AMI-CS mortality by phenotype closest (least
  squares) to CSWG-MI 21 / 45 / 55% (Zweck 2021);
- late_acute_reference (a centring constant) and late_log_h_reference: AMI-CS
  mortality rising by 8 pp from day 30 to 365.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from cstrial.disease.model import (
    arrest_log_hazard,
    cumulative_hazard,
    late_log_ratio,
    linear_predictor,
    risk_by,
    timing_fraction,
)
from cstrial.disease.parameters import DISEASE, LATE, STAGE_TARGETS_AMI_30D
from cstrial.errors import ConvergenceError
from cstrial.parameters import ParameterTable
from cstrial.population.sample import Patients

CALIBRATION_SEED = 12_345
CALIBRATION_SAMPLE = 2_000_000

# What the fits aim at (sources in the parameters' records and in cstrial.disease.targets).
ARREST_RATIO_AMI_30D = 0.82  # RETROSHOCK 47% vs 57%
NEUROLOGICAL_SHARE_AFTER_ARREST = 0.57  # RETROSHOCK
CRP_HAZARD_RATIO_PER_50 = 1.08  # Dettling 2023
LATE_INCREMENT_AMI = 0.08  # 30 to 365 days, trial control arms
ODDS_RATIO_HF_VS_AMI = 0.55  # calibration.md target 7 (0.4-0.7)
PHENOTYPE_MORTALITY_AMI = (0.21, 0.45, 0.55)  # CSWG-MI, Zweck 2021


def baseline_shift(
    eta: np.ndarray,
    target_risk: float,
    horizon_days: float = 30.0,
    weights: np.ndarray | None = None,
) -> float:
    """The shift delta of every eta so that the mean risk by the horizon (<= 30 days), weighted
    by `weights` if given, equals `target_risk`."""
    from scipy.optimize import brentq  # here: workers never recalibrate

    if horizon_days > 30.0:
        raise ValueError(f"baseline_shift calibrates risks to day 30 at most, found {horizon_days}")
    g = float(timing_fraction(horizon_days))

    def excess(delta: float) -> float:
        return float(np.average(risk_by(np.exp(eta + delta) * g), weights=weights)) - target_risk

    try:
        return brentq(excess, -30.0, 30.0, xtol=1e-12)
    except ValueError as exc:  # no sign change: the target is unreachable
        raise ConvergenceError(
            f"cannot recalibrate the baseline to a mortality of {target_risk}"
        ) from exc


def stage_intercepts(
    patients: Patients, targets: dict[str, float], table: ParameterTable = DISEASE
) -> dict[str, float]:
    """Stage intercepts so that mean 30-day mortality within each stage equals its target."""
    eta = linear_predictor(patients, table)
    stage_codes = {"C": 0, "D": 1, "E": 2}
    current = np.array([table["log_h30_scai_c"], table["log_h30_scai_d"], table["log_h30_scai_e"]])
    out = {}
    for stage, target in targets.items():
        code = stage_codes[stage]
        in_stage = patients["scai_stage"] == code
        shift = baseline_shift(eta[in_stage], target)
        out[stage] = float(current[code] + shift)
    return out


def with_values(table: ParameterTable, **values: float) -> ParameterTable:
    """A copy of `table` with some values replaced (their ranges dropped: for fitting)."""
    rows = [
        dataclasses.replace(row, value=values[row.name], low=None, high=None, range_source="")
        if row.name in values
        else row
        for row in table.rows
    ]
    unknown = set(values) - {row.name for row in table.rows}
    if unknown:
        raise KeyError(f"not in {table.title}: {sorted(unknown)}")
    return ParameterTable(table.title, rows)


def fit_disease(patients: Patients, rounds: int = 4) -> tuple[ParameterTable, ParameterTable]:
    """The calibrated DISEASE and LATE tables, fitted on `patients` (AMI-CS rows are used)."""
    from scipy.optimize import brentq, fsolve, least_squares  # here: a maintenance computation

    ami = {k: v[patients["etiology"] == 0] for k, v in patients.items()}
    disease, late = DISEASE, LATE

    def refit_stages(table: ParameterTable) -> ParameterTable:
        fitted = stage_intercepts(ami, STAGE_TARGETS_AMI_30D, table)
        return with_values(
            table,
            log_h30_scai_c=fitted["C"],
            log_h30_scai_d=fitted["D"],
            log_h30_scai_e=fitted["E"],
        )

    def arrest_gaps(betas: np.ndarray) -> np.ndarray:
        table = refit_stages(
            with_values(disease, beta_arrest=float(betas[0]), beta_comatose=float(betas[1]))
        )
        risk = risk_by(np.exp(linear_predictor(ami, table)))
        arrest, coma = ami["cardiac_arrest"], ami["comatose_after_arrest"]
        ratio = risk[arrest].mean() / risk[~arrest].mean()
        neurological = (risk * coma)[arrest].sum() * -np.expm1(-betas[1]) / risk[arrest].sum()
        return np.array(
            [
                np.log(ratio / ARREST_RATIO_AMI_30D),
                neurological - NEUROLOGICAL_SHARE_AFTER_ARREST,
            ]
        )

    def crp_gap(beta: float) -> float:
        from cstrial.disease.targets import DETTLING_ADJUSTMENT, _covariates, cox_estimand

        table = refit_stages(with_values(disease, beta_crp=beta))
        x = _covariates(patients, ("crp_per_50", *DETTLING_ADJUSTMENT))
        h30 = np.exp(linear_predictor(patients, table))
        return float(cox_estimand(h30, x)[0]) - np.log(CRP_HAZARD_RATIO_PER_50)

    def hf_gap(beta: float) -> float:
        table = refit_stages(with_values(disease, beta_etiology_hf=beta))
        risk = risk_by(np.exp(linear_predictor(patients, table)))
        hf = risk[patients["etiology"] == 1].mean()
        ami_risk = risk[patients["etiology"] == 0].mean()
        return float(np.log(hf / (1 - hf) * (1 - ami_risk) / ami_risk / ODDS_RATIO_HF_VS_AMI))

    def phenotype_gaps(betas: np.ndarray) -> np.ndarray:
        table = refit_stages(
            with_values(
                disease,
                beta_phenotype_cardiorenal=float(betas[0]),
                beta_phenotype_cardiometabolic=float(betas[1]),
            )
        )
        risk = risk_by(np.exp(linear_predictor(ami, table)))
        return np.array(
            [
                risk[ami["phenotype"] == code].mean() - target
                for code, target in enumerate(PHENOTYPE_MORTALITY_AMI)
            ]
        )

    for _ in range(rounds):
        disease = refit_stages(disease)
        betas = fsolve(arrest_gaps, [disease["beta_arrest"], disease["beta_comatose"]], xtol=1e-8)
        disease = refit_stages(
            with_values(disease, beta_arrest=float(betas[0]), beta_comatose=float(betas[1]))
        )
        beta_crp = brentq(crp_gap, 0.0, 1.0, xtol=1e-8)
        disease = refit_stages(with_values(disease, beta_crp=beta_crp))
        beta_hf = brentq(hf_gap, -2.0, 1.0, xtol=1e-8)
        disease = refit_stages(with_values(disease, beta_etiology_hf=beta_hf))
        fit = least_squares(
            phenotype_gaps,
            [disease["beta_phenotype_cardiorenal"], disease["beta_phenotype_cardiometabolic"]],
            xtol=1e-10,
        )
        disease = refit_stages(
            with_values(
                disease,
                beta_phenotype_cardiorenal=float(fit.x[0]),
                beta_phenotype_cardiometabolic=float(fit.x[1]),
            )
        )

    eta = linear_predictor(ami, disease)
    acute = eta - arrest_log_hazard(ami, disease)
    late = with_values(late, late_acute_reference=float(acute.mean()))

    def late_gap(alpha: float) -> float:
        table = with_values(late, late_log_h_reference=alpha)
        h30 = np.exp(eta)
        lam = late_log_ratio(ami, eta, table, disease)
        increment = risk_by(cumulative_hazard_with(h30, lam, table)) - risk_by(h30)
        return float(increment.mean()) - LATE_INCREMENT_AMI

    alpha = brentq(late_gap, -8.0, 2.0, xtol=1e-10)
    late = with_values(late, late_log_h_reference=alpha)
    return disease, late


def cumulative_hazard_with(h30: np.ndarray, late: np.ndarray, table: ParameterTable) -> np.ndarray:
    """H(365) with the late hazard ratio of `table` (timing_fraction reads the module's LATE)."""
    if table["late_hazard_ratio_after_180"] != LATE["late_hazard_ratio_after_180"]:
        raise ValueError("fit the late intercept with the shipped late_hazard_ratio_after_180")
    return cumulative_hazard(h30, 365.0, late)


def main() -> None:  # pragma: no cover - a maintenance command
    from cstrial.population import sample_population

    patients = sample_population(np.random.default_rng(CALIBRATION_SEED), CALIBRATION_SAMPLE)
    disease, late = fit_disease(patients)
    names = (
        "log_h30_scai_c",
        "log_h30_scai_d",
        "log_h30_scai_e",
        "beta_arrest",
        "beta_comatose",
        "beta_crp",
        "beta_etiology_hf",
        "beta_phenotype_cardiorenal",
        "beta_phenotype_cardiometabolic",
    )
    for name in names:
        print(f"{name} = {disease[name]:.4f}")
    for name in ("late_acute_reference", "late_log_h_reference"):
        print(f"{name} = {late[name]:.4f}")


if __name__ == "__main__":  # pragma: no cover
    main()
