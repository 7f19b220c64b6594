"""The proportional-odds (cumulative logit) model for an ordinal outcome, batched over trials.

For patient i with ordinal outcome Y_i (higher = better, e.g. organ-support-free days with
death as the worst category) the model is

    logit P(Y_i <= j) = alpha_j - (beta * treated_i + gamma' x_i),   j = 1, ..., J - 1,

MASS::polr's and ordinal::clm's parametrisation: beta > 0 shifts treated patients to
higher (better) categories, and exp(beta) is the common odds ratio of a better outcome
on treatment, > 1 favouring treatment as REMAP-CAP reports it.

Every replicate is fitted at once by Newton–Raphson on the log-likelihood, which is
concave in (alpha, beta, gamma) (Pratt 1981), from the pooled cumulative logits with no
effects: a step that lowers a replicate's log-likelihood, or leaves its cut-points
unordered, is halved (up to `_MAX_HALVINGS` times), and a replicate has converged when
its Newton step is below `_STEP_TOL` relative to its parameters. The information matrix
is arrowhead-shaped (the cut-points' block is tridiagonal), so each step solves the
cut-points by the Thomas algorithm and the q effects through their q x q Schur
complement, whose inverse is also the effects' covariance. Without covariates the data
are each replicate's 2 x J table of counts (arm by category), so the cost does not grow
with the number of patients; with covariates they are the included patients, sorted by
replicate and category, whose sums per category are taken in one pass
(``np.add.reduceat``), block by block of replicates to stay in cache.

Categories. Each replicate is fitted on the categories observed in it, as R's
``polr(factor(y) ~ ...)`` and ``clm`` do: a category no included patient falls in has no
cut-point of its own (the maximum likelihood puts the two cut-points around it together,
and the fit is that on the remaining categories). Categories empty in one arm only are
fitted as they are.

No evidence. A replicate is not fitted, and gets NaN in log_or, se, z and odds_ratio
with converged False (as `logistic_adjusted` and `cox_treatment` code it; the engine's
bounds are never crossed by NaN), when an arm is empty, when all the included patients
share one category, or when the arms are separated: every treated patient in a
category at least as good as every control patient's, or the reverse (then the
likelihood increases without bound in beta, and no finite estimate exists). An arm
entirely in one *interior* category, with the other arm on both sides of it, does have a
finite estimate, and is fitted. With covariates, separation by the covariates, a
covariate constant among a replicate's included patients (a singular information
matrix), or no convergence within `_MAX_ITER` iterations also give NaN.

The standard error is from the observed information at the estimate (the inverse of the
negative Hessian of the log-likelihood), which is what ``vcov(polr(..., Hess = TRUE))``
and ``vcov(clm(...))`` report; z = beta / se is the Wald statistic, > 0 favouring
treatment.

References: McCullagh 1980, JRSS-B 42:109; Pratt 1981, JASA 76:103 (concavity);
Agresti 2010, Analysis of Ordinal Categorical Data (2nd ed.), ch. 3; Venables & Ripley
2002, Modern Applied Statistics with S, §7.3 (polr); REMAP-CAP Investigators 2021,
NEJM 384:1491 (organ-support-free days analysed by a cumulative logistic model).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cstrial.analysis._inputs import arms, patient_array
from cstrial.analysis.logistic import _nonsingular
from cstrial.analysis.result import TestResult, no_evidence_is_zero
from cstrial.errors import CstrialError

_MAX_ITER = 50
_MAX_HALVINGS = 30
_STEP_TOL = 1e-10
#: |u| and |l| are clipped here before exponentiating (e^700 < the largest double).
_EDGE = 700.0
#: Records evaluated together: small enough for the temporaries to stay in cache.
_BLOCK_RECORDS = 16384


@dataclass(frozen=True)
class ProportionalOddsResult(TestResult):
    """Per-replicate results, each an array of shape (R,).

    estimate : the common odds ratio exp(log_or) of a better outcome, > 1 favouring
        treatment (as REMAP-CAP reports);
    z : log_or / se, the Wald z, > 0 favouring treatment;
    log_or, se : the treatment coefficient beta and its SE from the observed information;
    converged : False where the replicate has no evidence or the fit failed (see the
        module docstring); log_or, se and the estimate are NaN and z is 0 there
        (`cstrial.analysis.result`);
    iterations : Newton–Raphson iterations taken (0 where the replicate was not fitted).
    """

    log_or: np.ndarray = None  # type: ignore[assignment]
    se: np.ndarray = None  # type: ignore[assignment]
    iterations: np.ndarray = None  # type: ignore[assignment]

    @property
    def odds_ratio(self) -> np.ndarray:
        return self.estimate


def proportional_odds(
    outcome: np.ndarray,
    treated: np.ndarray,
    include: np.ndarray | None = None,
    covariates: np.ndarray | None = None,
    levels: np.ndarray | None = None,
) -> ProportionalOddsResult:
    """The common odds ratio of a better outcome on treatment, batched over replicate trials.

    Parameters
    ----------
    outcome : (R, n) ordinal outcome, higher = better (e.g. OSFD, -1 = death, 0..21 days);
        any numbers, ordered by value; values of excluded patients are ignored.
    treated : (R, n) bool.
    include : (R, n) bool, patients in the analysis (default all).
    covariates : (R, n, p) float, categorical ones already dummy-coded; None or p = 0
        for the model with the arm alone.
    levels : the possible outcome values, increasing (default: those observed among the
        included patients); an included value outside them is an error.

    The model, its fit and how replicates without evidence are coded are described in
    the module docstring. References: McCullagh 1980; Agresti 2010, ch. 3.
    """
    outcome = np.asarray(outcome)
    outcome = patient_array("outcome", outcome, int if outcome.dtype.kind in "iub" else float)
    treated, include = arms(treated, include, outcome.shape)
    n_reps = outcome.shape[0]
    codes, n_levels = _level_codes(outcome, include, levels)
    x = _covariates(covariates, outcome.shape, include)

    # (R, 2, L) counts: arm (0 control, 1 treated) by outcome level
    flat = (np.arange(n_reps)[:, None] * 2 + treated) * n_levels + codes
    counts = np.bincount(flat[include], minlength=n_reps * 2 * n_levels).reshape(
        n_reps, 2, n_levels
    )
    fit = _has_evidence(counts)

    log_or = np.full(n_reps, np.nan)
    se = np.full(n_reps, np.nan)
    converged = np.zeros(n_reps, bool)
    iterations = np.zeros(n_reps, np.int64)
    rows = np.flatnonzero(fit)
    if rows.size:
        present = counts[rows].sum(axis=1) > 0
        records: _TableRecords | _PatientRecords
        if x is None:
            records = _table_records(counts[rows], present)
        else:
            records = _patient_records(rows, codes, treated, include, x, present)
        beta, beta_se, ok, its = _fit(records)
        log_or[rows] = np.where(ok, beta, np.nan)
        se[rows] = np.where(ok, beta_se, np.nan)
        converged[rows] = ok
        iterations[rows] = its
    return ProportionalOddsResult(
        z=no_evidence_is_zero(log_or / se),
        estimate=np.exp(log_or),
        converged=converged,
        log_or=log_or,
        se=se,
        iterations=iterations,
    )


# --------------------------------------------------------------------------- inputs


def _level_codes(
    outcome: np.ndarray, include: np.ndarray, levels: np.ndarray | None
) -> tuple[np.ndarray, int]:
    """Each patient's outcome as the index of its level (0 for the excluded), and L."""
    if levels is not None:
        values = np.asarray(levels, dtype=float)
        if values.ndim != 1 or values.size == 0 or not np.isfinite(values).all():
            raise CstrialError(
                f"levels must be a 1-d array of finite outcome values, found {levels!r}"
            )
        if (np.diff(values) <= 0).any():
            raise CstrialError(
                f"levels must be strictly increasing (worst to best), found {values.tolist()}"
            )
    if not include.any():
        return np.zeros(outcome.shape, np.intp), 1 if levels is None else values.size
    if np.issubdtype(outcome.dtype, np.integer):
        # integer outcomes (OSFD): a lookup table over [min, max] instead of a sort
        low = int(np.min(outcome, where=include, initial=np.iinfo(outcome.dtype).max))
        high = int(np.max(outcome, where=include, initial=np.iinfo(outcome.dtype).min))
        if high - low < 2**16:
            offset = np.where(include, outcome - low, 0)
            if levels is None:
                seen = np.bincount(offset[include], minlength=high - low + 1) > 0
                values = np.flatnonzero(seen) + float(low)
            lookup = np.full(high - low + 1, -1, np.intp)
            inside = (values >= low) & (values <= high) & (values == np.round(values))
            lookup[(values[inside] - low).astype(np.intp)] = np.flatnonzero(inside)
            codes = lookup[offset]
            _check_known(outcome, include & (codes < 0), values)
            return np.where(include, codes, 0), values.size
    observed = outcome[include].astype(float)
    if not np.isfinite(observed).all():
        raise CstrialError(
            "outcome is NaN or infinite for some included patients; drop them with "
            "include=, or code them as a category (e.g. death as the worst)"
        )
    if levels is None:
        values = np.unique(observed)
    codes = np.clip(np.searchsorted(values, outcome), 0, values.size - 1)
    _check_known(outcome, include & (values[codes] != outcome), values)
    return np.where(include, codes, 0), values.size


def _check_known(outcome: np.ndarray, unknown: np.ndarray, values: np.ndarray) -> None:
    if unknown.any():
        r, i = np.argwhere(unknown)[0]
        raise CstrialError(
            f"outcome {outcome[r, i]} (replicate {r}, patient {i}) is not one of levels "
            f"{values.tolist()}; add it to levels, or leave levels out to use the values "
            "observed"
        )


def _covariates(
    covariates: np.ndarray | None, shape: tuple[int, int], include: np.ndarray
) -> np.ndarray | None:
    """The covariates as a float (R, n, p) array, checked; None if there are none."""
    if covariates is None:
        return None
    x = np.asarray(covariates, dtype=float)
    if x.ndim == 2:
        raise CstrialError(
            f"covariates must be 3-d (replicates, patients, covariates), found shape "
            f"{x.shape}; for one covariate pass covariates[..., None]"
        )
    if x.ndim != 3 or x.shape[:2] != shape:
        raise CstrialError(f"covariates must have shape {(*shape, 'p')}, found {x.shape}")
    if x.shape[2] == 0:
        return None
    if (include & ~np.isfinite(x).all(axis=2)).any():
        raise CstrialError(
            "covariates are NaN or infinite for some included patients; drop them with "
            "include=, or impute before the analysis"
        )
    return x


def _has_evidence(counts: np.ndarray) -> np.ndarray:
    """Replicates with both arms, two or more categories and overlapping arms: (R,) bool."""
    n_levels = counts.shape[2]
    present = counts > 0  # (R, 2, L)
    both_arms = np.all(np.any(present, axis=2), axis=1)
    lowest = np.argmax(present, axis=2)  # per arm
    highest = n_levels - 1 - np.argmax(present[:, :, ::-1], axis=2)
    # quasi-complete separation: one arm entirely at or above the other's best category
    overlap = (lowest[:, 1] < highest[:, 0]) & (lowest[:, 0] < highest[:, 1])
    return both_arms & overlap


# --------------------------------------------------------------------------- records
#
# The data of S replicates as records, each with a category (0..J_r - 1 among its
# replicate's observed categories), a weight and a design row (the arm first). Two
# layouts share one interface: ``bounds`` gives each record's u = alpha_k - eta and
# l = alpha_(k-1) - eta, ``category_sums`` and ``replicate_sums`` add record values up.


@dataclass
class _TableRecords:
    """The 2 x J table of each replicate: cells (S, Jc, 2), category by arm, dense.

    counts : (S, Jc, 2) float, categories compacted to the observed ones (Jc the most in
    any replicate; columns beyond a replicate's J_r are empty); n_cuts : (S,) J_r - 1.
    """

    counts: np.ndarray
    n_cuts: np.ndarray

    def __post_init__(self) -> None:
        self.weight = self.counts.reshape(-1)
        self.x = np.tile([0.0, 1.0], self.weight.size // 2)[None]  # (1, N): the arm
        self.xx = self.x  # its square: the arm is 0 or 1

    def bounds(self, cuts: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n_cats = self.counts.shape[1]
        # a column beyond the replicate's categories spans the whole line: p = 1, and it
        # is empty, so it adds nothing
        active = np.arange(n_cats) < self.n_cuts[:, None] + 1
        lower = np.where(active, cuts[:, :n_cats], -np.inf)[:, :, None]
        upper = np.where(active, cuts[:, 1 : n_cats + 1], np.inf)[:, :, None]
        eta = np.zeros((b.shape[0], 1, 2))
        eta[:, 0, 1] = b[:, 0]
        return (upper - eta).reshape(-1), (lower - eta).reshape(-1)

    def category_sums(self, values: np.ndarray, n_cats: int) -> np.ndarray:
        cells = values.reshape(values.shape[0], *self.counts.shape)
        # two adds of strided views: a reduction over a length-2 axis is ~30x slower
        sums = (cells[..., 0] + cells[..., 1]).transpose(1, 2, 0)
        return sums if sums.shape[1] == n_cats else _pad_categories(sums, n_cats)

    def replicate_sums(self, values: np.ndarray) -> np.ndarray:
        return values.reshape(self.counts.shape[0], -1).sum(axis=1)

    def subset(self, keep: np.ndarray) -> _TableRecords:
        return self if keep.all() else _TableRecords(self.counts[keep], self.n_cuts[keep])

    def blocks(self) -> list[tuple[slice, _TableRecords]]:
        """Runs of replicates with about `_BLOCK_RECORDS` cells each, and their tables."""
        n_reps, n_cats, _ = self.counts.shape
        size = max(1, _BLOCK_RECORDS // (2 * n_cats))
        if n_reps <= size:
            return [(slice(0, n_reps), self)]
        return [
            (
                slice(r, r + size),
                _TableRecords(self.counts[r : r + size], self.n_cuts[r : r + size]),
            )
            for r in range(0, n_reps, size)
        ]


@dataclass
class _PatientRecords:
    """The included patients of each replicate, sorted by (replicate, category), weight 1.

    rep, cat : (N,); x : (q, N) the design rows, transposed (arm, then covariates);
    starts : (G,) the first record of each (replicate, category) group, and
    group_rep, group_cat : (G,) that group's replicate and category; n_cuts : (S,).
    """

    rep: np.ndarray
    cat: np.ndarray
    x: np.ndarray
    xx: np.ndarray
    starts: np.ndarray
    group_rep: np.ndarray
    group_cat: np.ndarray
    n_cuts: np.ndarray
    weight = None  # every record weighs 1

    @classmethod
    def build(cls, rep, cat, x, n_cuts, xx=None) -> _PatientRecords:
        key = rep * (int(n_cuts.max(initial=0)) + 1) + cat
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if key.size else key
        if xx is None:
            iu, ju = np.triu_indices(x.shape[0])
            xx = x[iu] * x[ju]
        return cls(rep, cat, x, xx, starts, rep[starts], cat[starts], n_cuts)

    def bounds(self, cuts: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        eta = self.x[0] * b[self.rep, 0]
        for j in range(1, self.x.shape[0]):
            eta += self.x[j] * b[self.rep, j]
        return cuts[self.rep, self.cat + 1] - eta, cuts[self.rep, self.cat] - eta

    def category_sums(self, values: np.ndarray, n_cats: int) -> np.ndarray:
        sums = np.zeros((self.n_cuts.size, n_cats, len(values)))
        sums[self.group_rep, self.group_cat] = np.add.reduceat(values, self.starts, axis=1).T
        return sums

    def replicate_sums(self, values: np.ndarray) -> np.ndarray:
        return np.bincount(self.rep, values, minlength=self.n_cuts.size)

    def subset(self, keep: np.ndarray) -> _PatientRecords:
        if keep.all():
            return self
        new_index = np.cumsum(keep) - 1
        on = keep[self.rep]
        return _PatientRecords.build(
            new_index[self.rep[on]], self.cat[on], self.x[:, on], self.n_cuts[keep], self.xx[:, on]
        )

    def blocks(self) -> list[tuple[slice, _PatientRecords]]:
        """Runs of whole replicates with about `_BLOCK_RECORDS` records each.

        Evaluating block by block keeps the temporaries in cache: with ~600,000 records
        the arithmetic is bound by memory traffic, and blocks make it ~3x faster.
        """
        n_reps = self.n_cuts.size
        if self.rep.size <= _BLOCK_RECORDS:
            return [(slice(0, n_reps), self)]
        first = np.searchsorted(self.rep, np.arange(n_reps + 1))  # each replicate's records
        out = []
        r = 0
        while r < n_reps:
            end = max(r + 1, int(np.searchsorted(first, first[r] + _BLOCK_RECORDS, "right")) - 1)
            end = min(end, n_reps)
            a, b = first[r], first[end]
            groups = slice(*np.searchsorted(self.group_rep, [r, end]))
            block = _PatientRecords(
                self.rep[a:b] - r,
                self.cat[a:b],
                self.x[:, a:b],
                self.xx[:, a:b],
                self.starts[groups] - a,
                self.group_rep[groups] - r,
                self.group_cat[groups],
                self.n_cuts[r:end],
            )
            out.append((slice(r, end), block))
            r = end
        return out


def _pad_categories(sums: np.ndarray, n_cats: int) -> np.ndarray:
    out = np.zeros((sums.shape[0], n_cats, sums.shape[2]))
    out[:, : sums.shape[1]] = sums
    return out


def _table_records(counts: np.ndarray, present: np.ndarray) -> _TableRecords:
    """The tables with each replicate's observed categories moved to the front."""
    n_cuts = present.sum(axis=1) - 1
    order = np.argsort(~present, axis=1, kind="stable")[:, : int(n_cuts.max()) + 1]
    compacted = np.take_along_axis(counts, order[:, None, :], axis=2)  # (S, 2, Jc)
    return _TableRecords(np.ascontiguousarray(compacted.transpose(0, 2, 1), float), n_cuts)


def _patient_records(
    rows: np.ndarray,
    codes: np.ndarray,
    treated: np.ndarray,
    include: np.ndarray,
    covariates: np.ndarray,
    present: np.ndarray,
) -> _PatientRecords:
    """Records of the included patients of replicates `rows`, sorted by (replicate, category).

    The covariates are centred within each replicate: that changes only the cut-points
    (alpha absorbs the shift), not beta or its SE, and keeps the information well
    conditioned.
    """
    n_reps, n_levels = present.shape
    compact = np.cumsum(present, axis=1) - 1
    included = include[rows]
    category = np.take_along_axis(compact, codes[rows], axis=1)
    # the excluded sort last in each row; a stable sort keeps the patients' order
    key = np.where(included, category, n_levels).astype(np.int16 if n_levels < 2**15 else int)
    order = np.argsort(key, axis=1, kind="stable")
    kept = np.take_along_axis(included, order, axis=1)
    rep = np.broadcast_to(np.arange(n_reps)[:, None], order.shape)[kept]
    patient = order[kept]
    x = np.empty((1 + covariates.shape[2], rep.size))
    x[0] = treated[rows[rep], patient]
    x[1:] = covariates[rows[rep], patient].T
    size = np.bincount(rep, minlength=n_reps)
    for column in x[1:]:
        column -= (np.bincount(rep, column, minlength=n_reps) / size)[rep]
    return _PatientRecords.build(rep, category[rep, patient], x, present.sum(axis=1) - 1)


# --------------------------------------------------------------------------- fit


@dataclass
class _Derivatives:
    """The log-likelihood of S replicates, its score and its information.

    With P = Jm + q parameters (Jm cut-points, then the q effects, the arm first), the
    information (negative Hessian) is held by its blocks: ``diag`` (S, Jm) and ``off``
    (S, Jm - 1), the tridiagonal cut-point block; ``cross`` (S, Jm, q), cut-points by
    effects; ``effects`` (S, q, q).
    """

    loglik: np.ndarray
    score: np.ndarray
    diag: np.ndarray
    off: np.ndarray
    cross: np.ndarray
    effects: np.ndarray

    def replace(self, rows: np.ndarray, other: _Derivatives) -> None:
        """Overwrite the replicates `rows` (indices) with those of `other`."""
        for name in _DERIVATIVE_FIELDS:
            getattr(self, name)[rows] = getattr(other, name)

    def take(self, rows: np.ndarray) -> _Derivatives:
        """The replicates `rows` (indices)."""
        return _Derivatives(*(getattr(self, name)[rows] for name in _DERIVATIVE_FIELDS))


_DERIVATIVE_FIELDS = ("loglik", "score", "diag", "off", "cross", "effects")


def _extended_cuts(alpha: np.ndarray, n_cuts: np.ndarray) -> np.ndarray:
    """(S, Jm + 2): -inf, the active cut-points, then +inf (also for the inactive ones)."""
    n_reps, jm = alpha.shape
    cuts = np.empty((n_reps, jm + 2))
    cuts[:, 0] = -np.inf
    cuts[:, 1:-1] = np.where(np.arange(jm) < n_cuts[:, None], alpha, np.inf)
    cuts[:, -1] = np.inf
    return cuts


def _evaluate(records: _TableRecords | _PatientRecords, theta: np.ndarray) -> _Derivatives:
    """The log-likelihood at `theta` (S, Jm + q), with its score and information."""
    parts = [_evaluate_block(block, theta[rows]) for rows, block in records.blocks()]
    if len(parts) == 1:
        return parts[0]
    return _Derivatives(
        *(np.concatenate([getattr(p, f) for p in parts]) for f in _DERIVATIVE_FIELDS)
    )


def _evaluate_block(records: _TableRecords | _PatientRecords, theta: np.ndarray) -> _Derivatives:
    """`_evaluate` on one block of replicates.

    For a record in category k, with u = alpha_k - eta and l = alpha_(k-1) - eta (alpha_-1
    = -inf, alpha_(J-1) = +inf), the logistic F, f = F(1 - F), f' = f (1 - 2F) and
    p = F(u) - F(l), the log-likelihood log p has d/d alpha_k = f(u)/p, d/d alpha_(k-1) =
    -f(l)/p and d/d eta = -(f(u) - f(l))/p, and the second derivatives follow by the
    quotient rule. The sums over the records of a category are taken in one pass.
    """
    n_reps = theta.shape[0]
    x, w = records.x, records.weight
    q = x.shape[0]
    jm = theta.shape[1] - q
    u, lower = records.bounds(_extended_cuts(theta[:, :jm], records.n_cuts), theta[:, jm:])
    # two exponentials give F and 1 - F at u and l to full relative precision (expit of
    # each sign would take four); clipping at +-700 keeps them finite for the end
    # categories' infinite cut-points and moves F by less than 1e-300
    e_u = np.exp(-np.clip(u, -_EDGE, _EDGE))
    e_l = np.exp(-np.clip(lower, -_EDGE, _EDGE))
    f_u = 1.0 / (1.0 + e_u)
    f_mu = e_u * f_u
    f_l = 1.0 / (1.0 + e_l)
    f_ml = e_l * f_l
    # p = F(u) - F(l) = F(u) F(-l) (1 - e^(l - u)), without cancellation in either tail;
    # unordered cut-points (l >= u) give a width <= 0, and a log-likelihood NaN or -inf
    with np.errstate(over="ignore"):
        width = 1.0 - e_u / e_l
    with np.errstate(invalid="ignore", divide="ignore"):
        log_p = np.log(f_u * f_ml * width)
    loglik = records.replicate_sums(log_p if w is None else w * log_p)

    with np.errstate(invalid="ignore", divide="ignore"):
        upper_ratio = f_mu / (f_ml * width)  # f(u)/p; 0 at u = +inf
        lower_ratio = f_l / (f_u * width)  # f(l)/p; 0 at l = -inf
    upper_slope = upper_ratio * (f_mu - f_u)  # f'(u)/p
    lower_slope = lower_ratio * (f_ml - f_l)  # f'(l)/p
    net = upper_ratio - lower_ratio
    iu, ju = np.triu_indices(q)
    # rows: 0-4 the cut-point terms, then upper x b, lower x b, score of b, b x b; each
    # an information (negative second derivative) or a score, times the record's weight
    n_rows = 5 + 3 * q + iu.size
    values = np.empty((n_rows, u.size))
    values[0] = upper_ratio
    values[1] = -lower_ratio
    values[2] = upper_ratio**2 - upper_slope
    values[3] = lower_ratio**2 + lower_slope
    values[4] = -upper_ratio * lower_ratio
    values[5 : 5 + q] = (upper_slope - upper_ratio * net) * x
    values[5 + q : 5 + 2 * q] = (lower_ratio * net - lower_slope) * x
    values[5 + 2 * q : 5 + 3 * q] = -net * x
    values[5 + 3 * q :] = (net**2 - upper_slope + lower_slope) * records.xx
    if w is not None:
        values *= w
    sums = records.category_sums(values, jm + 1)

    # cut-point k is the upper cut of category k and the lower cut of category k + 1
    totals = sums.sum(axis=1)
    score = np.concatenate(
        [sums[:, :-1, 0] + sums[:, 1:, 1], totals[:, 5 + 2 * q : 5 + 3 * q]], axis=1
    )
    diag = sums[:, :-1, 2] + sums[:, 1:, 3]
    off = sums[:, 1:-1, 4]
    cross = sums[:, :-1, 5 : 5 + q] + sums[:, 1:, 5 + q : 5 + 2 * q]
    effects = np.empty((n_reps, q, q))
    effects[:, iu, ju] = totals[:, 5 + 3 * q :]
    effects[:, ju, iu] = totals[:, 5 + 3 * q :]
    # cut-points beyond a replicate's own (J_r - 1) are inactive: no score, unit diagonal
    inactive = np.arange(jm) >= records.n_cuts[:, None]
    score[:, :jm][inactive] = 0.0
    diag[inactive] = 1.0
    return _Derivatives(loglik, score, diag, off, cross, effects)


def _tridiagonal_solve(diag: np.ndarray, off: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve T y = rhs for symmetric positive-definite tridiagonal T, batched.

    diag (S, m), off (S, m - 1), rhs (S, m, k). The Thomas algorithm (Gaussian
    elimination without pivoting, stable for positive-definite T): a loop over the m
    rows, vectorised over the S replicates and k right-hand sides.
    """
    m = diag.shape[1]
    d = diag.copy()
    y = rhs.copy()
    for i in range(1, m):
        factor = off[:, i - 1] / d[:, i - 1]
        d[:, i] -= factor * off[:, i - 1]
        y[:, i] -= factor[:, None] * y[:, i - 1]
    y[:, m - 1] /= d[:, m - 1, None]
    for i in range(m - 2, -1, -1):
        y[:, i] = (y[:, i] - off[:, i, None] * y[:, i + 1]) / d[:, i, None]
    return y


def _newton(derivatives: _Derivatives) -> tuple[np.ndarray, np.ndarray]:
    """The Newton steps I^-1 U (S, P) and the profiled information of the effects (S, q, q).

    I = [[T, C], [C', E]] with T tridiagonal (the cut-points): eliminating them leaves
    the Schur complement E - C' T^-1 C, the information of the effects with the
    cut-points profiled out, whose inverse is the effects' block of I^-1 (the covariance
    of beta and gamma). Replicates whose information is singular (a covariate constant or
    collinear within the replicate) or not finite get a NaN step.
    """
    d = derivatives
    jm = d.diag.shape[1]
    q = d.effects.shape[1]
    score_cuts, score_effects = d.score[:, :jm], d.score[:, jm:]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        solved = _tridiagonal_solve(
            d.diag, d.off, np.concatenate([score_cuts[..., None], d.cross], axis=2)
        )
        t_score, t_cross = solved[..., 0], solved[..., 1:]
        profiled = d.effects - np.einsum("rkq,rks->rqs", d.cross, t_cross)
        rhs = score_effects - np.einsum("rkq,rk->rq", d.cross, t_score)
    ok = _nonsingular(np.where(np.isfinite(profiled), profiled, 0.0)) & np.isfinite(profiled).all(
        axis=(1, 2)
    )
    safe = np.where(ok[:, None, None], profiled, np.eye(q))
    step_effects = np.linalg.solve(safe, np.where(ok[:, None], rhs, 0.0)[..., None])[..., 0]
    step_cuts = t_score - np.einsum("rkq,rq->rk", t_cross, step_effects)
    step = np.concatenate([step_cuts, step_effects], axis=1)
    step[~ok] = np.nan
    return step, profiled


def _fit(
    records: _TableRecords | _PatientRecords,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Batched Newton–Raphson with step-halving: beta, se, converged, iterations (S,).

    Each iteration evaluates the log-likelihood and its derivatives once, at the trial
    point, which serve the next Newton step when the point is accepted. A replicate has
    converged when its full Newton step is below `_STEP_TOL` relative to its parameters:
    that step is taken (squaring the error of the estimate), and the SE is from the
    information just before it, which the step moves by as little.
    """
    n_reps = records.n_cuts.size
    jm = int(records.n_cuts.max())
    q = records.x.shape[0]
    # start: the pooled cumulative logits as cut-points, no effects
    share = records.category_sums(
        np.ones((1, records.x.shape[1])) if records.weight is None else records.weight[None],
        jm + 1,
    )[:, :, 0]
    cumulative = np.cumsum(share, axis=1)[:, :-1] / share.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        alpha = np.log(cumulative) - np.log1p(-cumulative)
    theta = np.zeros((n_reps, jm + q))
    theta[:, :jm] = np.where(np.arange(jm) < records.n_cuts[:, None], alpha, 0.0)

    converged = np.zeros(n_reps, bool)
    iterations = np.zeros(n_reps, np.int64)
    profiled = np.full((n_reps, q, q), np.nan)
    work = np.arange(n_reps)  # replicates still iterating
    sub = records
    now = _evaluate(records, theta)
    while work.size:
        step, information = _newton(now)
        th = theta[work]
        solvable = np.isfinite(step).all(axis=1)
        small = solvable & (np.abs(step).max(axis=1) <= _STEP_TOL * (1.0 + np.abs(th).max(axis=1)))
        converged[work[small]] = True
        profiled[work[small]] = information[small]
        theta[work[small]] = th[small] + step[small]
        # given up: a singular information, or no convergence in _MAX_ITER iterations
        # (as under separation by the covariates, where a coefficient runs off)
        keep = solvable & ~small & (iterations[work] < _MAX_ITER)
        if not keep.any():
            break
        rows = np.flatnonzero(keep)
        work, sub, now, th, step = (
            work[rows],
            sub.subset(keep),
            now.take(rows),
            th[rows],
            step[rows],
        )
        new = th + step
        trial = _evaluate(sub, new)
        floor = now.loglik - 1e-12 * np.abs(now.loglik)
        for _ in range(_MAX_HALVINGS):
            worse = ~(trial.loglik >= floor)  # also catches NaN: unordered cut-points
            if not worse.any():
                break
            rows = np.flatnonzero(worse)
            step[rows] /= 2.0
            new[rows] = th[rows] + step[rows]
            trial.replace(rows, _evaluate(sub.subset(worse), new[rows]))
        iterations[work] += 1
        moving = trial.loglik >= floor  # the others could not improve: given up
        theta[work[moving]] = new[moving]
        rows = np.flatnonzero(moving)
        work, sub, now = work[rows], sub.subset(moving), trial.take(rows)

    beta = theta[:, jm]
    safe = np.where(converged[:, None, None], profiled, np.eye(q))
    variance = np.linalg.inv(safe)[:, 0, 0]
    converged &= variance > 0
    se = np.where(converged, np.sqrt(np.abs(variance)), np.nan)
    return beta, se, converged, iterations
