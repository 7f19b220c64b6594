"""Binary counts at every look at once, for looks that see the first patients in enrolment order.

A look at a fixed calendar month counts a binary outcome of the patients followed
to the horizon by then: with accrual the same for every replicate, those are the
first m_k patients of each trial. So the four counts of every look (patients and
deaths, control and treatment) come from one count of each trial's patients by
stretch between looks and category: one pass over the patients for all looks
instead of one per look. The counts are integers, so the statistics are exactly
those of `outcome_at` and `analyse`.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from cstrial.analysis import two_proportion_z
from cstrial.design.accrual import DAYS_PER_MONTH
from cstrial.endpoints.analyse import AnalysisResult
from cstrial.endpoints.outcomes import TrialCourse

# A patient's category: 1 control, 2 treatment (0: neither, or lost to follow-up), +4 if died.
_CATEGORIES = 8


def followed_prefixes(
    enrolment_months: np.ndarray, look_months: np.ndarray, horizon_days: float
) -> tuple[int, ...] | None:
    """Patients followed to the horizon at each look, if they are the first ones enrolled.

    The same test as `outcome_at` (followed up for at least the horizon, less 1e-9 of
    float noise), per patient; None if some look's followed patients are not a prefix.
    """
    prefixes = []
    for month in look_months:
        follow_up = (month - enrolment_months) * DAYS_PER_MONTH
        complete = follow_up >= horizon_days - 1e-9
        m = int(np.count_nonzero(complete))
        if not complete[:m].all():
            return None
        prefixes.append(m)
    return tuple(prefixes)


def two_proportion_by_look(
    trial: TrialCourse, horizon_days: float, arm: int, prefixes: tuple[int, ...]
) -> list[AnalysisResult]:
    """The two-proportion test of `arm` against control (arm 0) at each look.

    At look k a patient counts if among the first `prefixes[k]` (followed up) and
    not lost to follow-up before death or the horizon; the event is death by the
    horizon. Equals `analyse(endpoint, outcome_at(endpoint, trial, month), trial, arm)`.
    """
    replicates, n = trial.arms.shape
    died = trial.died_by(horizon_days)
    control, treated = trial.arms == 0, trial.arms == arm
    if np.isfinite(trial.dropout_day).any():
        observed = trial.dropout_day >= np.minimum(trial.death_day, horizon_days)
        control &= observed
        treated &= observed
    t = treated.view(np.uint8)
    code = control.view(np.uint8) + t + t + died.view(np.uint8) * np.uint8(4)
    ordered = tuple(sorted(prefixes))
    slots = _slots(replicates, n, ordered)
    stretches = len(ordered) + 1
    counts = np.bincount((slots + code).ravel(), minlength=replicates * stretches * _CATEGORIES)
    by_look = counts.reshape(replicates, stretches, _CATEGORIES)[:, :-1].cumsum(axis=1)
    by_look = by_look[:, [ordered.index(m) for m in prefixes]]
    e_c, e_t = by_look[..., 5], by_look[..., 6]
    n_c, n_t = by_look[..., 1] + e_c, by_look[..., 2] + e_t
    n_c, n_t, e_c, e_t = (x.astype(np.int32) for x in (n_c, n_t, e_c, e_t))
    z, estimate = two_proportion_z(e_c, n_c, e_t, n_t)
    return [
        AnalysisResult(z[:, k], estimate[:, k], n_c[:, k], n_t[:, k], e_c[:, k], e_t[:, k])
        for k in range(len(prefixes))
    ]


@lru_cache(maxsize=8)
def _slots(replicates: int, n: int, prefixes: tuple[int, ...]) -> np.ndarray:
    """Each patient's first bincount slot: trial, then the stretch between (sorted) looks it is in."""
    stretch = np.searchsorted(np.asarray(prefixes), np.arange(n), side="right")
    trial = np.arange(replicates)[:, None] * (len(prefixes) + 1)
    slots = ((trial + stretch[None, :]) * _CATEGORIES).astype(np.int32)
    slots.setflags(write=False)
    return slots
