"""Natural history of cardiogenic shock: covariate effects on the hazard of death.

Coefficients act on the log cumulative hazard of death (proportional hazards).
Published associations on the log-odds scale were converted at the cohort's
mortality p with d logit / d log H = -ln(1-p)/p (1.31 at p = 0.43) [derived].
"""

from __future__ import annotations

from cstrial.parameters import Parameter, ParameterTable

DISEASE = ParameterTable(
    "Disease model: 30-day death (proportional hazards, promotion-time form)",
    [
        # Stage-specific log 30-day cumulative hazard at the reference covariates
        # (AMI, age 67, no arrest, lactate 4.6 mmol/L, IL-6 120 pg/mL).
        Parameter(
            "log_h30_scai_c",
            -1.4695,
            "log cumulative hazard",
            "[derived] calibrated (disease.calibration) so that AMI-CS 30-day mortality by stage is "
            "C 0.27 / D 0.50 / E 0.75 (calibration.md second-pass update; mix gives 0.434 vs "
            "IABP-SHOCK II control 41.3%, CULPRIT-SHOCK 43.3%)",
        ),
        Parameter(
            "log_h30_scai_d", -1.1175, "log cumulative hazard", "[derived] as log_h30_scai_c"
        ),
        Parameter(
            "log_h30_scai_e", -0.7349, "log cumulative hazard", "[derived] as log_h30_scai_c"
        ),
        Parameter(
            "beta_il6",
            0.35,
            "per ln(pg/mL)",
            "[derived] calibration.md: beta 0.45 log-odds per ln IL-6 conditional on SCAI stage and "
            "lactate [assumption, from CardShock 57% vs 22% and Geppert HR 1.42 per 50 pg/mL], "
            "/1.31 to the hazard scale",
        ),
        Parameter("il6_reference", 120.0, "pg/mL", "population median (population.il6_median)"),
        Parameter(
            "beta_lactate",
            0.30,
            "per ln(mmol/L)",
            "[assumption] Geppert HR 1.14 per mmol/L is 0.60 per ln unit at 4.6 mmol/L (unadjusted, "
            "N=38); halved because SCAI stage already carries hypoperfusion",
        ),
        Parameter("lactate_reference", 4.6, "mmol/L", "population median"),
        Parameter(
            "beta_age_per_10y",
            0.25,
            "per 10 years",
            "[assumption] age is an independent predictor (Andrie 2012; IABP-SHOCK II score: "
            "age > 73 y, Poss 2017); OR ~1.3-1.4 per decade [background, unverified]",
        ),
        Parameter("age_reference", 67.0, "years", "population mean"),
        Parameter(
            "beta_arrest",
            0.45,
            "log hazard ratio",
            "[derived] calibration.md: log-OR +0.6 within stage [assumption] / 1.31; CICU aOR 3.99 "
            "is an upper bound (Jentzer 2019)",
        ),
        Parameter(
            "beta_comatose",
            0.40,
            "log hazard ratio",
            "[assumption] neurological deaths are 24% of AMI-CS deaths, 57% of OHCA deaths "
            "(RETROSHOCK)",
        ),
        Parameter(
            "beta_etiology_hf",
            -0.35,
            "log hazard ratio",
            "[derived] within-stage HF vs AMI odds x0.55 (calibration.md) less what younger age and "
            "fewer arrests explain; checked against OR(HF vs MI) 0.4-0.7 (CSWG 26 vs 41%)",
        ),
        Parameter(
            "beta_etiology_other",
            -0.20,
            "log hazard ratio",
            "[assumption] between AMI and HF (Shock-CAT non-AMI 26.7% vs AMI 37.1%)",
        ),
        Parameter(
            "beta_phenotype_cardiorenal",
            0.6,
            "log hazard ratio",
            "[derived] set with the stage intercepts so that AMI-CS in-hospital mortality by "
            "phenotype follows CSWG-MI 21 / 45 / 55% (Zweck 2021; phenotypes II and III "
            "independently predict death, Zweck 2023)",
        ),
        Parameter(
            "beta_phenotype_cardiometabolic", 0.2, "log hazard ratio", "[derived] as cardiorenal"
        ),
        # Timing: the cumulative hazard to day t is H30 * G(t) / G(30), G a Weibull CDF,
        # so deaths are front-loaded as in the US NIS AMI-CS timing data.
        Parameter(
            "death_timing_weibull_shape",
            0.80,
            "",
            "[derived] fitted so the simulated share of 30-day deaths by day 2 and day 7 is 44% and "
            "76% as in AMI-CS NIS (Vallabhajosyula 2020); also gives 19% / 29% / 54% / 91% by day "
            "0.5 / 1 / 3 / 14 (NIS Weibull: 19 / 30 / 54 / 90%)",
        ),
        Parameter("death_timing_weibull_scale_days", 6.93, "days", "[derived] as the shape"),
    ],
)

LATE = ParameterTable(
    "Disease model: death after day 30 (to day 180)",
    [
        Parameter(
            "late_hazard_ratio_to_30d",
            0.3137,
            "H(180)/H(30) - 1",
            "[derived] a constant hazard from day 30 to 180, proportional to the 30-day hazard, "
            "calibrated so AMI-CS 180-day mortality is 30-day + 7 pp: SHOCK 56.0% -> 63.1% at 6 "
            "months (+7.1 pp); CULPRIT-SHOCK 43.3% -> 50.0% at 1 year (+6.7 pp)",
        ),
    ],
)

# Calibration targets for the stage intercepts (AMI-CS, 30-day mortality).
STAGE_TARGETS_AMI_30D = {"C": 0.27, "D": 0.50, "E": 0.75}
