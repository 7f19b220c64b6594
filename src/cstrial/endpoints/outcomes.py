"""What an analysis at calendar month tau sees of each patient, for each endpoint type.

Patients are (replicates, patients) in enrolment order. A patient counts in a
binary, days-alive-out-of-hospital, organ-support-free-days or hierarchical analysis
once followed up to the endpoint's horizon (and not lost before it); in a
time-to-event analysis every enrolled patient counts, censored at the analysis date
or at dropout.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import numpy as np

from cstrial.design.accrual import DAYS_PER_MONTH
from cstrial.disease.course import Course, days_alive_out_of_hospital, organ_support_free_days
from cstrial.disease.model import death_days, died_by
from cstrial.protocol.models import Endpoint
from cstrial.protocol.vocabulary import ORGAN_SUPPORTS


class TrialCourse:
    """Everything simulated for a chunk of trials, shaped (replicates, patients).

    Deaths are given as days (`death_day`, inf: alive at the model horizon) or as
    the baseline shape G at death (`death_fraction`, `cstrial.disease.model`), whose
    days are computed when first asked for: a binary endpoint needs only whether
    each patient died by its horizon (`died_by`), which G answers without them.
    """

    def __init__(
        self,
        *,
        arms: np.ndarray,
        dropout_day: np.ndarray,
        enrolment_months: np.ndarray,  # (patients,) the same for every replicate, or (R, n)
        patients: Mapping[str, np.ndarray],
        death_day: np.ndarray | None = None,
        death_fraction: np.ndarray | None = None,
        course: Course | None = None,
        excess_infection_day: np.ndarray | None = None,  # infections caused by an arm's harm
    ) -> None:
        if (death_day is None) == (death_fraction is None):
            raise ValueError("give either death_day or death_fraction")
        self.arms = arms
        self.dropout_day = dropout_day
        self.enrolment_months = enrolment_months
        self.patients = patients
        self.course = course
        self.excess_infection_day = excess_infection_day
        self._death_day = death_day
        self._death_fraction = death_fraction
        self._died: dict[float, np.ndarray] = {}  # by horizon: asked for by analysis and tally

    @property
    def enrolment_months_2d(self) -> np.ndarray:
        """Enrolment months as (R, n) or (1, n): broadcast against (R, n) arrays."""
        months = self.enrolment_months
        return months if months.ndim == 2 else months[None, :]

    @property
    def death_day(self) -> np.ndarray:
        """Day of death of each patient (inf: alive at the model horizon)."""
        if self._death_day is None:
            assert self._death_fraction is not None  # one of the two is always given
            self._death_day = death_days(self._death_fraction)
        return self._death_day

    def died_by(self, days: float) -> np.ndarray:
        """Whether each patient died by day `days`: exactly `death_day <= days`."""
        if days not in self._died:
            if self._death_day is not None:
                self._died[days] = self._death_day <= days
            else:
                assert self._death_fraction is not None
                self._died[days] = died_by(self._death_fraction, days)
        return self._died[days]

    @property
    def has_death_days(self) -> bool:
        """Whether days of death are at hand (else only G at death, `death_fractions`)."""
        return self._death_day is not None

    @property
    def death_fractions(self) -> np.ndarray:
        """G at each patient's death (`cstrial.disease.model`); only before days are known."""
        assert self._death_fraction is not None
        return self._death_fraction

    def take(self, rows: np.ndarray) -> TrialCourse:
        """Trials `rows` (copies), in that order."""
        return TrialCourse(
            arms=self.arms[rows],
            death_day=None if self._death_day is None else self._death_day[rows],
            death_fraction=None
            if self._death_day is not None or self._death_fraction is None
            else self._death_fraction[rows],
            dropout_day=self.dropout_day[rows],
            enrolment_months=self.enrolment_months
            if self.enrolment_months.ndim == 1
            else self.enrolment_months[rows],
            patients={k: v[rows] for k, v in self.patients.items()},
            course=None if self.course is None else self.course.rows(rows),
            excess_infection_day=None
            if self.excess_infection_day is None
            else self.excess_infection_day[rows],
        )

    def replicates(self, first: int, last: int) -> TrialCourse:
        """Trials first..last-1 (views; covariates are cut when asked for)."""
        rows = slice(first, last)
        course = self.course
        if course is not None:
            course = course.rows(rows)
        return TrialCourse(
            arms=self.arms[rows],
            death_day=None if self._death_day is None else self._death_day[rows],
            death_fraction=None
            if self._death_day is not None or self._death_fraction is None
            else self._death_fraction[rows],
            dropout_day=self.dropout_day[rows],
            enrolment_months=self.enrolment_months
            if self.enrolment_months.ndim == 1
            else self.enrolment_months[rows],
            patients=_Rows(self.patients, rows),
            course=course,
            excess_infection_day=None
            if self.excess_infection_day is None
            else self.excess_infection_day[rows],
        )


class _Rows(Mapping):
    """Some rows (trials) of each (replicates, patients) covariate array, cut on demand."""

    def __init__(self, patients: Mapping[str, np.ndarray], rows: slice) -> None:
        self._patients = patients
        self._rows = rows

    def __getitem__(self, name: str) -> np.ndarray:
        return self._patients[name][self._rows]

    def __iter__(self) -> Iterator[str]:
        return iter(self._patients)

    def __len__(self) -> int:
        return len(self._patients)


@dataclass(frozen=True)
class Outcome:
    """An endpoint's data at one analysis date: who is in, and their values."""

    include: np.ndarray  # (R, n) bool
    event: np.ndarray  # (R, n) bool: death by the horizon (binary) or an observed death (TTE)
    time: np.ndarray | None = None  # (R, n) days, time-to-event only
    value: np.ndarray | None = None  # (R, n) days alive out of hospital, or OSFD (-1: death)
    components: tuple[tuple[np.ndarray, bool, float], ...] | None = None  # hierarchical


def outcome_at(endpoint: Endpoint, trial: TrialCourse, months: np.ndarray) -> Outcome:
    """`endpoint`'s data at calendar month `months` (shape (R,)) of each replicate."""
    horizon = float(endpoint.horizon_days)
    follow_up = (months[:, None] - trial.enrolment_months_2d) * DAYS_PER_MONTH
    enrolled = follow_up >= 0
    death, dropout = trial.death_day, trial.dropout_day
    kind = endpoint.type
    if kind == "time-to-event":
        end = np.minimum(np.minimum(follow_up, horizon), dropout)
        event = enrolled & (death <= end)
        time = np.where(event, death, np.maximum(end, 1e-9))
        return Outcome(include=enrolled, event=event, time=time)
    # a complete outcome: followed to the horizon (1e-9: float noise at the look's own patient)
    complete = follow_up >= horizon - 1e-9
    observed = dropout >= np.minimum(death, horizon)
    include = complete & observed
    died = death <= horizon
    if kind == "binary":
        return Outcome(include=include, event=died)
    course = trial.course
    assert course is not None, "the disease course is simulated when an endpoint needs it"
    if kind == "organ-support-free-days":
        supports = endpoint.support or ORGAN_SUPPORTS
        osfd = organ_support_free_days(death, course.support_intervals(supports), int(horizon))
        return Outcome(include=include, event=died, value=osfd)
    daoh = days_alive_out_of_hospital(death, course.hospital_discharge_day, horizon)
    if kind == "days-alive-out-of-hospital":
        return Outcome(include=include, event=died, value=daoh)
    components = tuple(
        _component(name, death, course, daoh, horizon) for name in endpoint.components
    )
    return Outcome(include=include, event=died, components=components)


def _component(
    name: str, death: np.ndarray, course: Course, daoh: np.ndarray, horizon: float
) -> tuple[np.ndarray, bool, float]:
    """(values, higher_is_better, threshold) of one hierarchy component (Pocock 2012).

    Event components compare the day of the event: later is better, and no event by
    the horizon is best (horizon + 1).
    """
    if name == "days_alive_out_of_hospital":
        return daoh, True, 0.0
    if name == "death":
        day = death
    elif name == "renal_replacement":
        day = course.rrt_day
    elif name == "mcs_escalation":
        day = course.mcs_escalation_day
    else:  # renal_replacement_or_mcs_escalation: the first of the two
        day = np.minimum(course.rrt_day, course.mcs_escalation_day)
    return np.where(day <= horizon, day, horizon + 1.0), True, 0.0
