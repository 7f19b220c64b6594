"""The rows a chunk writes: trials.parquet's and patients.parquet's, and their declared schemas.

Every column follows from the scenario plans (looks, the primary analysis's
extra estimates, secondary endpoints, dropout, harms, the disease course), so a
file's schema is declared before the first chunk is simulated; a scenario that
lacks a column another has gets nulls there (`cstrial.results.conform`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from cstrial.disease.course import Course
from cstrial.endpoints import TrialCourse
from cstrial.engine.decide import DECISIONS, column_means
from cstrial.engine.plan import Comparison, ScenarioPlan
from cstrial.engine.summary import ComparisonTally
from cstrial.protocol.covariates import COVARIATES
from cstrial.protocol.vocabulary import ANALYSES

_ARROW_TYPES = {"numeric": pa.float64(), "boolean": pa.bool_(), "categorical": pa.string()}


@dataclass(frozen=True)
class ComparisonRows:
    """One comparison's trials as arrays in replicate order: what trials.parquet holds of them.

    `stop_look` is 0-based; `z` holds every look of the design (NaN after the stop),
    `n_looks_out` columns wide; `secondary` maps each secondary endpoint to
    (z, estimate, reject) at the primary's stopping date.
    """

    sims: np.ndarray
    decision: np.ndarray  # int8 codes into DECISIONS
    stop_look: np.ndarray
    n_enrolled: np.ndarray
    n_control: np.ndarray
    n_treatment: np.ndarray
    events_control: np.ndarray
    events_treatment: np.ndarray
    z: np.ndarray
    estimate: np.ndarray
    p_value: np.ndarray
    duration: np.ndarray
    extra: dict[str, np.ndarray] = field(default_factory=dict)
    secondary: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = field(default_factory=dict)
    failed_fits: int = 0  # primary analyses, at looks reached, whose fit did not converge
    # the design's own columns (`cstrial.engine.decide.Design.columns`), and n_screened
    rule_columns: dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def concat(cls, parts: Sequence[ComparisonRows]) -> ComparisonRows:
        """The rows of `parts`, one after another."""
        if len(parts) == 1:
            return parts[0]

        def join(name: str) -> np.ndarray:
            return np.concatenate([getattr(p, name) for p in parts])

        first = parts[0]
        return cls(
            **{
                name: join(name)
                for name in (
                    "sims",
                    "decision",
                    "stop_look",
                    "n_enrolled",
                    "n_control",
                    "n_treatment",
                    "events_control",
                    "events_treatment",
                    "z",
                    "estimate",
                    "p_value",
                    "duration",
                )
            },
            extra={k: np.concatenate([p.extra[k] for p in parts]) for k in first.extra},
            secondary={
                k: tuple(  # type: ignore[misc]
                    np.concatenate([p.secondary[k][i] for p in parts]) for i in range(3)
                )
                for k in first.secondary
            },
            failed_fits=sum(p.failed_fits for p in parts),
            rule_columns={
                k: np.concatenate([p.rule_columns[k] for p in parts]) for k in first.rule_columns
            },
        )

    def tally(
        self,
        n_looks: int,
        arms: tuple[int, int, int, int],
        log_scale: bool = False,
        log_secondaries: frozenset[str] = frozenset(),
    ) -> ComparisonTally:
        """These trials' additive contribution to the summary. Ratio estimates (the
        primary's if `log_scale`, the secondaries named in `log_secondaries`) are summed
        as logarithms, so their summary means are geometric means."""
        return ComparisonTally.of_trials(
            n_looks,
            decision=self.decision,
            stop_look=self.stop_look,
            n_enrolled=self.n_enrolled,
            duration=self.duration,
            estimate=self.estimate,
            arms=arms,
            failed_fits=self.failed_fits,
            secondary={
                k: (reject, _log(est) if k in log_secondaries else est)
                for k, (_, est, reject) in self.secondary.items()
            },
            log_scale=log_scale,
            means=column_means(self.rule_columns),
        )


def trials_schema(plans: Sequence[ScenarioPlan], n_looks: int) -> pa.Schema:
    """trials.parquet's columns: the contract's, then each scenario's extra estimates and
    secondary endpoints in order of first appearance."""
    fields = [
        ("scenario", pa.string()),
        ("comparison", pa.string()),
        ("sim", pa.int64()),
        ("decision", pa.string()),
        ("stop_look", pa.int16()),
        ("n_enrolled", pa.int32()),
        ("n_control", pa.int32()),
        ("n_treatment", pa.int32()),
        ("events_control", pa.int32()),
        ("events_treatment", pa.int32()),
        *[(f"z_look_{k + 1}", pa.float64()) for k in range(n_looks)],
        ("estimate", pa.float64()),
        ("estimate_scale", pa.string()),
        ("p_value", pa.float64()),
        ("duration_months", pa.float64()),
    ]
    for plan in plans:
        fields += [(name, pa.float64()) for name in ANALYSES[plan.primary.analysis].extras]
        if plan.design is not None:
            fields += plan.design.columns()
        if plan.assurance is not None:
            fields.append((plan.assurance.column, pa.float64()))
        if plan.subgroup is not None:
            fields.append(("n_screened", pa.float64()))
        for endpoint in plan.secondaries:
            fields += [
                (f"{endpoint.name}_z", pa.float64()),
                (f"{endpoint.name}_estimate", pa.float64()),
                (f"{endpoint.name}_reject", pa.bool_()),
            ]
    return _unique(fields)


def trials_table(
    plan: ScenarioPlan, comparison: Comparison, rows: ComparisonRows, n_looks: int
) -> pa.Table:
    """One comparison's rows of trials.parquet (its own columns; the file's are the union)."""
    n = rows.sims.size
    columns = {
        "scenario": pa.repeat(pa.scalar(plan.name, pa.string()), n),
        "comparison": pa.repeat(pa.scalar(comparison.label, pa.string()), n),
        "sim": pa.array(rows.sims),
        "decision": pa.array(np.asarray(DECISIONS, dtype=object)[rows.decision], pa.string()),
        "stop_look": pa.array((rows.stop_look + 1).astype(np.int16)),
        "n_enrolled": pa.array(rows.n_enrolled.astype(np.int32)),
        "n_control": pa.array(rows.n_control),
        "n_treatment": pa.array(rows.n_treatment),
        "events_control": pa.array(rows.events_control),
        "events_treatment": pa.array(rows.events_treatment),
        **{f"z_look_{k + 1}": _nullable(rows.z[:, k]) for k in range(n_looks)},
        "estimate": _nullable(rows.estimate),
        "estimate_scale": pa.repeat(
            pa.scalar(ANALYSES[plan.primary.analysis].scale, pa.string()), n
        ),
        "p_value": _nullable(rows.p_value),
        "duration_months": pa.array(rows.duration),
        **{name: _nullable(values) for name, values in rows.extra.items()},
        **{name: _column(values) for name, values in rows.rule_columns.items()},
    }
    for name, (z, estimate, reject) in rows.secondary.items():
        columns[f"{name}_z"] = _nullable(z)
        columns[f"{name}_estimate"] = _nullable(estimate)
        columns[f"{name}_reject"] = pa.array(reject)
    return pa.table(columns)


def patients_schema(plans: Sequence[ScenarioPlan]) -> pa.Schema:
    """patients.parquet's columns, from what the scenarios simulate."""
    fields = [
        ("scenario", pa.string()),
        ("sim", pa.int64()),
        ("patient", pa.int32()),
        ("arm", pa.string()),
        ("enrolment_month", pa.float64()),
        ("enrolled", pa.bool_()),
        *[(name, _ARROW_TYPES[c.kind]) for name, c in COVARIATES.items()],
        ("death", pa.bool_()),
        ("death_day", pa.float64()),
        ("observed", pa.bool_()),
    ]
    for plan in plans:
        if plan.dropout_per_day > 0:
            fields.append(("dropout_day", pa.float64()))
        if any(getattr(e, "infection_hazard_ratio", 1.0) > 1.0 for e in plan.effects):
            fields.append(("excess_infection_day", pa.float64()))
        if plan.needs_course:
            fields += [(name, pa.float64()) for name in Course.__dataclass_fields__]
    return _unique(fields)


def patients_table(
    plan: ScenarioPlan, trial: TrialCourse, sims: np.ndarray, keep: int, stop_months: np.ndarray
) -> pa.Table:
    """The first `keep` trials' patients: covariates, arm, enrolment, outcome days and flags.

    The patients of every stage the trial reached are listed (not those enrolled while
    its last interim's outcomes matured: no analysis saw them, so they are not drawn);
    `enrolled` marks those enrolled by the date the trial stopped (its last comparison,
    in a multi-arm trial): all of them, but for a time-to-event trial, whose whole
    enrolment is drawn at once. `death_day` is the simulated
    day of death to the model horizon (NaN: alive then); `death` is death by the
    primary endpoint's horizon.
    """
    n = trial.arms.shape[1]  # the patients of the stages the trials reached
    # a stage is as wide as its largest trial's; no one (-1) fills the others' columns
    real = trial.arms[:keep].reshape(-1) >= 0
    m = int(real.sum())

    def flat(values: np.ndarray) -> np.ndarray:
        return values[:keep].reshape(-1)[real]

    months = np.broadcast_to(trial.enrolment_months_2d[:, :n], (trial.arms.shape[0], n))
    patient = np.cumsum(trial.arms[:keep] >= 0, axis=1).astype(np.int32)
    columns = {
        "scenario": pa.array([plan.name] * m, pa.string()),
        "sim": pa.array(np.repeat(sims[:keep], n)[real]),
        "patient": pa.array(flat(patient)),
        "arm": pa.array(np.asarray(plan.arm_names, dtype=object)[flat(trial.arms)], pa.string()),
        "enrolment_month": pa.array(flat(months)),
        "enrolled": pa.array(flat(months <= stop_months[:, None] + 1e-9)),
    }
    for name, covariate in COVARIATES.items():
        if name not in trial.patients:
            continue
        values = flat(trial.patients[name])
        if covariate.kind == "categorical":
            values = pa.array(np.asarray(covariate.levels, dtype=object)[values], pa.string())
        columns[name] = values
    death_day = flat(trial.death_day)
    died = death_day <= plan.horizon_days
    columns["death"] = died
    columns["death_day"] = _nullable(np.where(np.isfinite(death_day), death_day, np.nan))
    dropout_day = flat(trial.dropout_day)
    columns["observed"] = dropout_day >= np.minimum(death_day, plan.horizon_days)
    if plan.dropout_per_day > 0:
        columns["dropout_day"] = dropout_day
    if trial.excess_infection_day is not None:
        values = flat(trial.excess_infection_day)
        columns["excess_infection_day"] = _nullable(np.where(np.isfinite(values), values, np.nan))
    if trial.course is not None:
        for name, values in trial.course.__dict__.items():
            values = flat(values)
            columns[name] = _nullable(np.where(np.isfinite(values), values, np.nan))
    return pa.table(columns)


def _log(values: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log(values)


def _nullable(values: np.ndarray) -> pa.Array:
    """A float column whose missing values (NaN: a look not reached, no estimate) are
    Parquet nulls, which SQL's IS NULL finds; infinities stay (a win ratio with no loss)."""
    values = np.asarray(values, dtype=float)
    return pa.array(values, mask=np.isnan(values))


def _column(values: np.ndarray) -> pa.Array:
    """A design's column: booleans as they are, numbers with NaN as null."""
    values = np.asarray(values)
    return pa.array(values) if values.dtype == bool else _nullable(values)


def _unique(fields: list[tuple[str, pa.DataType]]) -> pa.Schema:
    seen: dict[str, pa.DataType] = {}
    for name, kind in fields:
        seen.setdefault(name, kind)
    return pa.schema(list(seen.items()))
