"""The win ratio of a hierarchical composite, with the Finkelstein–Schoenfeld test.

Every pair of included patients is compared on the first component: i beats j if
x_i > x_j + threshold (orienting x so higher is better). A pair separated by no
more than the threshold, or with either value NaN (not assessable), is tied on
the component and goes on to the next; a pair tied on every component is a tie.
(A difference exactly equal to a positive threshold is a tie here; BuyseTest
counts it as a win.) Values are compared as given, with no censoring-aware rule
(Gehan, Péron): give time-to-event components at a common horizon.
From these pairwise scores u_ij in {+1, 0, −1}:

* wins / losses / ties count the treatment-versus-control pairs (Pocock et al.
  2012, the unmatched approach);
* the Finkelstein–Schoenfeld (1999) statistic is T = sum over treated i of U_i,
  U_i = sum over all included j of u_ij; T equals wins − losses (the
  within-treatment scores cancel). Under the null hypothesis that outcomes are
  exchangeable between arms, its permutation variance is
  n_t n_c / (N (N − 1)) * sum_i U_i^2, and z = T / sqrt(var). This is a test of no
  difference (variance computed under the null), not a Wald statistic for
  log(win ratio), so no confidence interval for the win ratio is given.

Two exact routes to the same numbers:

* a hierarchy of threshold-0 components is a lexicographic order whenever NaN
  only ever meets NaN (each group of patients tied on the earlier components is
  all-NaN or NaN-free on the next, as for a score recorded only in survivors
  after death); then one sort per replicate gives every count (O(n log n)), and
  T and its variance are those of the Wilcoxon rank-sum test on the
  lexicographic ranks;
* otherwise (a threshold > 0, or NaN against a value in that replicate) the
  n × n pairwise scores are formed, replicates processed in blocks sized so the
  working arrays stay near `_BLOCK_BYTES`.

References: Pocock, Ariti, Collier & Wang 2012, Eur Heart J 33:176; Finkelstein &
Schoenfeld 1999, Stat Med 18:1341; Buyse 2010, Stat Med 29:3245 (net benefit);
Brunner, Vandemeulebroecke & Mütze 2021, Stat Med 40:3367 (win odds).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from cstrial.analysis._inputs import arms, patient_array, same_shape
from cstrial.analysis.result import TestResult, no_evidence_is_zero
from cstrial.errors import CstrialError

# bytes of pairwise working arrays per block (four bool masks per pair): with the
# inputs, a call with R = 1000, n = 600 peaks near 250 MB.
_BLOCK_BYTES = 192 * 2**20
_BYTES_PER_PAIR = 4


@dataclass(frozen=True)
class WinRatioResult(TestResult):
    """Per-replicate win statistics, each an array of shape (R,).

    estimate = win_ratio = wins / losses (inf if no losses, NaN if neither);
    win_odds = (wins + ties / 2) / (losses + ties / 2);
    net_benefit = (wins − losses) / (n_t n_c), the win difference (both also in `extra`);
    z = the Finkelstein–Schoenfeld statistic, > 0 favouring treatment (0 if no evidence);
    wins, losses, ties = counts of treatment-versus-control pairs.
    """

    wins: np.ndarray = None  # type: ignore[assignment]
    losses: np.ndarray = None  # type: ignore[assignment]
    ties: np.ndarray = None  # type: ignore[assignment]

    @property
    def win_ratio(self) -> np.ndarray:
        return self.estimate

    @property
    def win_odds(self) -> np.ndarray:
        return self.extra["win_odds"]

    @property
    def net_benefit(self) -> np.ndarray:
        return self.extra["net_benefit"]


def win_ratio(
    components: Sequence[tuple[np.ndarray, bool, float]],
    treated: np.ndarray,
    include: np.ndarray | None = None,
) -> WinRatioResult:
    """Pocock's unmatched win ratio over a hierarchy of components, with the F–S z.

    Parameters
    ----------
    components : in order of priority, (values (R, n) float, higher_is_better,
        threshold >= 0). NaN marks a value that is not assessable: a pair with a
        NaN on a component is tied on it and goes on to the next one.
    treated : (R, n) bool.
    include : (R, n) bool, patients in the analysis (default all).
    """
    levels = _oriented_levels(components)
    treated, include = arms(treated, include, levels[0][0].shape)
    return _win_ratio(levels, treated, include, pairwise=None)


def _win_ratio(
    levels: list[tuple[np.ndarray, float]],
    treated: np.ndarray,
    include: np.ndarray,
    pairwise: bool | None,
) -> WinRatioResult:
    """`win_ratio` on checked inputs; `pairwise=None` picks the route (tests force one)."""
    treatment = treated & include
    control = include & ~treated
    # excluded patients become NaN: every comparison with them is a tie, their U_i is 0
    masked = [(np.where(include, values, np.nan), threshold) for values, threshold in levels]
    if pairwise is None:
        pairwise = any(t > 0 for _, t in masked)
    if pairwise:
        t_minus_l, decided, scores_squared = _pairwise_statistics(masked, treatment, control)
    else:
        t_minus_l, decided, scores_squared, ordered = _lexicographic_statistics(
            [v for v, _ in masked], treatment, control
        )
        if not ordered.all():  # the rows whose NaN break the order are compared pair by pair
            rows = ~ordered
            fallback = _pairwise_statistics(
                [(v[rows], t) for v, t in masked], treatment[rows], control[rows]
            )
            t_minus_l[rows], decided[rows], scores_squared[rows] = fallback

    n_t = treatment.sum(axis=1).astype(float)
    n_c = control.sum(axis=1).astype(float)
    n = n_t + n_c
    pairs = n_t * n_c
    wins = (decided + t_minus_l) / 2.0
    losses = (decided - t_minus_l) / 2.0
    ties = pairs - decided
    with np.errstate(divide="ignore", invalid="ignore"):
        variance = pairs / (n * (n - 1.0)) * scores_squared
        z = t_minus_l / np.sqrt(variance)
        ratio = wins / losses
        odds = (wins + ties / 2.0) / (losses + ties / 2.0)
        net_benefit = t_minus_l / pairs
    return WinRatioResult(
        z=no_evidence_is_zero(z, variance > 0),
        estimate=ratio,
        extra={"win_odds": odds, "net_benefit": net_benefit},
        wins=wins,
        losses=losses,
        ties=ties,
    )


def _oriented_levels(
    components: Sequence[tuple[np.ndarray, bool, float]],
) -> list[tuple[np.ndarray, float]]:
    """Each component as (values oriented so higher is better, threshold), checked."""
    if len(components) == 0:
        raise CstrialError(
            "components is empty: give at least one (values, higher_is_better, threshold)"
        )
    levels: list[tuple[np.ndarray, float]] = []
    for k, component in enumerate(components):
        try:
            values, higher_is_better, threshold = component
        except (TypeError, ValueError):
            raise CstrialError(
                f"components[{k}] must be a tuple (values, higher_is_better, threshold)"
            ) from None
        values = patient_array(f"components[{k}] values", values)
        if levels:
            same_shape(f"components[{k}] values", values, levels[0][0].shape)
        threshold = float(threshold)
        if not threshold >= 0.0:
            raise CstrialError(f"components[{k}] threshold must be >= 0, found {threshold}")
        levels.append((values if higher_is_better else -values, threshold))
    return levels


def _lexicographic_statistics(
    levels: list[np.ndarray], treatment: np.ndarray, control: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """wins − losses, wins + losses, sum_i U_i^2, and where they hold, for threshold-0 levels.

    Patients are sorted by their components (the first most significant), each
    component keyed by (not assessable, value). Where every earlier tie group is
    all-NaN or NaN-free on each component (e.g. a score missing exactly for the
    patients who died, after death), the pairwise comparison is this lexicographic
    order; `ordered` is False for replicates where it is not. Runs of equal keys are
    tie groups g; with t_g, c_g its treated and control patients, wins = sum_g t_g
    (controls below g), losses = sum_g c_g (treated below g), and every member of g
    has U = (patients below g) − (patients above g).
    """
    n_reps, n_patients = treatment.shape
    excluded = ~(treatment | control)
    keys = [excluded]  # excluded patients sort last, as one group of no one
    for values in levels:
        missing = np.isnan(values)
        keys += [missing, np.where(missing, 0.0, values)]
    order = np.lexsort(keys[::-1], axis=1)  # lexsort's last key is the primary one

    def changes(key: np.ndarray) -> np.ndarray:
        ordered_key = np.take_along_axis(key, order, axis=1)
        return ordered_key[:, 1:] != ordered_key[:, :-1]

    boundary = changes(excluded)  # between adjacent sorted patients: not tied so far
    ordered = np.ones(n_reps, bool)
    for missing, values in zip(keys[1::2], keys[2::2], strict=True):
        missing_changes = changes(missing)
        ordered &= ~(missing_changes & ~boundary).any(axis=1)
        boundary |= missing_changes | changes(values)
    new_group = np.ones((n_reps, n_patients), bool)
    new_group[:, 1:] = boundary
    group = np.cumsum(new_group, axis=1) - 1 + (np.arange(n_reps) * n_patients)[:, None]
    size = n_reps * n_patients

    def per_group(members: np.ndarray) -> np.ndarray:
        weights = np.take_along_axis(members, order, axis=1).ravel().astype(float)
        return np.bincount(group.ravel(), weights, minlength=size).reshape(n_reps, n_patients)

    t_g = per_group(treatment)
    c_g = per_group(control)
    t_below = np.cumsum(t_g, axis=1) - t_g
    c_below = np.cumsum(c_g, axis=1) - c_g
    wins = (t_g * c_below).sum(axis=1)
    losses = (c_g * t_below).sum(axis=1)
    n_g = t_g + c_g
    below = t_below + c_below
    above = n_g.sum(axis=1, keepdims=True) - below - n_g
    scores_squared = (n_g * (below - above) ** 2).sum(axis=1)
    return wins - losses, wins + losses, scores_squared, ordered


def _pairwise_statistics(
    levels: list[tuple[np.ndarray, float]], treatment: np.ndarray, control: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """wins − losses, wins + losses and sum_i U_i^2 from the n × n pairwise scores."""
    n_reps, n_patients = treatment.shape
    block = max(1, min(n_reps, _BLOCK_BYTES // (_BYTES_PER_PAIR * n_patients**2)))
    # (4, block, n, n) bool work arrays allocated once: fresh pages cost more than the work
    buffers = np.empty((4, block, n_patients, n_patients), bool)
    out = np.empty((3, n_reps))
    for lo in range(0, n_reps, block):
        rows = slice(lo, min(lo + block, n_reps))
        out[:, rows] = _pairwise_block(
            [(v[rows], t) for v, t in levels],
            treatment[rows],
            control[rows],
            buffers[:, : rows.stop - rows.start],
        )
    return out[0], out[1], out[2]


def _pairwise_block(
    levels: list[tuple[np.ndarray, float]],
    treatment: np.ndarray,
    control: np.ndarray,
    buffers: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The pairwise statistics of a block of b replicates; `buffers` is (4, b, n, n) bool."""
    beats, undecided, above, below = buffers  # beats_ij: i won on the first separating component
    beats[...] = False
    undecided[...] = True
    for values, threshold in levels:
        # NaN compares False both ways: not assessable is a tie on this component
        np.greater(values[:, :, None], values[:, None, :] + threshold, out=above)
        np.less(values[:, :, None] + threshold, values[:, None, :], out=below)
        below |= above  # separated on this component
        above &= undecided
        beats |= above
        np.logical_not(below, out=below)
        undecided &= below
    # U_i = sum_j (beats_ij − beats_ji); excluded patients never win or lose
    u = (np.count_nonzero(beats, axis=2) - np.count_nonzero(beats, axis=1)).astype(float)
    np.logical_and(beats, treatment[:, :, None], out=above)
    above &= control[:, None, :]
    wins = np.count_nonzero(above, axis=(1, 2)).astype(float)
    np.logical_and(beats, control[:, :, None], out=below)
    below &= treatment[:, None, :]
    losses = np.count_nonzero(below, axis=(1, 2)).astype(float)
    return wins - losses, wins + losses, (u**2).sum(axis=1)
