"""Graphical multiple testing: weights on hypotheses, alpha passed along edges.

A graph (Bretz, Maurer, Brannath & Posch 2009) puts weight w_i on each hypothesis H_i
(Σ w_i ≤ 1, so H_i starts at local level w_i·α) and a transition g_ij on each edge
(Σ_j g_ij ≤ 1, g_ii = 0): when H_j is rejected its local level is passed on, a share g_jl
to each H_l, and the graph is updated (their Algorithm 1)

    w_l ← w_l + w_j g_jl,
    g_lk ← (g_lk + g_lj g_jk) / (1 − g_lj g_jl)   (0 if g_lj g_jl = 1),   l ≠ k,

and H_j leaves the graph. The procedure rejects while some remaining H_i has p_i ≤ w_i α;
which of several rejectable hypotheses goes first does not change the result (their
Theorem 1). It is the shortcut of a closed test with weighted Bonferroni intersection
tests, so the familywise error is at most α under any dependence.

Group-sequential graphs (Maurer & Bretz 2013): each H_i has its own alpha-spending
bounds at its local level w_i·α. When H_j is rejected at look k and H_i's level rises,
H_i is tested at its new level with the bounds of that level at every look so far: it
is rejected at look k if Z_il ≥ c_l(w_i α) for some l ≤ k (the bounds c_l(a) being those
the design would have had at level a from the start).

Fixed-sequence testing (weights (1, 0, ..., 0), g_{i,i+1} = 1) and Holm's procedure
(weights 1/m, g_ij = 1/(m − 1)) are special cases, built by `fixed_sequence_graph` and
`holm_graph`. No maintained Python package implements these (R has gMCP and
graphicalMCP), so the algorithm is kept here, in one module.

References: Bretz, Maurer, Brannath & Posch 2009; Burman, Sonesson & Guilbaud 2009;
Maurer & Bretz 2013.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import ndtri

from cstrial.design.boundaries import efficacy_bounds_at
from cstrial.design.integration import check_information
from cstrial.errors import CstrialError

# Weights and transitions are sums of products of user-given numbers: allow rounding.
_TOL = 1e-9


def check_graph(
    weights: ArrayLike,
    transitions: ArrayLike,
    where: str = "endpoints.testing.graph",
) -> tuple[np.ndarray, np.ndarray]:
    """Validate a graph and return (weights (m,), transitions (m, m)) as float arrays.

    Raises `CstrialError` listing every problem, each with its field path under
    ``where`` (the protocol's ``endpoints.testing.graph``), e.g. "endpoints.testing.
    graph.weights must sum to at most 1, found 1.2".
    """
    problems: list[str] = []
    w = np.asarray(weights, dtype=float)
    g = np.asarray(transitions, dtype=float)
    if w.ndim != 1 or w.size == 0:
        raise CstrialError(
            f"{where}.weights must be a list with one weight per hypothesis, found shape {w.shape}"
        )
    m = w.size
    if g.shape != (m, m):
        raise CstrialError(
            f"{where}.transitions must be a {m} x {m} matrix (one row of {m} per hypothesis, "
            f"as there are {m} weights), found shape {g.shape}"
        )
    if not np.all(np.isfinite(w)):
        problems.append(f"{where}.weights must be finite numbers, found {w.tolist()}")
    for i in np.flatnonzero(w < 0):
        problems.append(f"{where}.weights[{i}] must be >= 0, found {w[i]:g}")
    if np.all(np.isfinite(w)) and w.sum() > 1.0 + _TOL:
        problems.append(f"{where}.weights must sum to at most 1, found {w.sum():.6g}")
    if not np.all(np.isfinite(g)):
        problems.append(f"{where}.transitions must be finite numbers")
    for i, j in zip(*np.nonzero(g < 0), strict=True):
        problems.append(f"{where}.transitions[{i}][{j}] must be >= 0, found {g[i, j]:g}")
    for i in np.flatnonzero(np.diag(g) != 0):
        problems.append(
            f"{where}.transitions[{i}][{i}] must be 0 (no edge from a hypothesis to itself), "
            f"found {g[i, i]:g}"
        )
    sums = g.sum(axis=1)
    for i in np.flatnonzero(sums > 1.0 + _TOL):
        problems.append(
            f"{where}.transitions[{i}] (the edges leaving hypothesis {i}) must sum to at "
            f"most 1, found {sums[i]:.6g}"
        )
    if problems:
        raise CstrialError(
            "the testing graph is invalid:\n" + "\n".join(f"  • {p}" for p in problems)
        )
    return w.copy(), g.copy()


def fixed_sequence_graph(m: int) -> tuple[np.ndarray, np.ndarray]:
    """Fixed-sequence (hierarchical) testing of H_1, ..., H_m as a graph.

    All of α on H_1, and each edge H_i → H_{i+1} carries everything (g_{i,i+1} = 1).
    """
    if m < 1:
        raise CstrialError(f"a fixed sequence needs at least one hypothesis, found {m}")
    w = np.zeros(m)
    w[0] = 1.0
    g = np.zeros((m, m))
    g[np.arange(m - 1), np.arange(1, m)] = 1.0
    return w, g


def holm_graph(m: int) -> tuple[np.ndarray, np.ndarray]:
    """Holm's procedure as a graph: weights 1/m, and g_ij = 1/(m − 1) for i ≠ j."""
    if m < 1:
        raise CstrialError(f"Holm's procedure needs at least one hypothesis, found {m}")
    w = np.full(m, 1.0 / m)
    g = np.zeros((m, m)) if m == 1 else np.full((m, m), 1.0 / (m - 1))
    np.fill_diagonal(g, 0.0)
    return w, g


def _update(w: np.ndarray, g: np.ndarray, rows: np.ndarray, j: np.ndarray) -> None:
    """Remove H_j from the graphs of replicates ``rows`` in place (Algorithm 1)."""
    n = rows.size
    if n == 0:
        return
    at = np.arange(n)
    ws, gs = w[rows], g[rows]
    g_jl = gs[at, j, :]  # edges leaving j
    g_lj = gs[at, :, j]  # edges entering j
    w_new = ws + ws[at, j][:, None] * g_jl
    numerator = gs + g_lj[:, :, None] * g_jl[:, None, :]
    denominator = 1.0 - g_lj * g_jl  # one per row l
    ok = denominator > _TOL
    g_new = np.where(ok[:, :, None], numerator / np.where(ok, denominator, 1.0)[:, :, None], 0.0)
    m = w.shape[1]
    g_new[:, np.arange(m), np.arange(m)] = 0.0
    g_new[at, j, :] = 0.0
    g_new[at, :, j] = 0.0
    w_new[at, j] = 0.0
    w[rows], g[rows] = w_new, g_new


@dataclass(frozen=True, eq=False)
class GraphResult:
    """Decisions of a graphical test per replicate and hypothesis.

    ``rejected`` (R, m) says whether H_i was rejected by the last look; ``look`` (R, m)
    is the index (0-based) of the look at which it was rejected, −1 if it was not.
    ``weights`` (R, m) are the final weights (0 for rejected hypotheses).
    """

    rejected: np.ndarray
    look: np.ndarray
    weights: np.ndarray


class _Bounds:
    """Efficacy bounds at any local level, cached: c_l(a) for one hypothesis' looks."""

    def __init__(self, looks: np.ndarray, efficacy: str, parameter: float | None) -> None:
        self.looks = looks
        self.efficacy = efficacy
        self.parameter = parameter
        self.cache: dict[float, np.ndarray] = {}

    def __call__(self, level: float) -> np.ndarray:
        key = float(f"{level:.12g}")
        if key not in self.cache:
            if key <= 0.0:
                bounds = np.full(self.looks.size, np.inf)
            elif self.looks.size == 1:
                bounds = np.array([-ndtri(key)])
            else:
                bounds = efficacy_bounds_at(self.looks, key, self.efficacy, self.parameter)
            self.cache[key] = bounds
        return self.cache[key]


def graph_rejections(
    z: ArrayLike,
    weights: ArrayLike,
    transitions: ArrayLike,
    alpha: float,
    *,
    looks: Sequence[float] | ArrayLike | None = None,
    efficacy: str = "lan-demets-obrien-fleming",
    efficacy_parameter: float | None = None,
) -> GraphResult:
    """Which hypotheses a (group-sequential) graphical procedure rejects, and when.

    Parameters
    ----------
    z
        One-sided z statistics: (R, m) for a single analysis, or cumulative z per look
        (R, K, m) for a group-sequential design; NaN where a statistic was not
        observed (it then never crosses).
    weights, transitions
        The graph: initial weights (m,) and transition matrix (m, m), checked by
        `check_graph`.
    alpha
        One-sided familywise error rate.
    looks
        Information fractions (K,) shared by the hypotheses, or one row per hypothesis
        (m, K); each must end at 1.0. Needed when K > 1.
    efficacy, efficacy_parameter
        The alpha-spending family of every hypothesis' bounds (Maurer & Bretz 2013);
        at local level a the bounds are `efficacy_bounds_at(looks, a, ...)`.

    With one look, H_i is rejected when p_i ≤ w_i·α (Bretz et al. 2009). With K looks,
    at each look k the procedure rejects, one at a time, any remaining H_i with
    Z_il ≥ c_l(w_i α) for some l ≤ k, updating the graph after each rejection, until
    none is left to reject at that look; then it moves to look k + 1.

    References: Bretz, Maurer, Brannath & Posch 2009; Maurer & Bretz 2013.
    """
    w0, g0 = check_graph(weights, transitions)
    if not 0.0 < alpha < 0.5:
        raise CstrialError(f"alpha (one-sided) must lie in (0, 0.5), found {alpha}")
    zz = np.asarray(z, dtype=float)
    m = w0.size
    if zz.ndim == 2:
        zz = zz[:, None, :]
    if zz.ndim != 3 or zz.shape[2] != m:
        raise CstrialError(
            f"z must have shape (R, m) or (R, K, m) with m = {m} hypotheses (one per graph "
            f"weight), found {np.shape(z)}"
        )
    r, k_max, _ = zz.shape
    bounds = _bounds_per_hypothesis(looks, k_max, m, efficacy, efficacy_parameter)

    w = np.broadcast_to(w0, (r, m)).copy()
    g = np.broadcast_to(g0, (r, m, m)).copy()
    look = np.full((r, m), -1)
    for k in range(k_max):
        for _ in range(m):
            crossing = np.zeros((r, m), dtype=bool)
            for i in range(m):
                active = look[:, i] < 0
                if not np.any(active):
                    continue
                levels = w[active, i] * alpha
                unique, inverse = np.unique(np.round(levels, 15), return_inverse=True)
                table = np.array([bounds[i](a)[: k + 1] for a in unique])  # (n_levels, k+1)
                with np.errstate(invalid="ignore"):
                    hit = zz[active, : k + 1, i] >= table[inverse]
                crossing[active, i] = hit.any(axis=1)
            has = crossing.any(axis=1)
            if not np.any(has):
                break
            rows = np.flatnonzero(has)
            j = np.argmax(crossing[rows], axis=1)  # the first rejectable: order is immaterial
            look[rows, j] = k
            _update(w, g, rows, j)
    return GraphResult(rejected=look >= 0, look=look, weights=w)


def _bounds_per_hypothesis(
    looks: Sequence[float] | ArrayLike | None,
    k_max: int,
    m: int,
    efficacy: str,
    parameter: float | None,
) -> list[_Bounds]:
    if looks is None:
        if k_max > 1:
            raise CstrialError(
                f"z has {k_max} looks: give looks, the information fractions of the analyses"
            )
        t = np.ones((m, 1))
    else:
        t = np.asarray(looks, dtype=float)
        if t.ndim == 1:
            t = np.broadcast_to(t, (m, t.size))
        if t.shape != (m, k_max):
            raise CstrialError(
                f"looks must have one fraction per look ({k_max}), or one row of them per "
                f"hypothesis ({m} x {k_max}), found shape {t.shape}"
            )
        for i in range(m):
            row = check_information(t[i], name="looks")
            if abs(row[-1] - 1.0) > 1e-9 or np.any(row > 1.0 + 1e-12):
                raise CstrialError(
                    f"looks must be information fractions ending at 1.0, found {row.tolist()}"
                )
    return [_Bounds(np.array(t[i]), efficacy, parameter) for i in range(m)]
