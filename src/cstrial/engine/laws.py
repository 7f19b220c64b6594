"""Each arm's exact outcome law in a scenario's enrolled population, by quasi-Monte Carlo.

Enrolled patients are independent draws from the eligible population, so when no
analysis looks at covariates a patient's outcome can be drawn straight from its
arm's marginal law: the survival curve S_a(t) = E[S(t | x, a) | x eligible], the
population average of every patient's own survival under the arm. The
expectation is an integral over the population's twelve latent standard normals
(`cstrial.population.sample.population_from_normals`), computed by randomised
quasi-Monte Carlo: independently scrambled Sobol' points (Owen 1997; scipy.stats.qmc),
whose spread across scramblings estimates the error, doubled until every
tabulated probability is within `LAW_TOLERANCE` (4 estimated SEs). The laws are
properties of the model and the protocol, not of a run: they are drawn from a
fixed seed.

Every arm's hazard depends on a patient only through the linear predictor and IL-6,
so the points are binned on those two (the bins' centroids carry the integrand) and
a law is one weighted sum per grid day, for any number of arms and scenarios: the
points are made once per population (cached). The same points give the eligible
fraction, the baseline shift that calibrates
`control_mortality_30d`, and each arm's true risk, so `true_effect`,
`true_control_rate` and `true_treatment_rate` carry no reference-sample error.

Laws may be split by a categorical covariate (strata: a stratified analysis draws
each patient's stratum, then the outcome from that stratum's law), and within each
stratum by membership of a subgroup (adaptive enrichment: stratum 2s + 1 is stratum
s's members, 2s its others).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from scipy.special import ndtri

from cstrial.disease import (
    MODEL_HORIZON_DAYS,
    baseline_shift,
    cumulative_hazard,
    late_log_ratio,
    linear_predictor,
)
from cstrial.errors import CstrialError
from cstrial.model_parameters import DEFAULT, ModelParameters
from cstrial.population.eligibility import Criteria, check_eligibility, eligible
from cstrial.population.sample import DRAWS, Patients, population_from_normals
from cstrial.protocol.covariates import COVARIATES
from cstrial.protocol.effects import Effect
from cstrial.results import write_bytes_atomic
from cstrial.treatment import hazard_course

LAW_SEED = 20_261_124  # the laws' own fixed seed (cstrial.engine.plan lists the model seeds)
LAW_TOLERANCE = 2e-4  # on every tabulated probability, at 2 estimated SEs (95%)
SCRAMBLINGS = 8  # independent scramblings: their spread is the error estimate
MAX_SCREENED = 1 << 22  # quasi-random patients screened at most (4 million)
CHECK_DAYS = (1.0, 7.0, 30.0, 90.0, 180.0, MODEL_HORIZON_DAYS)  # control survival, checked
BLOCK = 1 << 16  # points made at once
# A hazard course reads a patient through three numbers: the linear predictor, the late
# log ratio and IL-6. Patients are binned on them; a law is a sum over bins at the bins'
# centroids, whose error is second order in the widths (measured: below 2e-5 on any
# probability, against bins half as wide).
ETA_BIN = 0.04
LATE_BIN = 0.1
LOG_IL6_BIN = 0.2

# Days at which survival is tabulated (log S is interpolated linearly between them):
# dense where most deaths fall, the first days; every endpoint's horizon is added.
BASE_GRID = np.unique(
    np.concatenate(
        [
            [0.0],
            np.geomspace(0.01, 30.0, 60),
            np.linspace(30.0, 180.0, 31),
            np.linspace(180.0, MODEL_HORIZON_DAYS, 13),
        ]
    )
)


@dataclass(frozen=True)
class OutcomeLaws:
    """Survival of each arm in each stratum of the enrolled population, on a grid of days.

    `survival[s, a, g]` = P(alive at `days[g]` | stratum s, arm a); `prevalence[s]`
    the stratum's share of the enrolled; `error` the largest estimated SE of any
    tabulated probability. Arms are in the plan's order (control first).
    """

    days: np.ndarray
    survival: np.ndarray
    prevalence: np.ndarray
    strata: str | None
    eligible_fraction: float
    baseline_shift: float
    error: float
    points: int
    subgroup: bool = False  # strata alternate non-members (even) and members (odd)

    @property
    def in_subgroup(self) -> np.ndarray:
        """(S,) whether each stratum is of subgroup members (all False without a subgroup)."""
        members = np.zeros(self.prevalence.size, dtype=bool)
        if self.subgroup:
            members[1::2] = True
        return members

    @property
    def subgroup_share(self) -> float:
        """The subgroup's share of the enrolled population."""
        return float(self.prevalence[self.in_subgroup].sum())

    def stratum_prevalence(self, subgroup_only: bool) -> np.ndarray:
        """Each stratum's share of the population a stage enrols from (the whole, or the
        subgroup only)."""
        if not subgroup_only:
            return self.prevalence
        share = np.where(self.in_subgroup, self.prevalence, 0.0)
        return share / share.sum()

    def analysis_stratum(self, stratum: np.ndarray) -> np.ndarray:
        """The analysis stratum (the `strata` covariate's code) of law strata `stratum`."""
        return stratum // 2 if self.subgroup else stratum

    def risk(self, days: float) -> np.ndarray:
        """P(death by `days`) per stratum and arm, (S, A), by log-linear interpolation."""
        return 1.0 - self.survival_at(np.asarray([days]))[..., 0]

    def marginal_risk(self, days: float) -> np.ndarray:
        """P(death by `days`) per arm over all strata, (A,)."""
        return self.prevalence @ self.risk(days)

    def survival_at(self, days: np.ndarray) -> np.ndarray:
        """S at arbitrary days, (S, A, len(days)): log S is interpolated linearly (exact for a
        constant hazard between grid days), and S is flat beyond the model's horizon."""
        log_s = np.log(np.maximum(self.survival, 1e-300))
        t = np.minimum(np.asarray(days, dtype=float), MODEL_HORIZON_DAYS)
        flat = log_s.reshape(-1, self.days.size)
        out = np.stack([np.interp(t, self.days, row) for row in flat])
        return np.exp(out).reshape(*self.survival.shape[:2], t.size)

    def death_days(self, u: np.ndarray, stratum: np.ndarray | int, arm: np.ndarray) -> np.ndarray:
        """Days of death by inversion of each patient's stratum-arm survival at uniforms `u`
        (inf: alive at the model's horizon), log-linear between grid days. Shapes broadcast;
        `arm` indexes the plan's arms."""
        u = np.asarray(u, dtype=float)
        stratum = np.broadcast_to(np.asarray(stratum), u.shape)
        arm = np.broadcast_to(np.asarray(arm), u.shape)
        days = np.full(u.shape, np.inf)
        cumulative = -np.log(np.maximum(self.survival, 1e-300))  # (S, A, G), increasing
        target = -np.log(np.maximum(u, 1e-300))
        for s in range(self.survival.shape[0]):
            for a in range(self.survival.shape[1]):
                who = (stratum == s) & (arm == a)
                if not who.any():
                    continue
                curve = cumulative[s, a]
                t = target[who]
                # the first grid day at which the cumulative hazard reaches the target
                after = np.searchsorted(curve, t, side="left")
                alive = after >= curve.size
                after = np.minimum(after, curve.size - 1)
                before = np.maximum(after - 1, 0)
                low, high = curve[before], curve[after]
                with np.errstate(invalid="ignore", divide="ignore"):
                    share = np.where(high > low, (t - low) / (high - low), 1.0)
                day = self.days[before] + np.clip(share, 0.0, 1.0) * (
                    self.days[after] - self.days[before]
                )
                days[who] = np.where(alive, np.inf, day)
        return days


def outcome_laws(
    criteria: Criteria,
    effects: tuple[Effect | None, ...],
    *,
    control_mortality_30d: float | None = None,
    strata: str | None = None,
    horizons: tuple[float, ...] = (),
    effect_horizon: float = 30.0,
    subgroup: Criteria | None = None,
    model: ModelParameters = DEFAULT,
    tolerance: float = LAW_TOLERANCE,
) -> OutcomeLaws:
    """The laws of a scenario's arms (`effects`, control first) in its enrolled population.

    With `control_mortality_30d`, the baseline is first shifted so that the control
    arm's mean 30-day risk in the enrolled population equals it. `strata` splits the
    laws by a categorical or boolean covariate; `horizons` are days added to the grid
    (an endpoint's horizon is then tabulated exactly, not interpolated).
    `effect_horizon` is the day at which risk- and odds-ratio effects hold (the primary
    endpoint's horizon). `subgroup` splits each stratum by membership of the subgroup
    its criteria define (`OutcomeLaws.in_subgroup`). `model` overrides parameter values
    (a sensitivity analysis, `cstrial.model_parameters`); the effects are taken as given
    (`ModelParameters.effect` is the plan's to apply). `tolerance` replaces
    `LAW_TOLERANCE` (a sensitivity analysis, whose power has a far larger Monte Carlo
    error, plans many settings at a coarser one).

    Laws are kept in an on-disk cache (`cache_folder`), keyed by the arguments (the
    overridden parameters among them) and by a hash of the model's own source code and
    parameters, so a changed model never reads a stale law; a damaged or missing entry
    is computed again.
    """
    args = (
        _criteria_key(criteria),
        tuple(effects),
        control_mortality_30d,
        strata,
        tuple(horizons),
        float(effect_horizon),
        None if subgroup is None else _criteria_key(subgroup),
        float(tolerance),
        model,
    )
    path = _cache_path(args)
    cached = _read_cached(path) if path is not None else None
    if cached is not None:
        return cached
    laws = _laws(*args)
    if path is not None:
        _write_cached(path, laws)
    return laws


def cache_folder() -> Path | None:
    """Where laws are cached: $CSTRIAL_CACHE_DIR, else ~/.cache/cstrial; None if
    CSTRIAL_CACHE_DIR is empty (no cache)."""
    chosen = os.environ.get("CSTRIAL_CACHE_DIR")
    if chosen == "":
        return None
    base = Path(chosen) if chosen else Path.home() / ".cache" / "cstrial"
    return base / "laws"


@lru_cache(maxsize=1)
def _model_fingerprint() -> str:
    """A hash of everything a law depends on besides its arguments: the model's source
    (population, disease, treatment, the laws themselves) and cstrial's version."""
    import cstrial

    digest = hashlib.sha256(cstrial.__version__.encode())
    root = Path(cstrial.__file__).parent
    for folder in ("population", "disease", "treatment", "protocol"):
        for source in sorted((root / folder).glob("*.py")):
            digest.update(source.read_bytes())
    digest.update(Path(__file__).read_bytes())
    for module in ("parameters.py", "model_parameters.py"):
        digest.update((root / module).read_bytes())
    return digest.hexdigest()


def _cache_path(args: tuple) -> Path | None:
    folder = cache_folder()
    if folder is None:
        return None
    tolerance: float = args[-2]
    model: ModelParameters = args[-1]
    key = json.dumps(
        [_model_fingerprint(), repr(args[0]), [_effect_key(e) for e in args[1]], *args[2:-2]]
        # the default model and tolerance keep the keys laws were cached under before
        + ([] if tolerance == LAW_TOLERANCE else [repr(tolerance)])
        + ([] if model.is_default else [[[n, repr(v)] for n, v in model.overrides]]),
        default=repr,
    )
    return folder / f"{hashlib.sha256(key.encode()).hexdigest()}.npz"


def _effect_key(effect: Effect | None) -> str | None:
    return None if effect is None else effect.model_dump_json()


def _read_cached(path: Path) -> OutcomeLaws | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            return OutcomeLaws(
                days=data["days"],
                survival=data["survival"],
                prevalence=data["prevalence"],
                strata=meta["strata"],
                eligible_fraction=meta["eligible_fraction"],
                baseline_shift=meta["baseline_shift"],
                error=meta["error"],
                points=meta["points"],
                subgroup=bool(meta.get("subgroup", False)),
            )
    except (OSError, KeyError, ValueError):
        return None


def _write_cached(path: Path, laws: OutcomeLaws) -> None:
    """Keep `laws` for the next run (best effort: a cache that cannot be written is skipped)."""
    meta = {
        "strata": laws.strata,
        "eligible_fraction": laws.eligible_fraction,
        "baseline_shift": laws.baseline_shift,
        "error": laws.error,
        "points": laws.points,
        "subgroup": laws.subgroup,
    }
    buffer = io.BytesIO()
    np.savez(
        buffer,
        days=laws.days,
        survival=laws.survival,
        prevalence=laws.prevalence,
        meta=np.array(json.dumps(meta)),
    )
    with contextlib.suppress(OSError, CstrialError):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(buffer.getvalue(), path)


@dataclass(frozen=True)
class _Points:
    """A population's quasi-random eligible patients, binned: per bin its centroid (eta, late
    log ratio and its slope in the shift, IL-6), stratum, and count in each scrambling."""

    eta: np.ndarray
    late: np.ndarray  # the late log ratio at no shift ...
    late_slope: np.ndarray  # ... and its change per unit of baseline shift
    il6: np.ndarray
    stratum: np.ndarray
    counts: np.ndarray  # (scramblings, bins)
    screened: int
    n_strata: int

    @property
    def eligible_fraction(self) -> float:
        return float(self.counts.sum() / self.screened)


class _QuasiPopulation:
    """The model's population at scrambled Sobol' points, made once per process and grown
    on demand: every scenario's laws filter the same points by their own criteria, so a
    run with many scenarios makes the points once. Continuous covariates are kept in
    float32 (the laws' binning is far coarser). `model` gives the population and disease
    tables (its population, disease and late overrides)."""

    def __init__(self, model: ModelParameters = DEFAULT) -> None:
        self.model = model
        self.blocks: list[list[dict[str, np.ndarray]]] = [[] for _ in range(SCRAMBLINGS)]
        self.per_scrambling = 0
        self._engines: list | None = None

    def grow(self, per_scrambling: int) -> None:
        """Make points until each scrambling has `per_scrambling` of them."""
        if self._engines is None:
            from scipy.stats import qmc  # here: only the main process plans

            seeds = np.random.SeedSequence(LAW_SEED).spawn(SCRAMBLINGS)
            self._engines = [
                qmc.Sobol(len(DRAWS), scramble=True, rng=np.random.default_rng(s)) for s in seeds
            ]
        while self.per_scrambling < per_scrambling:
            batch = max(1 << 13, self.per_scrambling)  # doubling keeps 2^k points (balance)
            for r, engine in enumerate(self._engines):
                for start in range(0, batch, BLOCK):
                    z = ndtri(engine.random(min(BLOCK, batch - start))).T
                    patients = population_from_normals(z, self.model.population)
                    block = {
                        k: v.astype(np.float32) if v.dtype == np.float64 else v
                        for k, v in patients.items()
                    }
                    # what the laws read of a patient, whatever the criteria
                    disease, late_table = self.model.disease, self.model.late
                    eta = linear_predictor(patients, disease)
                    late = late_log_ratio(patients, eta, late_table, disease)
                    block[_ETA] = eta
                    block[_LATE] = late
                    block[_SLOPE] = (
                        late_log_ratio(patients, eta + 1.0, late_table, disease) - late
                    ).astype(np.float32)
                    block[_LOG_IL6] = np.log(patients["il6_pg_ml"])
                    self.blocks[r].append(block)
            self.per_scrambling += batch


_POPULATION = _QuasiPopulation()  # the documented model's, kept for the process


def _population(model: ModelParameters) -> _QuasiPopulation:
    """The quasi-random population of `model` (only its population, disease and late
    overrides matter): the documented model's is kept, one other at a time (a sensitivity
    analysis plans its settings one after the other)."""
    key = model.key("population", "disease", "late")
    return _POPULATION if not key else _other_population(key)


@lru_cache(maxsize=1)
def _other_population(key: tuple[tuple[str, float], ...]) -> _QuasiPopulation:
    return _QuasiPopulation(ModelParameters(key))


_ETA, _LATE, _SLOPE, _LOG_IL6 = "_eta", "_late", "_slope", "_log_il6"  # derived, not covariates


@lru_cache(maxsize=16)
def _points(
    key: tuple,
    strata: str | None,
    target: float | None,
    subgroup: tuple | None = None,
    tolerance: float = LAW_TOLERANCE,
    model: ModelParameters = DEFAULT,
) -> _Points:
    criteria = Criteria(inclusion=dict(key[0]), exclusion=dict(key[1]))
    population = _population(model)
    parts: list[tuple[np.ndarray, ...]] = []
    used = 0  # points per scrambling read so far
    # doubling the points until the control arm's survival is known to the tolerance
    # (the other arms' laws are checked again when they are formed)
    want = 1 << 13
    while True:
        population.grow(want)
        for r, blocks in enumerate(population.blocks):
            read = 0
            for block in blocks:
                n = len(block["age"])
                if read >= used and read < want:
                    parts.append(_eligible_part(r, block, criteria, strata, subgroup))
                read += n
        used = want
        screened = used * SCRAMBLINGS
        if _control_error(parts, target, model) <= tolerance / 2 or screened >= MAX_SCREENED:
            break
        want *= 2
    scrambling, eta, late, slope, log_il6, stratum = (
        np.concatenate(c) for c in zip(*parts, strict=True)
    )
    check_eligibility(eta.size / screened)
    codes = np.stack(
        [
            stratum,
            np.floor(eta / ETA_BIN).astype(np.int64),
            np.floor(late / LATE_BIN).astype(np.int64),
            np.floor(log_il6 / LOG_IL6_BIN).astype(np.int64),
        ]
    )
    # one integer per bin, then bins in order of that integer
    low = codes.min(axis=1)
    flat = np.ravel_multi_index(tuple(codes - low[:, None]), tuple(codes.max(axis=1) - low + 1))
    unique, inverse = np.unique(flat, return_inverse=True)
    n_bins = unique.size
    size = np.bincount(inverse, minlength=n_bins)

    def centroid(values: np.ndarray) -> np.ndarray:
        return np.bincount(inverse, values, n_bins) / size

    counts = np.bincount(scrambling * n_bins + inverse, minlength=SCRAMBLINGS * n_bins)
    return _Points(
        eta=centroid(eta),
        late=centroid(late),
        late_slope=centroid(slope),
        il6=np.exp(centroid(log_il6)),
        stratum=np.rint(centroid(stratum)).astype(np.int64),
        counts=counts.reshape(SCRAMBLINGS, n_bins).astype(float),
        screened=screened,
        n_strata=_n_levels(strata) * (1 if subgroup is None else 2),
    )


def _eligible_part(
    r: int,
    block: Mapping[str, np.ndarray],
    criteria: Criteria,
    strata: str | None,
    subgroup: tuple | None = None,
) -> tuple[np.ndarray, ...]:
    """A block's eligible points: scrambling, eta, late log ratio and its slope, log IL-6,
    stratum (twice the covariate's code, plus one for subgroup members, with a subgroup)."""
    keep = eligible(block, criteria)
    eta = block[_ETA][keep]
    stratum = _stratum_codes({k: v[keep] for k, v in block.items() if k in ("age", strata)}, strata)
    if subgroup is not None:
        members = eligible({k: v[keep] for k, v in block.items()}, _criteria_of_key(subgroup))
        stratum = 2 * stratum + members
    return (
        np.full(eta.size, r),
        eta,
        block[_LATE][keep],
        block[_SLOPE][keep].astype(np.float64),
        block[_LOG_IL6][keep],
        stratum,
    )


def _control_error(
    parts: list[tuple[np.ndarray, ...]], target: float | None, model: ModelParameters = DEFAULT
) -> float:
    """The estimated SE of the control arm's survival at `CHECK_DAYS` from the points so far,
    the largest over the strata (each stratum's law is checked on its own points)."""
    scrambling, eta, late, slope = (np.concatenate([p[i] for p in parts]) for i in range(4))
    stratum = np.concatenate([p[5] for p in parts])
    if eta.size < 2 * SCRAMBLINGS:
        return np.inf
    shift = 0.0 if target is None else baseline_shift(eta, target, 30.0)
    days = np.array(CHECK_DAYS)
    hazard = cumulative_hazard(
        np.exp(eta + shift)[:, None],
        days[None, :],
        (late + slope * shift)[:, None],
        model.disease,
        model.late,
    )
    alive = np.exp(-hazard)
    error = 0.0
    for s in np.unique(stratum):
        mine = stratum == s
        groups = [alive[mine & (scrambling == r)] for r in range(SCRAMBLINGS)]
        if min(len(g) for g in groups) < 2:
            return np.inf
        means = np.stack([g.mean(axis=0) for g in groups])  # (R, days)
        error = max(error, float(np.max(np.std(means, axis=0, ddof=1)) / np.sqrt(SCRAMBLINGS)))
    return error


@lru_cache(maxsize=64)
def _laws(
    key: tuple,
    effects: tuple[Effect | None, ...],
    target: float | None,
    strata: str | None,
    horizons: tuple[float, ...],
    effect_horizon: float,
    subgroup: tuple | None = None,
    tolerance: float = LAW_TOLERANCE,
    model: ModelParameters = DEFAULT,
) -> OutcomeLaws:
    # the points are sized on the control arm's law; an active arm's may need more: then
    # the points are made again to a tighter control tolerance (the documented model's
    # laws almost never need it, so their points, and outputs, are those of one pass)
    check = tolerance
    while True:
        points = _points(key, strata, target, subgroup, check, model)
        days, shift, totals, per, error = _sum_laws(
            points, effects, target, horizons, effect_horizon, model
        )
        if 2 * error <= tolerance or points.screened >= MAX_SCREENED:
            break
        check /= 2
    fraction = points.eligible_fraction
    if not 2 * error <= tolerance:
        raise CstrialError(
            f"the arms' outcome laws could not be computed to {tolerance} with "
            f"{points.screened:,} quasi-random patients (estimated error {2 * error:.2g}); "
            f"the eligible fraction is {fraction:.2%}. Widen the inclusion criteria, or set "
            "simulation.sampler: patients"
        )
    pooled = totals.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        survival = per.sum(axis=0) / pooled[:, None, None]
    survival[pooled == 0] = 1.0  # a stratum with no one in it (never drawn)
    survival[:, :, 0] = 1.0  # alive at day 0, exactly
    return OutcomeLaws(
        days=days,
        survival=np.clip(survival, 0.0, 1.0),
        prevalence=pooled / pooled.sum(),
        strata=strata,
        eligible_fraction=fraction,
        baseline_shift=shift,
        error=error,
        points=points.screened,
        subgroup=subgroup is not None,
    )


def _sum_laws(
    points: _Points,
    effects: tuple[Effect | None, ...],
    target: float | None,
    horizons: tuple[float, ...],
    effect_horizon: float,
    model: ModelParameters,
) -> tuple[np.ndarray, float, np.ndarray, np.ndarray, float]:
    """Each scrambling's survival sums per stratum and arm on the grid; the largest
    estimated SE of any law."""
    days = np.unique(np.concatenate([BASE_GRID, [min(h, MODEL_HORIZON_DAYS) for h in horizons]]))
    # calibrated on the bins the laws are summed over: the control arm's 30-day risk is
    # then the target exactly (to the root's tolerance), not merely to the binning error
    pooled_counts = points.counts.sum(axis=0)
    shift = 0.0 if target is None else baseline_shift(points.eta, target, 30.0, pooled_counts)
    h30 = np.exp(points.eta + shift)
    late = points.late + points.late_slope * shift
    # (scramblings, strata, bins): each scrambling's points of each stratum, as weights
    weights = np.zeros((SCRAMBLINGS, points.n_strata, points.eta.size))
    for s in range(points.n_strata):
        weights[:, s] = np.where(points.stratum == s, points.counts, 0.0)
    per = np.empty((SCRAMBLINGS, points.n_strata, len(effects), days.size))
    for a, effect in enumerate(effects):
        course = hazard_course(effect, h30, points.il6, effect_horizon, late=late, model=model)
        alive = np.exp(-course.cumulative_hazard_grid(days))
        per[:, :, a] = weights @ alive  # (R, S, G)
    totals = weights.sum(axis=2)  # (R, S)
    with np.errstate(invalid="ignore", divide="ignore"):
        laws = per / totals[:, :, None, None]
    error = float(np.nanmax(np.nanstd(laws, axis=0, ddof=1)) / np.sqrt(SCRAMBLINGS))
    return days, shift, totals, per, error


def _n_levels(strata: str | None) -> int:
    if strata is None:
        return 1
    covariate = COVARIATES[strata]
    return 2 if covariate.kind == "boolean" else len(covariate.levels)


def _stratum_codes(patients: Patients, strata: str | None) -> np.ndarray:
    n = len(patients["age"])
    if strata is None:
        return np.zeros(n, dtype=np.int64)
    return np.asarray(patients[strata], dtype=np.int64)


def _criteria_key(criteria: Criteria) -> tuple:
    def freeze(mapping: Mapping) -> tuple:
        return tuple(sorted((k, tuple(v)) for k, v in mapping.items()))

    return freeze(criteria.inclusion), freeze(criteria.exclusion)


def _criteria_of_key(key: tuple) -> Criteria:
    return Criteria(inclusion=dict(key[0]), exclusion=dict(key[1]))
