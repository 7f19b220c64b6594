"""Draw virtual cardiogenic-shock patients: a Gaussian copula over the latent severity and biomarkers.

A latent severity S sets the SCAI stage (thresholds at the stage mix); lactate,
IL-6, CRP, creatinine and LVEF share a Gaussian copula with S, so IL-6 and
lactate rise with stage. Etiology sets age and the arrest and MCS probabilities;
arrest and MCS load on S through probit models. Categorical covariates are int8
codes into `COVARIATES[name].levels`; booleans are bool; the rest float64.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache

import numpy as np
from scipy.special import ndtr, ndtri, owens_t

from cstrial.parameters import ParameterTable
from cstrial.population.parameters import LATENT, POPULATION, latent_correlation

Patients = Mapping[str, np.ndarray]

# CKD-EPI 2021 race-free creatinine equation (Inker LA et al., NEJM 2021;385:1737).
_CKD_EPI = {
    "female": {"kappa": 0.7, "alpha": -0.241, "factor": 1.012},
    "male": {"kappa": 0.9, "alpha": -0.302, "factor": 1.0},
}


# Decides, from the covariates drawn so far, which candidates stay: a mask, or None to keep all.
Keep = Callable[[Patients], np.ndarray | None]


def sample_population(
    rng: np.random.Generator, n: int, table: ParameterTable = POPULATION
) -> Patients:
    """Draw `n` patients of the default CS population (SCAI C-E) as a dict of arrays."""
    return screen(rng, n, None, table)[0]


def screen(
    rng: np.random.Generator, n: int, keep: Keep | None, table: ParameterTable = POPULATION
) -> tuple[Patients, np.ndarray]:
    """Screen `n` candidates in stages; return those `keep` lets through and their positions.

    Covariates are drawn stage by stage (etiology; the latent copula and what it sets;
    age, sex and eGFR; arrest, coma and MCS; LVEF), each stage from fresh draws for
    the candidates still in, and `keep` is asked after every stage (given that stage's
    covariates), so criteria drop candidates before later stages draw anything for
    them: the same law as drawing everyone, with fewer draws.
    """
    p = table
    stages = _Stages(n, keep)
    u_etiology = rng.random(n)  # etiology codes: 0 AMI, 1 HF, 2 other
    etiology = np.where(
        u_etiology < p["p_etiology_ami"],
        0,
        np.where(u_etiology < p["p_etiology_ami"] + p["p_etiology_hf"], 1, 2),
    ).astype(np.int8)
    stages.add({"etiology": etiology})
    (etiology,) = stages.carry(etiology)

    chol = np.linalg.cholesky(latent_correlation(table))
    z = chol @ rng.standard_normal((len(LATENT), stages.alive))  # rows contiguous: fast
    latent = {name: z[i] for i, name in enumerate(LATENT)}
    c_cut = ndtri(p["p_scai_c"])
    d_cut = ndtri(p["p_scai_c"] + p["p_scai_d"])
    severity = latent["severity"]
    stages.add(
        {
            "scai_stage": (severity > c_cut).astype(np.int8) + (severity > d_cut).astype(np.int8),
            "phenotype": _phenotype(latent["lactate"], latent["creatinine"], table),
            "lactate_mmol_l": np.exp(
                np.log(p["lactate_median"]) + p["lactate_sd_log"] * latent["lactate"]
            ),
            "il6_pg_ml": np.exp(np.log(p["il6_median"]) + p["il6_sd_log"] * latent["il6"]),
            "crp_mg_l": np.exp(np.log(p["crp_median"]) + p["crp_sd_log"] * latent["crp"]),
        }
    )
    etiology, severity, creatinine, lvef = stages.carry(
        etiology, latent["severity"], latent["creatinine"], latent["lvef"]
    )

    age_mean = np.array([p["age_mean_ami"], p["age_mean_hf"], p["age_mean_other"]])[etiology]
    age_sd = np.array([p["age_sd_ami"], p["age_sd_hf"], p["age_sd_other"]])[etiology]
    age = _truncated_normal_by_rejection(rng, age_mean, age_sd, p["age_min"], p["age_max"])
    sex = (rng.random(stages.alive) < p["p_male"]).astype(np.int8)  # 0 female, 1 male
    log_creatinine = np.log(p["creatinine_median"]) + p["creatinine_sd_log"] * creatinine
    egfr = _egfr_from_log_creatinine(log_creatinine, age, sex == 1)
    stages.add({"age": age, "sex": sex, "egfr_ml_min": egfr})
    etiology, severity, lvef = stages.carry(etiology, severity, lvef)

    arrest_cut = ndtri(1.0 - np.array([p["p_arrest_ami"], p["p_arrest_hf"], p["p_arrest_other"]]))
    arrest = _probit_event(rng, severity, arrest_cut[etiology], p["arrest_severity_loading"])
    comatose = arrest & (rng.random(stages.alive) < p["p_comatose_given_arrest"])
    mcs_cut = ndtri(1.0 - np.array([p["p_mcs_ami"], p["p_mcs_non_ami"], p["p_mcs_non_ami"]]))
    mcs = _probit_event(rng, severity, mcs_cut[etiology], p["mcs_severity_loading"])
    stages.add(
        {"cardiac_arrest": arrest, "comatose_after_arrest": comatose, "mcs_at_baseline": mcs}
    )
    (lvef,) = stages.carry(lvef)

    stages.add(
        {
            "lvef_pct": _truncated_normal(
                ndtr(lvef), p["lvef_mean"], p["lvef_sd"], p["lvef_min"], p["lvef_max"]
            )
        }
    )
    return stages.survivors()


class _Stages:
    """The covariates of each screening stage, and the candidates each stage let through.

    A stage's covariates stay at the size they were drawn at; the survivors are
    gathered once, at the end, through the composed masks: each covariate is copied
    once, however many stages follow it.
    """

    def __init__(self, n: int, keep: Keep | None) -> None:
        self.alive = n
        self._keep = keep
        self._drawn: list[Patients] = []
        self._masks: list[np.ndarray | None] = []

    def add(self, covariates: Patients) -> None:
        mask = None if self._keep is None else self._keep(covariates)
        self._drawn.append(covariates)
        self._masks.append(mask)
        if mask is not None:
            self.alive = int(np.count_nonzero(mask))

    def carry(self, *values: np.ndarray) -> tuple[np.ndarray, ...]:
        """Arrays sized to the last stage's candidates, cut to those it let through."""
        mask = self._masks[-1]
        return values if mask is None else tuple(v[mask] for v in values)

    def survivors(self) -> tuple[Patients, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        position: np.ndarray | None = None  # survivors' rows in the current stage's arrays
        for drawn, mask in zip(reversed(self._drawn), reversed(self._masks), strict=True):
            if mask is not None:
                rows = np.flatnonzero(mask)
                position = rows if position is None else rows[position]
            for name, values in drawn.items():
                out[name] = values if position is None else values[position]
        n = len(out["etiology"])
        index = np.arange(n) if position is None else position
        return {name: out[name] for drawn in self._drawn for name in drawn}, index  # drawn order


def _phenotype(lactate: np.ndarray, creatinine: np.ndarray, table: ParameterTable) -> np.ndarray:
    """Zweck phenotype codes (0 non-congested, 1 cardiorenal, 2 cardiometabolic) from latents.

    Cardiometabolic: the top `p_phenotype_cardiometabolic` of latent lactate; cardiorenal:
    the highest latent creatinine among the rest, sized to `p_phenotype_cardiorenal`.
    """
    lactate_cut, creatinine_cut = _phenotype_cuts(
        table["p_phenotype_cardiometabolic"],
        table["p_phenotype_cardiorenal"],
        float(latent_correlation(table)[LATENT.index("lactate"), LATENT.index("creatinine")]),
    )
    metabolic = lactate > lactate_cut
    renal = ~metabolic & (creatinine > creatinine_cut)
    return np.where(metabolic, 2, np.where(renal, 1, 0)).astype(np.int8)


@lru_cache(maxsize=8)
def _phenotype_cuts(p_metabolic: float, p_renal: float, rho: float) -> tuple[float, float]:
    # Newton on P(lactate <= a, creatinine > c) = p_renal, with the bivariate normal CDF
    # from Owen's T (Owen 1956) and its exact derivative: scipy.stats and scipy.optimize
    # would cost every worker about 1 s to import for two numbers.
    lactate_cut = float(ndtri(1.0 - p_metabolic))
    root = np.sqrt(1.0 - rho * rho)
    cut = float(ndtri(1.0 - p_renal / ndtr(lactate_cut)))  # the answer when rho = 0
    for _ in range(50):
        share = ndtr(lactate_cut) - bivariate_normal_cdf(lactate_cut, cut, rho)
        slope = -float(np.exp(-0.5 * cut * cut) / np.sqrt(2 * np.pi))
        slope *= float(ndtr((lactate_cut - rho * cut) / root))
        step = (share - p_renal) / slope
        cut -= step
        if abs(step) < 1e-13:
            break
    return lactate_cut, float(cut)


def bivariate_normal_cdf(h: float, k: float, rho: float) -> float:
    """P(X <= h, Y <= k) for standard normals with correlation |rho| < 1 (Owen 1956, eq. 3.1)."""
    if h == 0.0 and k == 0.0:
        return 0.25 + float(np.arcsin(rho)) / (2 * np.pi)
    root = np.sqrt(1.0 - rho * rho)
    t_h = owens_t(h, (k - rho * h) / (h * root)) if h != 0.0 else _owens_t_at_zero(k, rho)
    t_k = owens_t(k, (h - rho * k) / (k * root)) if k != 0.0 else _owens_t_at_zero(h, rho)
    beta = 0.0 if h * k > 0 or (h * k == 0 and h + k >= 0) else 0.5
    return float(0.5 * (ndtr(h) + ndtr(k)) - t_h - t_k - beta)


def _owens_t_at_zero(other: float, rho: float) -> float:
    # T(0, a) = arctan(a) / (2 pi), with a -> +-inf as the coordinate goes to 0
    return 0.25 if other > 0 else -0.25


def egfr_ckd_epi_2021(
    creatinine_mg_dl: np.ndarray, age: np.ndarray, male: np.ndarray
) -> np.ndarray:
    """eGFR (mL/min/1.73 m2) by the CKD-EPI 2021 race-free equation (Inker 2021)."""
    return _egfr_from_log_creatinine(np.log(creatinine_mg_dl), age, male)


def _egfr_from_log_creatinine(
    log_creatinine: np.ndarray, age: np.ndarray, male: np.ndarray
) -> np.ndarray:
    # 142 * min(Scr/k, 1)^a * max(Scr/k, 1)^-1.2 * 0.9938^age * f, evaluated on the log scale
    female, man = _CKD_EPI["female"], _CKD_EPI["male"]
    log_ratio = log_creatinine - np.log(np.where(male, man["kappa"], female["kappa"]))
    alpha = np.where(male, man["alpha"], female["alpha"])
    log_factor = np.where(male, np.log(man["factor"]), np.log(female["factor"]))
    return np.exp(
        np.log(142.0)
        + alpha * np.minimum(log_ratio, 0.0)
        - 1.200 * np.maximum(log_ratio, 0.0)
        + np.log(0.9938) * age
        + log_factor
    )


def _truncated_normal_by_rejection(
    rng: np.random.Generator, mean: np.ndarray, sd: np.ndarray, low: float, high: float
) -> np.ndarray:
    """N(mean, sd) truncated to [low, high]: draw, then redraw the few outside until none are."""
    values = mean + sd * rng.standard_normal(mean.shape)
    outside = np.flatnonzero((values < low) | (values > high))
    while outside.size:
        values[outside] = mean[outside] + sd[outside] * rng.standard_normal(outside.size)
        outside = outside[(values[outside] < low) | (values[outside] > high)]
    return values


def _truncated_normal(
    u: np.ndarray, mean: np.ndarray | float, sd: np.ndarray | float, low: float, high: float
) -> np.ndarray:
    """Inverse-CDF draw from N(mean, sd) truncated to [low, high], given uniforms u."""
    a = ndtr((low - mean) / sd)
    b = ndtr((high - mean) / sd)
    return mean + sd * ndtri(a + u * (b - a))


def _probit_event(
    rng: np.random.Generator, severity: np.ndarray, cut: np.ndarray, loading: float
) -> np.ndarray:
    """Events with probability 1 - Phi(cut) whose latent normal correlates `loading` with severity."""
    latent = loading * severity + np.sqrt(1.0 - loading**2) * rng.standard_normal(severity.shape)
    return latent > cut
