"""Natural history of cardiogenic shock: covariate effects on the hazard of death, to one year.

Coefficients act on the log cumulative hazard of death (proportional hazards in the
first 30 days). Published associations on the log-odds scale were converted at the
cohort's mortality p with d logit / d log H = -ln(1-p)/p (1.31 at p = 0.43) [derived].
Values tagged [derived] calibrated were found by `cstrial.disease.calibration` on a
large sample of the default population; tests re-run the fits.
"""

from __future__ import annotations

from cstrial.parameters import Parameter, ParameterTable

_FIT = "[derived] calibrated (disease.calibration)"

DISEASE = ParameterTable(
    "Disease model: 30-day death (proportional hazards, promotion-time form)",
    [
        # Stage-specific log 30-day cumulative hazard at the reference covariates
        # (AMI, age 67, no arrest, lactate 4.6 mmol/L, IL-6 120 pg/mL, CRP 17 mg/L, LVEF 30%).
        Parameter(
            "log_h30_scai_c",
            -1.1272,
            "log cumulative hazard",
            f"{_FIT} so that AMI-CS 30-day mortality by stage is C 0.27 / D 0.50 / E 0.75 "
            "(calibration.md second-pass update; mix gives 0.434 vs IABP-SHOCK II control "
            "41.3%, CULPRIT-SHOCK 43.3%)",
            -1.51,
            -0.02,
            "[derived] refits to SCAI C 30-day mortality 0.20-0.55, the calibration.md "
            "sensitivity range (Schrage 2020 C 54%, CCCTN C 19-22%)",
        ),
        Parameter(
            "log_h30_scai_d",
            -0.5777,
            "log cumulative hazard",
            f"{_FIT} as log_h30_scai_c",
            -1.37,
            0.05,
            "[derived] refits to SCAI D 30-day mortality 0.30-0.67 (calibration.md; CCCTN "
            "algorithm D 29%, Schrage D 67%)",
        ),
        Parameter(
            "log_h30_scai_e",
            0.0996,
            "log cumulative hazard",
            f"{_FIT} as log_h30_scai_c",
            -0.79,
            1.45,
            "[derived] refits to SCAI E 30-day mortality 0.52-0.95 (calibration.md 0.52-1.0; "
            "capped)",
        ),
        Parameter(
            "beta_il6",
            0.35,
            "per ln(pg/mL)",
            "[derived] calibration.md: beta 0.45 log-odds per ln IL-6 conditional on SCAI stage "
            "and lactate [assumption, from CardShock 57% vs 22% and Geppert HR 1.42 per 50 "
            "pg/mL], /1.31 to the hazard scale",
            0.15,
            0.55,
            "[derived] calibration.md plausible 0.4-1.1 log-odds unadjusted; conditional on "
            "stage and lactate about half, /1.31 to the hazard scale. This is IL-6's prognostic "
            "strength, not the share of it that is causal (see the treatment table)",
        ),
        Parameter("il6_reference", 120.0, "pg/mL", "population median (population.il6_median)"),
        Parameter(
            "beta_lactate",
            0.30,
            "per ln(mmol/L)",
            "[assumption] Geppert HR 1.14 per mmol/L is 0.60 per ln unit at 4.6 mmol/L "
            "(unadjusted, N=38); halved because SCAI stage already carries hypoperfusion",
            0.15,
            0.60,
            "[derived] from half to all of Geppert's unadjusted 0.60 per ln unit",
        ),
        Parameter("lactate_reference", 4.6, "mmol/L", "population median"),
        Parameter(
            "beta_crp",
            0.0494,
            "per ln(mg/L)",
            f"{_FIT} so that the hazard ratio per +50 mg/L of admission CRP, adjusted for SCAI "
            "stage, lactate, age and arrest (the population Cox estimand of Dettling's model), is "
            "Dettling's 1.08 (Hamburg CS N=1116, adjusted Cox: +8%, 3-13%). Log-linear in CRP, "
            "as IL-6: Dettling also found HR 1.50 for CRP above the median (17 mg/L) in patients "
            "without MCS, more than a risk linear in CRP gives (about 1.2)",
            0.0,
            0.15,
            "[derived] refits to Dettling's upper 95% limit 1.13 per 50 mg/L (0.15); his lower "
            "limit 1.03 is below what CRP's correlation with IL-6 alone gives (1.05), hence 0: "
            "CRP's association all IL-6's",
        ),
        Parameter("crp_reference", 17.0, "mg/L", "population median (population.crp_median)"),
        Parameter(
            "beta_lvef_per_10",
            -0.20,
            "per 10 % LVEF",
            "[derived] AMI-CS (Am J Cardiol 2022, N=218): adjusted HR 0.81 for LVEF 41-49% and "
            "0.41 for >= 50% vs <= 40%, i.e. -0.14 and -0.36 per 10 points; CardShock: low LVEF "
            "independent predictor (Harjola 2015)",
            -0.36,
            0.0,
            "Am J Cardiol 2022 pEF vs rEF (-0.36 per 10 points) to no association in "
            "non-ischaemic CS (Sundermeyer 2023, N=807)",
        ),
        Parameter("lvef_reference", 30.0, "%", "population mean (population.lvef_mean)"),
        Parameter(
            "beta_age_per_10y",
            0.25,
            "per 10 years",
            "[assumption] age is an independent predictor (Andrie 2012; IABP-SHOCK II score: "
            "age > 73 y, Poss 2017); OR ~1.3-1.4 per decade [background, unverified]",
            0.10,
            0.40,
            "[assumption]",
        ),
        Parameter("age_reference", 67.0, "years", "population mean"),
        Parameter(
            "beta_arrest",
            -1.6607,
            "log hazard ratio",
            f"{_FIT} with beta_comatose so that AMI-CS 30-day mortality after OHCA is 0.82 "
            "times that without (RETROSHOCK 47% vs 57%, N=1716, Mieritz) and coma accounts for "
            "57% of deaths after arrest (RETROSHOCK causes of death, calibration.md Gap 4). "
            "Negative: at a given stage and "
            "lactate, resuscitated patients who wake die less than patients in shock without "
            "arrest (RETROSHOCK: mortality almost doubled without OHCA for lactate up to 7 "
            "mmol/L); arrest was not an independent predictor in the IABP-SHOCK II score (Poss "
            "2017)",
            -1.83,
            -0.81,
            "[derived] refits to the RETROSHOCK ratio's lower 95% limit (0.75: -1.83) and to the "
            "Mannheim all-cause CS ratio 1.28 (63.4% vs 49.4%, Rusnak 2022, N=263: -0.81)",
        ),
        Parameter(
            "beta_comatose",
            1.3191,
            "log hazard ratio",
            f"{_FIT} with beta_arrest: neurological deaths are 57% of deaths after OHCA and 24% "
            "of all AMI-CS deaths (RETROSHOCK causes of death, calibration.md Gap 4)",
            0.95,
            1.62,
            "[derived] refits to a neurological share of 45% and 65% of deaths after arrest",
        ),
        Parameter(
            "beta_etiology_hf",
            -0.6007,
            "log hazard ratio",
            "[derived] within-stage HF vs AMI odds x0.55 (calibration.md) less what younger age "
            "and fewer arrests explain; checked against OR(HF vs MI) 0.4-0.7 (CSWG 26 vs 41%)",
            -0.93,
            -0.34,
            "[derived] refits to an OR of death HF vs MI of 0.4 and 0.7 (calibration.md target 7)",
        ),
        Parameter(
            "beta_etiology_other",
            -0.20,
            "log hazard ratio",
            "[assumption] between AMI and HF (Shock-CAT non-AMI 26.7% vs AMI 37.1%)",
            -0.5,
            0.0,
            "[assumption] between HF and AMI",
        ),
        Parameter(
            "beta_phenotype_cardiorenal",
            0.7049,
            "log hazard ratio",
            "[derived] set with the stage intercepts so that AMI-CS in-hospital mortality by "
            "phenotype follows CSWG-MI 21 / 45 / 55% (Zweck 2021; phenotypes II and III "
            "independently predict death, Zweck 2023)",
            0.3,
            0.9,
            "[derived] CSWG-MI vs DRR phenotype gradients (Zweck 2021: 45% vs 40% cardiorenal)",
        ),
        Parameter(
            "beta_phenotype_cardiometabolic",
            0.3497,
            "log hazard ratio",
            "[derived] as cardiorenal",
            0.0,
            0.5,
            "[derived] as cardiorenal",
        ),
        # Timing: the cumulative hazard to day t is H30 * G(t) / G(30), G a Weibull CDF,
        # so deaths are front-loaded as in the US NIS AMI-CS timing data.
        Parameter(
            "death_timing_weibull_shape",
            0.80,
            "",
            "[derived] fitted so the simulated share of 30-day deaths by day 2 and day 7 is 44% "
            "and 76% as in AMI-CS NIS (Vallabhajosyula 2020); also gives 19% / 29% / 54% / 91% "
            "by day 0.5 / 1 / 3 / 14 (NIS Weibull: 19 / 30 / 54 / 90%)",
            0.72,
            0.90,
            "[derived] the NIS two-point Weibull fit (0.72) to a flatter early hazard (0.90, "
            "[assumption]: trial cohorts exclude the earliest deaths)",
        ),
        Parameter(
            "death_timing_weibull_scale_days",
            6.93,
            "days",
            "[derived] as the shape",
            4.27,
            9.0,
            "[derived] NIS Weibull scale 4.27 d to 9 d [assumption]; vary with the shape",
        ),
    ],
)

LATE = ParameterTable(
    "Disease model: death after day 30 (to day 365)",
    [
        Parameter(
            "late_log_h_reference",
            -1.8858,
            "log cumulative hazard",
            f"{_FIT} so that AMI-CS mortality rises by 8 pp from day 30 to day 365: IABP-SHOCK "
            "II control 41.3% -> 51% (Thiele 2012, 2013), CULPRIT-SHOCK culprit-only 43.3% -> "
            "50.0% (Thiele 2017, 2018), SHOCK 46.7% -> 53.3% (early revascularisation) and "
            "56.0% -> 66.7% (medical stabilisation; Hochman 1999; 1-year in calibration.md §2b)",
            -2.40,
            -1.42,
            "[derived] refits to a 30-to-365-day increment of 5 to 12 pp (the trial arms above; "
            "calibration.md: 1 year = 30 days + 8-12 pp)",
        ),
        Parameter(
            "late_acute_reference",
            -0.3985,
            "log cumulative hazard",
            "mean acute linear predictor (eta less arrest and coma) of AMI-CS: centres the "
            "carry-over term",
        ),
        Parameter(
            "late_severity_carryover",
            0.2,
            "fraction of the acute log hazard",
            "[derived] late deaths depend little on acute severity: among CICU hospital "
            "survivors, 5-year survival C 76.7% vs D/E 71.7% (HR 1.26) against an in-hospital "
            "log-hazard gap of 1.47 (Jentzer, Am Heart J): 0.16; primary-PCI survivors with vs "
            "without CS, long-term cardiovascular mortality 24.0% vs 23.5%, adjusted HR 1.18 "
            "(0.77-1.81) (J Pers Med 2022;12:1193, Vienna, N=1173): about 0.07 (up to 0.24)",
            0.0,
            0.5,
            "[derived] the two registries (0.07-0.24) widened to 0-0.5 [assumption]; 1 would be "
            "late deaths in proportion to the 30-day hazard",
        ),
        Parameter(
            "late_beta_age_per_10y",
            0.40,
            "per 10 years",
            "[assumption] after surviving CS, older patients (>= 55 y) die more (J Pers Med "
            "2022, Vienna); HR 1.5 per decade as for all-cause mortality after MI",
            0.20,
            0.60,
            "[assumption]",
        ),
        Parameter(
            "late_beta_lvef_per_10",
            -0.30,
            "per 10 % LVEF",
            "[assumption] moderately or severely impaired LV function predicts death after "
            "surviving CS (J Pers Med 2022, Vienna)",
            -0.50,
            0.0,
            "[assumption]",
        ),
        Parameter(
            "late_beta_etiology_hf",
            0.55,
            "log hazard ratio",
            "[derived] acute-on-chronic HF-CS survivors die as often after discharge as AMI-CS "
            "survivors (single-centre registry, PMID 35510546: in-hospital to 1 year, HF-CS "
            "23.9% -> 42.6%, AMI-CS 39.3% -> 52.9%, late cumulative hazard ratio 1.11) despite "
            "their younger age and lower acute risk",
            0.0,
            0.8,
            "[derived] from no excess (0) to the registry's ratio with the late age effect at "
            "its upper end (0.8) [assumption]",
        ),
        Parameter(
            "late_hazard_ratio_after_180",
            0.6,
            "hazard ratio",
            "[derived] SHOCK: the hazard from 6 to 12 months was 0.47 (medical stabilisation: "
            "63.1% -> 66.7%) and 0.72 (early revascularisation: 50.3% -> 53.3%) times the hazard "
            "from 30 days to 6 months (Hochman 1999; 1-year in calibration.md §2b)",
            0.45,
            0.75,
            "[derived] the two SHOCK arms",
        ),
    ],
)

# Calibration targets for the stage intercepts (AMI-CS, 30-day mortality).
STAGE_TARGETS_AMI_30D = {"C": 0.27, "D": 0.50, "E": 0.75}
