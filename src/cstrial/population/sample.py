"""Draw virtual cardiogenic-shock patients: a Gaussian copula over the latent severity and biomarkers.

Every patient is a deterministic function of 12 independent standard normals
(`population_from_normals`), in this order (`DRAWS`):

    0  etiology                 AMI / HF / other by thresholds at the etiology shares
    1-6  severity, lactate, il6, crp, creatinine, lvef
                                the copula: multiplied by the Cholesky factor of
                                `latent_correlation`; severity sets the SCAI stage
    7  age                      normal by etiology, bounded to age_min-age_max
    8  sex                      male below the threshold of p_male
    9  cardiac_arrest           the probit's own noise (it also loads on severity)
    10 comatose_after_arrest    below the threshold of p_comatose_given_arrest
    11 mcs_at_baseline          the probit's own noise (it also loads on severity)

`sample_population(rng, n)` draws them as `rng.standard_normal((12, n))` would,
row after row (the same numbers, the same patients). `screen` draws the rows
stage by stage (etiology; the copula and what it sets; age, sex and eGFR; arrest,
coma and MCS; LVEF) only for the candidates still in, so eligibility criteria
drop candidates before later stages draw anything for them: the same law with
fewer draws. The engine can integrate over the population by feeding
`population_from_normals` with transformed quasi-random points instead.

Continuous covariates stay within physiological limits (`bounded_latent`): a
covariate's latent normal is left alone between two knots and only its tails
beyond them are compressed, monotonically, into the limits. The calibrated body
of each marginal (the published medians and quartiles) is exactly the
log-normal (normal for age) it was fitted as, and ranks, hence the copula, are
unchanged. LVEF is a normal truncated to its limits through its copula quantile.
Categorical covariates are int8 codes into `COVARIATES[name].levels`; booleans
are bool; the rest float64.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache

import numpy as np
from scipy.special import ndtr, ndtri, owens_t

from cstrial.parameters import ParameterTable
from cstrial.population.parameters import LATENT, LOG_NORMAL, POPULATION, latent_correlation

Patients = Mapping[str, np.ndarray]

# The standard normals one patient is made of, in draw order (rows of `population_from_normals`).
DRAWS: tuple[str, ...] = (
    "etiology",
    *LATENT,
    "age",
    "sex",
    "cardiac_arrest",
    "comatose_after_arrest",
    "mcs_at_baseline",
)

# Tails are compressed beyond the knot where the tail holds TAIL_RATIO times the mass the
# unbounded law puts beyond the limit: between knot and limit the density is scaled by
# TAIL_RATIO / (TAIL_RATIO - 1) = 4/3, and nothing below the knot moves.
TAIL_RATIO = 4.0

# Tails are compressed beyond the knot where the tail holds TAIL_RATIO times the mass the
# unbounded law puts beyond the limit: between knot and limit the density is scaled by
# TAIL_RATIO / (TAIL_RATIO - 1) = 4/3, and nothing below the knot moves.
TAIL_RATIO = 4.0

# CKD-EPI 2021 race-free creatinine equation (Inker LA et al., NEJM 2021;385:1737).
_CKD_EPI = {
    "female": {"kappa": 0.7, "alpha": -0.241, "factor": 1.012},
    "male": {"kappa": 0.9, "alpha": -0.302, "factor": 1.0},
}


# Decides, from the covariates drawn so far, which candidates stay: a mask, or None to keep all.
Keep = Callable[[Patients], np.ndarray | None]
# Returns the next `rows` standard normals for the `alive` candidates still in, shape (rows, alive).
_Draw = Callable[[int, int], np.ndarray]


def sample_population(
    rng: np.random.Generator, n: int, table: ParameterTable = POPULATION
) -> Patients:
    """Draw `n` patients of the default CS population (SCAI C-E) as a dict of arrays.

    The same patients as `population_from_normals(rng.standard_normal((12, n)))`.
    """
    return screen(rng, n, None, table)[0]


def population_from_normals(z: np.ndarray, table: ParameterTable = POPULATION) -> Patients:
    """The patients made of the standard normals `z`, shape (12, n): row k is `DRAWS[k]`.

    A deterministic, vectorised transform (the population's law is that of z ~ N(0, I)),
    so expectations over the population can be computed from quasi-random points,
    e.g. z = ndtri(scrambled Sobol' points).
    """
    z = np.asarray(z, dtype=float)
    if z.ndim != 2 or z.shape[0] != len(DRAWS):
        raise ValueError(f"z must have shape ({len(DRAWS)}, n), found {z.shape}")
    rows = iter(range(len(DRAWS)))

    def draw(count: int, alive: int) -> np.ndarray:
        picked = [next(rows) for _ in range(count)]
        return z[picked[0] : picked[-1] + 1]

    return _screen(draw, z.shape[1], None, table)[0]


def screen(
    rng: np.random.Generator, n: int, keep: Keep | None, table: ParameterTable = POPULATION
) -> tuple[Patients, np.ndarray]:
    """Screen `n` candidates in stages; return those `keep` lets through and their positions.

    Covariates are drawn stage by stage (etiology; the latent copula and what it sets;
    age, sex and eGFR; arrest, coma and MCS; LVEF), each stage from fresh standard
    normals for the candidates still in, and `keep` is asked after every stage (given
    that stage's covariates), so criteria drop candidates before later stages draw
    anything for them: the same law as drawing everyone, with fewer draws.
    """
    return _screen(lambda rows, alive: rng.standard_normal((rows, alive)), n, keep, table)


def _screen(
    draw: _Draw, n: int, keep: Keep | None, table: ParameterTable
) -> tuple[Patients, np.ndarray]:
    p = table
    stages = _Stages(n, keep)
    (z_etiology,) = draw(1, stages.alive)  # etiology codes: 0 AMI, 1 HF, 2 other
    ami_cut = ndtri(p["p_etiology_ami"])
    hf_cut = ndtri(p["p_etiology_ami"] + p["p_etiology_hf"])
    etiology = (z_etiology > ami_cut).astype(np.int8) + (z_etiology > hf_cut).astype(np.int8)
    stages.add({"etiology": etiology})
    (etiology,) = stages.carry(etiology)

    chol = np.linalg.cholesky(latent_correlation(table))
    z = chol @ draw(len(LATENT), stages.alive)  # rows contiguous: fast
    latent = {name: z[i] for i, name in enumerate(LATENT)}
    c_cut = ndtri(p["p_scai_c"])
    d_cut = ndtri(p["p_scai_c"] + p["p_scai_d"])
    severity = latent["severity"]
    stages.add(
        {
            "scai_stage": (severity > c_cut).astype(np.int8) + (severity > d_cut).astype(np.int8),
            "phenotype": _phenotype(latent["lactate"], latent["creatinine"], table),
            **{
                name: _log_normal(latent[LOG_NORMAL[name][0]], name, table)
                for name in ("lactate_mmol_l", "il6_pg_ml", "crp_mg_l")
            },
        }
    )
    etiology, severity, creatinine, lvef = stages.carry(
        etiology, latent["severity"], latent["creatinine"], latent["lvef"]
    )

    z_age, z_sex = draw(2, stages.alive)
    age = _age(z_age, etiology, table)
    sex = (z_sex < ndtri(p["p_male"])).astype(np.int8)  # 0 female, 1 male
    creatinine_mg_dl = _log_normal(creatinine, "creatinine", table)
    egfr = _egfr_from_log_creatinine(np.log(creatinine_mg_dl), age, sex == 1)
    stages.add({"age": age, "sex": sex, "egfr_ml_min": egfr})
    etiology, severity, lvef = stages.carry(etiology, severity, lvef)

    z_arrest, z_coma, z_mcs = draw(3, stages.alive)
    arrest_cut = ndtri(1.0 - np.array([p["p_arrest_ami"], p["p_arrest_hf"], p["p_arrest_other"]]))
    arrest = _probit_event(z_arrest, severity, arrest_cut[etiology], p["arrest_severity_loading"])
    comatose = arrest & (z_coma < ndtri(p["p_comatose_given_arrest"]))
    mcs_cut = ndtri(1.0 - np.array([p["p_mcs_ami"], p["p_mcs_non_ami"], p["p_mcs_non_ami"]]))
    mcs = _probit_event(z_mcs, severity, mcs_cut[etiology], p["mcs_severity_loading"])
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


def _truncated_normal(
    u: np.ndarray, mean: np.ndarray | float, sd: np.ndarray | float, low: float, high: float
) -> np.ndarray:
    """Inverse-CDF draw from N(mean, sd) truncated to [low, high], given uniforms u."""
    a = ndtr((low - mean) / sd)
    b = ndtr((high - mean) / sd)
    values = mean + sd * ndtri(a + u * (b - a))
    return np.clip(values, low, high, out=values)  # rounding at the limits


def _probit_event(
    noise: np.ndarray, severity: np.ndarray, cut: np.ndarray, loading: float
) -> np.ndarray:
    """Events with probability 1 - Phi(cut) whose latent normal correlates `loading` with severity."""
    latent = loading * severity + np.sqrt(1.0 - loading**2) * noise
    return latent > cut


def _log_normal(latent: np.ndarray, name: str, table: ParameterTable) -> np.ndarray:
    """A log-normal covariate from its copula coordinate, bounded to its physiological limits."""
    _, median, sd_log, low, high = LOG_NORMAL[name]
    mu, sigma = np.log(table[median]), table[sd_log]
    low_z = (np.log(table[low]) - mu) / sigma
    high_z = (np.log(table[high]) - mu) / sigma
    values = np.exp(mu + sigma * bounded_latent(latent, low_z, high_z))
    return np.clip(values, table[low], table[high], out=values)  # rounding at the limits


def _age(z: np.ndarray, etiology: np.ndarray, table: ParameterTable) -> np.ndarray:
    """Age: normal by etiology, bounded to age_min-age_max like the log-normal covariates."""
    p = table
    mean = np.array([p["age_mean_ami"], p["age_mean_hf"], p["age_mean_other"]])
    sd = np.array([p["age_sd_ami"], p["age_sd_hf"], p["age_sd_other"]])
    low_z, high_z = (p["age_min"] - mean) / sd, (p["age_max"] - mean) / sd
    bounded = np.empty_like(z)
    for code in range(3):  # three etiologies: three sets of knots, each applied where it belongs
        rows = np.flatnonzero(etiology == code)
        bounded[rows] = bounded_latent(z[rows], low_z[code], high_z[code])
    age = mean[etiology] + sd[etiology] * bounded
    return np.clip(age, p["age_min"], p["age_max"], out=age)  # rounding at the limits


def bounded_latent(
    z: np.ndarray, low_z: float, high_z: float, ratio: float = TAIL_RATIO
) -> np.ndarray:
    """Standard-normal values with their tails compressed, monotonically, into [low_z, high_z].

    Above the knot k (where 1 - Phi(k) = ratio * (1 - Phi(high_z))), z becomes
    -ndtri(m + (1 - 1/ratio) * Phi(-z)), m = 1 - Phi(high_z): k stays k and +inf goes to
    high_z, so the mass above k is spread over (k, high_z] with the normal's shape and
    density ratio / (ratio - 1). The lower tail mirrors it; between the knots z is
    unchanged. Only tail values are transformed, so the cost is small.
    """
    if not low_z < 0.0 < high_z:
        raise ValueError(f"limits must straddle the median, found [{low_z}, {high_z}]")
    out = np.array(z, dtype=float, copy=True)
    share = 1.0 - 1.0 / ratio
    high_mass, low_mass = float(ndtr(-high_z)), float(ndtr(low_z))
    if ratio * max(high_mass, low_mass) >= 0.5:
        raise ValueError("a limit is too close to the median for its tail to be compressed")
    if high_mass > 0.0:
        rows = np.flatnonzero(out > -ndtri(ratio * high_mass))
        out[rows] = np.minimum(-ndtri(high_mass + share * ndtr(-out[rows])), high_z)
    if low_mass > 0.0:
        rows = np.flatnonzero(out < ndtri(ratio * low_mass))
        out[rows] = np.maximum(ndtri(low_mass + share * ndtr(out[rows])), low_z)
    return out
