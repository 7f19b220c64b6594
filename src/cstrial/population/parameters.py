"""The default calibrated cardiogenic-shock population: marginals and dependence.

Sources are rows of `../shared/calibration.md` ("Suggested default calibration"
and the second pass). The population is "all-comer, European, AMI-dominant" CS
at SCAI stages C-E, as in the CS trials the simulator is designed for.
"""

from __future__ import annotations

import numpy as np

from cstrial.parameters import Parameter, ParameterTable

_CAL = "calibration.md"

POPULATION = ParameterTable(
    "Virtual cardiogenic-shock population (model: default)",
    [
        # Etiology
        Parameter(
            "p_etiology_ami",
            0.60,
            "proportion",
            f"Shock-CAT AMI-CS 60.7% (Garcia-Garcia 2024); Hamburg 48% (Dettling 2023); {_CAL} §1",
        ),
        Parameter(
            "p_etiology_hf",
            0.25,
            "proportion",
            "[derived] non-AMI split 62% HF / 38% other, between Shock-CAT (HF 36% of non-AMI) "
            "and CSWG (HF 50%, MI 35%: 77% of non-MI; Thayer 2020)",
        ),
        # Age by etiology (normal, truncated to 18-95)
        Parameter("age_mean_ami", 68.0, "years", f"DanGer Shock median 68 (60-76); {_CAL} default"),
        Parameter("age_sd_ami", 12.0, "years", f"{_CAL} default (AMI ~ N(68, 12))"),
        Parameter("age_mean_hf", 59.0, "years", "HF-CS 58.5 vs AMI-CS 65.6 y (PMID 35510546)"),
        Parameter("age_sd_hf", 14.0, "years", f"{_CAL} default (HF ~ N(59, 14))"),
        Parameter(
            "age_mean_other",
            63.0,
            "years",
            "[assumption] between AMI and HF; Shock-CAT all-cause mean 65.3",
        ),
        Parameter("age_sd_other", 14.0, "years", "[assumption] as HF"),
        Parameter("age_min", 18.0, "years", "adult CS"),
        Parameter("age_max", 95.0, "years", "[assumption] upper truncation"),
        # Sex
        Parameter(
            "p_male",
            0.72,
            "proportion",
            "Hamburg 71.3%, Shock-CAT 75.1%, FRENSHOCK 69.7% (calibration.md §1)",
        ),
        # SCAI stage among C-E (thresholds on the latent severity)
        Parameter(
            "p_scai_c",
            0.45,
            "proportion",
            "second-pass update: C 0.45 / D 0.40 / E 0.15 (Altshock-2 C-E 60/28/12; FRENSHOCK C 37, D 51)",
        ),
        Parameter("p_scai_d", 0.40, "proportion", "as p_scai_c"),
        # Cardiac arrest and coma
        Parameter(
            "p_arrest_ami",
            0.40,
            "proportion",
            "calibration.md default; AMI-CS 35.2% (PMID 35510546), IABP-SHOCK II ~45-55% [background]",
        ),
        Parameter("p_arrest_hf", 0.15, "proportion", "HF-CS 15.9% (PMID 35510546)"),
        Parameter(
            "p_arrest_other", 0.25, "proportion", "[assumption] arrhythmic causes in 'other'"
        ),
        Parameter(
            "arrest_severity_loading",
            0.35,
            "correlation",
            "[assumption] arrest more frequent at higher stage (aOR 3.99 for arrest, Jentzer 2019)",
        ),
        Parameter(
            "p_comatose_given_arrest",
            0.50,
            "proportion",
            "[assumption] RETROSHOCK: neurological death in 57% of OHCA deaths; DanGer excluded coma",
        ),
        # Mechanical circulatory support at baseline
        Parameter("p_mcs_ami", 0.431, "proportion", "Shock-CAT MCS use AMI-CS 43.1%"),
        Parameter("p_mcs_non_ami", 0.167, "proportion", "Shock-CAT MCS use non-AMI-CS 16.7%"),
        Parameter("mcs_severity_loading", 0.30, "correlation", "[assumption] MCS more at D/E"),
        # Log-normal biomarkers: median and SD of the log
        Parameter("lactate_median", 4.6, "mmol/L", "Hamburg median 4.6 (2.2-9.5); DanGer 4.6"),
        Parameter(
            "lactate_sd_log",
            0.80,
            "ln units",
            "calibration.md default, between registry 1.08 and trial 0.56 spreads [derived]",
        ),
        Parameter(
            "il6_median",
            120.0,
            "pg/mL",
            "[assumption] calibration.md: ln IL-6 ~ N(ln 120, 1.3); Geppert cohort median ~200 at "
            "61% mortality [derived]; Debrunner peak 109 (no SIRS) / 253 (SIRS)",
        ),
        Parameter("il6_sd_log", 1.30, "ln units", "[assumption] calibration.md default"),
        Parameter("crp_median", 17.0, "mg/L", "Hamburg admission CRP median 17 (5-71)"),
        Parameter("crp_sd_log", 1.967, "ln units", "[derived] Hamburg IQR 5-71: ln(71/5)/1.349"),
        Parameter(
            "creatinine_median",
            1.12,
            "mg/dL",
            "CardShock median 1.12 (0.87-1.54) (Tarvasmaki 2018)",
        ),
        Parameter("creatinine_sd_log", 0.42, "ln units", "[derived] CardShock IQR"),
        Parameter(
            "lvef_mean", 30.0, "%", "[assumption] calibration.md: N(30, 10); DanGer 20 (10-30)"
        ),
        Parameter("lvef_sd", 10.0, "%", "[assumption] calibration.md"),
        Parameter("lvef_min", 10.0, "%", "calibration.md truncation"),
        Parameter("lvef_max", 60.0, "%", "calibration.md truncation"),
        # Phenotypes (Zweck 2021): assigned from the latent lactate and creatinine coordinates
        Parameter(
            "p_phenotype_cardiometabolic",
            0.30,
            "proportion",
            "[assumption] cluster prevalence not retrieved (calibration.md §4); cardiometabolic = "
            "the highest-lactate (hypoperfusion, metabolic derangement) share",
        ),
        Parameter(
            "p_phenotype_cardiorenal",
            0.30,
            "proportion",
            "[assumption] prevalence not retrieved; cardiorenal = worst renal function among the rest",
        ),
        # Gaussian-copula correlations (latent normal scale)
        Parameter(
            "rho_severity_lactate",
            0.45,
            "correlation",
            "[assumption] stage shifts of ln lactate C -0.4 / E +0.5 (calibration.md) imply ~0.45",
        ),
        Parameter(
            "rho_severity_il6",
            0.45,
            "correlation",
            "[assumption] calibration.md: Spearman ~0.45 of ln IL-6 with SCAI stage; IL-6-SOFA "
            "r=0.57. A latent correlation of 0.45 gives Spearman 0.39 with the 3-level stage",
        ),
        Parameter(
            "rho_lactate_il6",
            0.35,
            "correlation",
            "[assumption] IL-6 > median associated with hypoperfusion (Kataja 2021)",
        ),
        Parameter("rho_il6_crp", 0.35, "correlation", "[assumption] IL-6 drives hepatic CRP"),
        Parameter(
            "rho_severity_crp",
            0.0,
            "correlation",
            "CRP equally distributed across SCAI B-E (Dettling 2023)",
        ),
        Parameter(
            "rho_severity_creatinine",
            0.25,
            "correlation",
            "[assumption] creatinine > 1.5 mg/dL marks risk (Poss 2017); IL-6 higher with ARF (Geppert)",
        ),
        Parameter("rho_lactate_creatinine", 0.25, "correlation", "[assumption] hypoperfusion"),
        Parameter(
            "rho_il6_creatinine", 0.20, "correlation", "[assumption] IL-6 higher with ARF (Geppert)"
        ),
        Parameter(
            "rho_severity_lvef", -0.20, "correlation", "[assumption] lower LVEF, worse shock"
        ),
    ],
)

# Order of the latent Gaussian-copula coordinates.
LATENT = ("severity", "lactate", "il6", "crp", "creatinine", "lvef")


def latent_correlation(table: ParameterTable = POPULATION) -> np.ndarray:
    """The copula's correlation matrix over `LATENT` (unlisted pairs are 0)."""
    index = {name: i for i, name in enumerate(LATENT)}
    corr = np.eye(len(LATENT))
    for row in table.rows:
        if not row.name.startswith("rho_"):
            continue
        a, b = row.name[4:].split("_", 1)
        i, j = index[a], index[b]
        corr[i, j] = corr[j, i] = row.value
    return corr
