"""The model's parameters with some values overridden: the unit of a sensitivity analysis.

`ModelParameters` names the overridden values of any documented parameter of the
population, disease, late-death, treatment-mechanism, PK/PD, organ-support course and
infection-harm tables (every parameter name is unique across them). It is a small frozen, picklable value:
the plan carries it to the workers (separate processes), the laws' cache keys on
it, and each layer reads its own table from it (`population`, `disease`, ...), so
no module state is changed and two settings can be planned side by side.

Two parameters act on the protocol rather than on a table's consumer:

* `blockade` (TREATMENT) is each protocol arm's own `blockade`; overriding it sets
  the blockade of every active `il6-mediated` or `pkpd` arm that is not null (a
  null arm stays null: a null scenario asks what happens without an effect).
* `il6_blockade_floor` (TREATMENT) and `beta_il6` (DISEASE) set the IL-6
  mechanism's assumption and strength: the excess log hazard blockade removes is
  beta_il6 * ln(IL-6 / floor) above the floor.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from cstrial.disease.course import COURSE
from cstrial.disease.parameters import DISEASE, LATE
from cstrial.errors import UsageError
from cstrial.parameters import Parameter, ParameterTable
from cstrial.population.parameters import POPULATION
from cstrial.protocol.effects import Effect, Il6Mediated, Pkpd
from cstrial.treatment.effects import TREATMENT, is_null
from cstrial.treatment.harms import HARMS
from cstrial.treatment.pkpd import PKPD

# The tables a sensitivity analysis may override, by the name `ModelParameters` gives them.
TABLES: dict[str, ParameterTable] = {
    "population": POPULATION,
    "disease": DISEASE,
    "late": LATE,
    "treatment": TREATMENT,
    "pkpd": PKPD,
    "course": COURSE,
    "harms": HARMS,
}


def _index() -> dict[str, str]:
    found: dict[str, str] = {}
    for kind, table in TABLES.items():
        for row in table.rows:
            if row.name in found:
                raise ValueError(f"{row.name} is in the {found[row.name]} and {kind} tables")
            found[row.name] = kind
    return found


TABLE_OF: dict[str, str] = _index()  # parameter name -> table kind


def parameter(name: str) -> Parameter:
    """The documented record (value, source, range) of a parameter of `TABLES`."""
    return TABLES[table_of(name)].row(name)


def table_of(name: str) -> str:
    """The kind of table (`TABLES`' key) that holds parameter `name`."""
    if name not in TABLE_OF:
        near = sorted(n for n in TABLE_OF if name.split("_")[0] in n)[:6]
        hint = f" (did you mean {', '.join(near)}?)" if near else ""
        raise UsageError(
            "parameter",
            f"{name!r} is not a model parameter{hint}; `cstrial sensitivity --list` lists them",
        )
    return TABLE_OF[name]


def uncertain_parameters(kinds: Iterable[str] = TABLES) -> tuple[Parameter, ...]:
    """Every parameter with a plausible range, in table order."""
    return tuple(row for kind in kinds for row in TABLES[kind].rows if row.uncertain)


@dataclass(frozen=True)
class ModelParameters:
    """Overridden parameter values, sorted by name; empty: the model as documented."""

    overrides: tuple[tuple[str, float], ...] = ()

    @classmethod
    def of(cls, values: Mapping[str, float | str] | None = None) -> ModelParameters:
        """Overrides from a name -> value mapping, checked: a known parameter, a finite value
        (a number, or text that reads as one), a value the table can take."""
        numbers: dict[str, float] = {}
        for name, value in (values or {}).items():
            table_of(name)
            try:
                number = float(value)
            except (TypeError, ValueError):
                raise UsageError(name, f"must be a number, found {value!r}") from None
            if not math.isfinite(number):
                raise UsageError(name, f"must be a finite number, found {value}")
            numbers[name] = number
        model = cls(tuple(sorted(numbers.items())))
        _check(model)
        return model

    def with_value(self, name: str, value: float) -> ModelParameters:
        """These overrides and `name` set to `value`."""
        return ModelParameters.of({**dict(self.overrides), name: value})

    @property
    def is_default(self) -> bool:
        return not self.overrides

    def table(self, kind: str) -> ParameterTable:
        """Table `kind` with this setting's values (the model's own table if none changed)."""
        own = tuple((n, v) for n, v in self.overrides if TABLE_OF[n] == kind)
        return _table(kind, own)

    def key(self, *kinds: str) -> tuple[tuple[str, float], ...]:
        """The overrides of tables `kinds` only (all, with none given): a cache key."""
        if not kinds:
            return self.overrides
        return tuple((n, v) for n, v in self.overrides if TABLE_OF[n] in kinds)

    @property
    def population(self) -> ParameterTable:
        return self.table("population")

    @property
    def disease(self) -> ParameterTable:
        return self.table("disease")

    @property
    def late(self) -> ParameterTable:
        return self.table("late")

    @property
    def treatment(self) -> ParameterTable:
        return self.table("treatment")

    @property
    def pkpd(self) -> ParameterTable:
        return self.table("pkpd")

    @property
    def course(self) -> ParameterTable:
        return self.table("course")

    @property
    def harms(self) -> ParameterTable:
        return self.table("harms")

    def effect(self, effect: Effect | None) -> Effect | None:
        """An arm's effect under this setting: an overridden `blockade` replaces the arm's own
        in mechanism (`il6-mediated`, `pkpd`) arms that are not null."""
        blockade = dict(self.overrides).get("blockade")
        if blockade is None or is_null(effect) or not isinstance(effect, Il6Mediated | Pkpd):
            return effect
        return effect.model_copy(update={"blockade": blockade})

    def describe(self, most: int = 4) -> str:
        """The overrides in words (the first `most`, then how many more)."""
        shown = ", ".join(f"{n} = {v:g}" for n, v in self.overrides[:most])
        more = len(self.overrides) - most
        return (shown + (f" and {more} more" if more > 0 else "")) or "the documented model"


DEFAULT = ModelParameters()

# Shares that split one whole: their sum must stay below 1 (the rest is the last level).
_SHARES = (
    ("p_scai_c", "p_scai_d"),  # stage E is the rest
    ("p_etiology_ami", "p_etiology_hf"),  # other causes are the rest
    ("p_phenotype_cardiometabolic", "p_phenotype_cardiorenal"),  # non-congested: the rest
)


def _check(model: ModelParameters) -> None:
    """Values a table cannot take: a proportion outside [0, 1], shares of one whole adding up
    to more than 1, correlations that are not a correlation matrix, a non-positive scale."""
    if not model.overrides:
        return
    import numpy as np

    from cstrial.population.parameters import latent_correlation

    for name, value in model.overrides:
        row = parameter(name)
        if row.unit in ("proportion",) and not 0.0 <= value <= 1.0:
            raise UsageError(name, f"is a proportion: it must lie in [0, 1], found {value}")
        if row.unit == "correlation" and not -1.0 < value < 1.0:
            raise UsageError(name, f"is a correlation: it must lie in (-1, 1), found {value}")
        if (
            name.endswith(("_sd", "_sd_log", "_scale_days", "_shape")) or name.endswith("_median")
        ) and value <= 0:
            raise UsageError(name, f"must be positive, found {value}")
    population = model.population
    for first, second in _SHARES:
        total = population[first] + population[second]
        if total >= 1.0:
            raise UsageError(
                f"{first} + {second}",
                f"must be below 1 (the rest is the last level), found {total:g}",
            )
    correlated = any(n.startswith("rho_") for n, _ in model.overrides)
    if correlated and np.linalg.eigvalsh(latent_correlation(population)).min() <= 0.0:
        raise UsageError(
            "rho_*",
            "the latent correlations must form a positive definite matrix; these do not",
        )


@lru_cache(maxsize=256)
def _table(kind: str, overrides: tuple[tuple[str, float], ...]) -> ParameterTable:
    """One table object per set of overrides (cached: the same object, so identity-keyed caches
    such as the PK/PD profiles stay valid)."""
    base = TABLES[kind]
    if not overrides:
        return base
    values = dict(overrides)
    rows = []
    for row in base.rows:
        if row.name not in values:
            rows.append(row)
            continue
        # the record keeps its source and range; the value may lie outside the range (a
        # user's what-if), so the range is dropped from the copy rather than violated
        rows.append(Parameter(row.name, values[row.name], row.unit, row.source))
    return ParameterTable(base.title, rows)
