"""The default calibrated cardiogenic-shock population: marginals, dependence and limits.

Sources are rows of `../shared/calibration.md` ("Suggested default calibration"
and the second pass) or the publications named in each row. The population is
"all-comer, European, AMI-dominant" CS at SCAI stages C-E, as in the CS trials
the simulator is designed for. Every uncertain parameter carries a plausible
range (`low`-`high`) and its source; physiological limits (`*_min`, `*_max`)
are definitions of what a value can be, not uncertain quantities, and carry none.
"""

from __future__ import annotations

import numpy as np

from cstrial.parameters import Parameter, ParameterTable

_CAL = "calibration.md"
_RHO = "[assumption] +-0.15 (+-0.2 where larger) around the value: no published latent correlation"

POPULATION = ParameterTable(
    "Virtual cardiogenic-shock population (model: default)",
    [
        # Etiology
        Parameter(
            "p_etiology_ami",
            0.60,
            "proportion",
            f"Shock-CAT AMI-CS 60.7% (Garcia-Garcia 2024); Hamburg 48% (Dettling 2023); {_CAL} §1",
            0.48,
            0.65,
            "European all-comer cohorts: Hamburg 48% (Dettling 2023) to Shock-CAT 60.7%; "
            "0.65 [assumption] for AMI-weighted centres. CSWG (US, 35%, Thayer 2020) is outside "
            "the population the model describes",
        ),
        Parameter(
            "p_etiology_hf",
            0.25,
            "proportion",
            "[derived] non-AMI split 62% HF / 38% other, between Shock-CAT (HF 36% of non-AMI) "
            "and CSWG (HF 50%, MI 35%: 77% of non-MI; Thayer 2020)",
            0.14,
            0.31,
            "[derived] HF share of non-AMI CS 36% (Shock-CAT) to 77% (CSWG), times the non-AMI "
            "share 0.40",
        ),
        # Age by etiology (normal, bounded to 18-95, see `bounded_latent`)
        Parameter(
            "age_mean_ami",
            68.0,
            "years",
            f"DanGer Shock median 68 (60-76); {_CAL} default",
            65.0,
            70.0,
            "AMI-CS mean 65.6 (PMID 35510546) to median 70 (Hamburg, Dettling 2023)",
        ),
        Parameter(
            "age_sd_ami",
            12.0,
            "years",
            f"{_CAL} default (AMI ~ N(68, 12))",
            10.0,
            14.0,
            "[derived] DanGer Shock IQR 60-76 gives 16/1.349 = 11.9; +-2 [assumption]",
        ),
        Parameter(
            "age_mean_hf",
            59.0,
            "years",
            "HF-CS 58.5 vs AMI-CS 65.6 y (PMID 35510546)",
            57.0,
            63.0,
            "HF-CS mean 58.5 (PMID 35510546) to non-ischaemic CS median 63 (Sundermeyer 2023, "
            "N=807)",
        ),
        Parameter(
            "age_sd_hf",
            14.0,
            "years",
            f"{_CAL} default (HF ~ N(59, 14))",
            12.0,
            16.0,
            "[derived] non-ischaemic CS IQR 51.5-72.0 (Sundermeyer 2023) gives 15.2; +-2 "
            "[assumption]",
        ),
        Parameter(
            "age_mean_other",
            63.0,
            "years",
            "[assumption] between AMI and HF; Shock-CAT all-cause mean 65.3",
            59.0,
            68.0,
            "[assumption] between the HF and AMI means",
        ),
        Parameter(
            "age_sd_other", 14.0, "years", "[assumption] as HF", 12.0, 16.0, "[assumption] as HF"
        ),
        Parameter("age_min", 18.0, "years", "adult CS (definition)"),
        Parameter(
            "age_max",
            95.0,
            "years",
            "[assumption] physiological limit of the virtual population; trials enrolling older "
            "patients are rare (ECLS-SHOCK excluded > 80 y, von Lewinski 2023)",
        ),
        # Sex
        Parameter(
            "p_male",
            0.72,
            "proportion",
            "Hamburg 71.3%, Shock-CAT 75.1%, FRENSHOCK 69.7% (calibration.md §1)",
            0.69,
            0.80,
            "FRENSHOCK 69.7% to DanGer Shock 79.2% (calibration.md §1)",
        ),
        # SCAI stage among C-E (thresholds on the latent severity)
        Parameter(
            "p_scai_c",
            0.45,
            "proportion",
            "second-pass update: C 0.45 / D 0.40 / E 0.15 (Altshock-2 C-E 60/28/12; FRENSHOCK C "
            "37, D 51)",
            0.37,
            0.77,
            "calibration.md sensitivity range: FRENSHOCK 37% to ACS-CS 77% (Belfioretti 2024); "
            "vary with p_scai_d so that E = 1 - C - D stays in 0.10-0.15",
        ),
        Parameter(
            "p_scai_d",
            0.40,
            "proportion",
            "as p_scai_c",
            0.11,
            0.51,
            "ACS-CS 11% (Belfioretti 2024) to FRENSHOCK 51%; vary with p_scai_c",
        ),
        # Cardiac arrest and coma
        Parameter(
            "p_arrest_ami",
            0.40,
            "proportion",
            "calibration.md default; AMI-CS 35.2% (PMID 35510546), RETROSHOCK OHCA 42% "
            "(Mieritz, RETROSHOCK)",
            0.35,
            0.58,
            "AMI-CS 35.2% (PMID 35510546) to Hamburg all-cause CS 58% (Dettling 2023); "
            "trial cohorts select (ECLS-SHOCK ~78% [background, unverified])",
        ),
        Parameter(
            "p_arrest_hf",
            0.15,
            "proportion",
            "HF-CS 15.9% (PMID 35510546)",
            0.10,
            0.25,
            "[assumption] around HF-CS 15.9%",
        ),
        Parameter(
            "p_arrest_other",
            0.25,
            "proportion",
            "[assumption] arrhythmic causes in 'other'",
            0.15,
            0.40,
            "[assumption]",
        ),
        Parameter(
            "arrest_severity_loading",
            0.35,
            "correlation",
            "[assumption] resuscitated patients present at higher stages and lactate (post-arrest "
            "hyperlactataemia; RETROSHOCK: lactate carries less risk after OHCA, Mieritz)",
            0.0,
            0.5,
            "[assumption]",
        ),
        Parameter(
            "p_comatose_given_arrest",
            0.60,
            "proportion",
            "[derived] DanGer Shock excluded comatose OHCA and enrolled 20.3% resuscitated "
            "patients; with 40% arrest in AMI-CS, 0.4 (1 - c) / (1 - 0.4 c) = 0.20 gives c = 0.62. "
            "RETROSHOCK: 96% of OHCA patients intubated before admission (Mieritz, RETROSHOCK)",
            0.40,
            0.80,
            "[assumption] around the derived 0.62",
        ),
        # Mechanical circulatory support at baseline
        Parameter(
            "p_mcs_ami",
            0.431,
            "proportion",
            "Shock-CAT MCS use AMI-CS 43.1%",
            0.14,
            0.65,
            "national MCS use 13.9-16% (Germany 2007-17, Lang 2021) to single-centre ACS-CS "
            "with IABP-first practice (91%, Belfioretti 2024; capped at 0.65 [assumption])",
        ),
        Parameter(
            "p_mcs_non_ami",
            0.167,
            "proportion",
            "Shock-CAT MCS use non-AMI-CS 16.7%",
            0.10,
            0.30,
            "[assumption] around Shock-CAT 16.7%",
        ),
        Parameter(
            "mcs_severity_loading",
            0.30,
            "correlation",
            "[assumption] MCS more at D/E",
            0.0,
            0.5,
            "[assumption]",
        ),
        # Log-normal biomarkers: median and SD of the log, then physiological limits
        Parameter(
            "lactate_median",
            4.6,
            "mmol/L",
            "Hamburg median 4.6 (2.2-9.5); DanGer 4.6",
            4.6,
            5.5,
            "published medians: Hamburg and DanGer Shock 4.6, non-ischaemic CS 4.9 (Sundermeyer "
            "2023), ACS-CS 5.2 (Belfioretti 2024), PREPARE-CS 5.2 (Planka 2025), DanGer first "
            "100 5.5 (Udesen, PMID 31176289)",
        ),
        Parameter(
            "lactate_sd_log",
            0.80,
            "ln units",
            "calibration.md default, between registry 1.08 and trial 0.56 spreads [derived]",
            0.56,
            1.08,
            "[derived] trial (DanGer Shock) and registry (Hamburg) IQR spreads, calibration.md",
        ),
        Parameter(
            "lactate_min",
            0.5,
            "mmol/L",
            "lower reference limit of arterial/venous lactate, 0.5 mmol/L (Radiometer ABL90 "
            "reference range, North Bristol NHS Severn Pathology; https://www.nbt.nhs.uk/severn-"
            "pathology/requesting/test-information/blood-gases)",
        ),
        Parameter(
            "lactate_max",
            30.0,
            "mmol/L",
            "[assumption] upper limit of survivable admission lactate and of the range reported in "
            "ICU series; lactate > 10 mmol/L carried 78% ICU mortality (Haas 2016, Intensive Care "
            "Med 42:202, N=14,040)",
        ),
        Parameter(
            "il6_median",
            120.0,
            "pg/mL",
            "[assumption] calibration.md: ln IL-6 ~ N(ln 120, 1.3); Geppert cohort median ~200 at "
            "61% mortality [derived]; Debrunner peak 109 (no SIRS) / 253 (SIRS)",
            50.0,
            250.0,
            "calibration.md sensitivity range for the median (no CS cohort median retrieved)",
        ),
        Parameter(
            "il6_sd_log",
            1.30,
            "ln units",
            "[assumption] calibration.md default",
            1.0,
            1.6,
            "[assumption]",
        ),
        Parameter(
            "il6_min",
            1.5,
            "pg/mL",
            "lower limit of the measuring range (analytical sensitivity) of Elecsys IL-6, "
            "1.5 pg/mL (Roche Diagnostics, https://diagnostics.roche.com/ch/de/products/params/"
            "elecsys-il-6.html); STEMI without CS 3.7 (2.1-6.7) pg/mL (Groot 2019)",
        ),
        Parameter(
            "il6_max",
            50_000.0,
            "pg/mL",
            "[derived] between the largest values the assay maker reports in severe sepsis "
            "(39,000 pg/mL) and septic shock (170,000 pg/mL) (Roche reference data as listed by "
            "Medizin-Zentrum Dortmund, https://medizin-zentrum-dortmund.de/en/medical-genetics/"
            "analyzes-directory/analysis/318); CS IL-6 is below septic shock (Geppert, Crit Care Med: CS vs septic shock)",
        ),
        Parameter(
            "crp_median",
            17.0,
            "mg/L",
            "Hamburg admission CRP median 17 (5-71)",
            10.0,
            30.0,
            "[assumption] around the only CS admission median retrieved (Hamburg 17, Dettling "
            "2023)",
        ),
        Parameter(
            "crp_sd_log",
            1.967,
            "ln units",
            "[derived] Hamburg IQR 5-71: ln(71/5)/1.349",
            1.5,
            2.2,
            "[assumption] around the Hamburg IQR spread",
        ),
        Parameter(
            "crp_min",
            0.3,
            "mg/L",
            "[assumption] lower limit of quantification of routine (non-high-sensitivity) CRP "
            "assays; the model's CRP term is linear, so lower values change no risk",
        ),
        Parameter(
            "crp_max",
            600.0,
            "mg/L",
            "highest CRP in a referral centre's 2 years of values > 100 mg/L: 576 mg/L (Landry "
            "2017, Can Fam Physician 63:e316, N=1260); CRP >= 500 mg/L in 0.16% of 106,758 "
            "hospital tests, mean 561 (Hajek 2011, Rev Med Interne 32:663)",
        ),
        Parameter(
            "creatinine_median",
            1.12,
            "mg/dL",
            "CardShock median 1.12 (0.87-1.54) (Tarvasmaki 2018)",
            1.0,
            1.4,
            "[assumption] around CardShock; the IABP-SHOCK II score's > 1.5 mg/dL marks risk (Poss "
            "2017)",
        ),
        Parameter(
            "creatinine_sd_log",
            0.42,
            "ln units",
            "[derived] CardShock IQR",
            0.35,
            0.55,
            "[assumption] around the CardShock IQR spread",
        ),
        Parameter(
            "creatinine_min",
            0.4,
            "mg/dL",
            "[assumption] physiological lower limit in adults (severe sarcopenia); gives eGFR up to "
            "~150 mL/min/1.73 m2 by CKD-EPI 2021",
        ),
        Parameter(
            "creatinine_max",
            15.0,
            "mg/dL",
            "[assumption] upper limit of admission creatinine short of end-stage renal disease on "
            "dialysis (ESRD 4.9% of AMI-CS, US NIS)",
        ),
        Parameter(
            "lvef_mean",
            30.0,
            "%",
            "[assumption] calibration.md: N(30, 10); DanGer 20 (10-30); a third of AMI-CS at "
            "41-49% (Am J Cardiol 2022)",
            20.0,
            35.0,
            "DanGer Shock median 20% (Udesen, PMID 31176289) and non-ischaemic CS median 20% (Sundermeyer "
            "2023) to 35% [assumption] for the AMI-CS with a third at 41-49%",
        ),
        Parameter(
            "lvef_sd",
            10.0,
            "%",
            "[assumption] calibration.md",
            8.0,
            15.0,
            "[derived] IQR/1.349: Sundermeyer 15-30 gives 11.1, DanGer 10-30 gives 14.8",
        ),
        Parameter("lvef_min", 10.0, "%", "calibration.md truncation (physiological limit)"),
        Parameter("lvef_max", 60.0, "%", "calibration.md truncation (physiological limit)"),
        # Phenotypes (Zweck 2021): assigned from the latent lactate and creatinine coordinates
        Parameter(
            "p_phenotype_cardiometabolic",
            0.30,
            "proportion",
            "[assumption] cluster prevalence not retrieved (calibration.md §4); cardiometabolic = "
            "the highest-lactate (hypoperfusion, metabolic derangement) share",
            0.20,
            0.40,
            "[assumption]; the SIRS-like latent profile was 24.6% of MIMIC-IV AMI-CS (Front Med "
            "2023)",
        ),
        Parameter(
            "p_phenotype_cardiorenal",
            0.30,
            "proportion",
            "[assumption] prevalence not retrieved; cardiorenal = worst renal function among the "
            "rest",
            0.20,
            0.40,
            "[assumption]; the older, renal profile was 37.8% of MIMIC-IV AMI-CS (Front Med 2023)",
        ),
        # Gaussian-copula correlations (latent normal scale)
        Parameter(
            "rho_severity_lactate",
            0.45,
            "correlation",
            "[assumption] stage shifts of ln lactate C -0.4 / E +0.5 (calibration.md) imply ~0.45",
            0.30,
            0.60,
            _RHO,
        ),
        Parameter(
            "rho_severity_il6",
            0.45,
            "correlation",
            "[assumption] calibration.md: Spearman ~0.45 of ln IL-6 with SCAI stage; IL-6-SOFA "
            "r=0.57. A latent correlation of 0.45 gives Spearman 0.39 with the 3-level stage",
            0.30,
            0.60,
            _RHO + "; IL-6-SOFA r = 0.57 (Geppert, 51 CS) is an upper anchor",
        ),
        Parameter(
            "rho_lactate_il6",
            0.35,
            "correlation",
            "[assumption] IL-6 > median associated with hypoperfusion (Kataja 2021)",
            0.20,
            0.50,
            _RHO,
        ),
        Parameter(
            "rho_il6_crp",
            0.35,
            "correlation",
            "[assumption] IL-6 drives hepatic CRP; at admission CRP lags IL-6 by 1-2 days (CRP "
            "peaks at 48-72 h in CS, Kataja 2021), so the admission correlation is moderate",
            0.15,
            0.55,
            _RHO + " (+-0.2)",
        ),
        Parameter(
            "rho_severity_crp",
            0.0,
            "correlation",
            "CRP equally distributed across SCAI B-E (Dettling 2023)",
            -0.1,
            0.1,
            "[assumption] Dettling 2023 found no gradient across stages",
        ),
        Parameter(
            "rho_severity_creatinine",
            0.25,
            "correlation",
            "[assumption] creatinine > 1.5 mg/dL marks risk (Poss 2017); IL-6 higher with ARF "
            "(Geppert)",
            0.10,
            0.40,
            _RHO,
        ),
        Parameter(
            "rho_lactate_creatinine",
            0.25,
            "correlation",
            "[assumption] hypoperfusion",
            0.10,
            0.40,
            _RHO,
        ),
        Parameter(
            "rho_il6_creatinine",
            0.20,
            "correlation",
            "[assumption] IL-6 higher with ARF (Geppert)",
            0.05,
            0.35,
            _RHO,
        ),
        Parameter(
            "rho_severity_lvef",
            -0.20,
            "correlation",
            "[assumption] lower LVEF, worse shock (lower LVEF more frequent in more severe CS, "
            "Sundermeyer 2023)",
            -0.40,
            0.0,
            _RHO + " (+-0.2)",
        ),
    ],
)

# Order of the latent Gaussian-copula coordinates.
LATENT = ("severity", "lactate", "il6", "crp", "creatinine", "lvef")

# Covariates drawn as log-normals from a copula coordinate, bounded to physiological limits:
# covariate -> (copula coordinate, median, SD of the log, lower limit, upper limit) parameter names.
LOG_NORMAL = {
    "lactate_mmol_l": ("lactate", "lactate_median", "lactate_sd_log", "lactate_min", "lactate_max"),
    "il6_pg_ml": ("il6", "il6_median", "il6_sd_log", "il6_min", "il6_max"),
    "crp_mg_l": ("crp", "crp_median", "crp_sd_log", "crp_min", "crp_max"),
    "creatinine": (
        "creatinine",
        "creatinine_median",
        "creatinine_sd_log",
        "creatinine_min",
        "creatinine_max",
    ),
}


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
