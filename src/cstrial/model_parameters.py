"""The model's parameters with some values overridden: the unit of a sensitivity analysis.

`ModelParameters` names the overridden values of any documented parameter of the
population, disease, late-death, treatment-mechanism and PK/PD tables (every
parameter name is unique across them). It is a small frozen, picklable value:
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

from cstrial.disease.parameters import DISEASE, LATE
from cstrial.errors import UsageError
from cstrial.parameters import Parameter, ParameterTable
from cstrial.population.parameters import POPULATION
from cstrial.protocol.effects import Effect, Il6Mediated, Pkpd
from cstrial.treatment.effects import TREATMENT, is_null
from cstrial.treatment.pkpd import PKPD

# The tables a sensitivity analysis may override, by the name `ModelParameters` gives them.
TABLES: dict[str, ParameterTable] = {
    "population": POPULATION,
    "disease": DISEASE,
    "late": LATE,
    "treatment": TREATMENT,
    "pkpd": PKPD,
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
    def of(cls, values: Mapping[str, float] | None = None) -> ModelParameters:
        """Overrides from a name -> value mapping, checked: a known parameter, a finite value."""
        values = dict(values or {})
        for name, value in values.items():
            table_of(name)
            if not math.isfinite(float(value)):
                raise UsageError(name, f"must be a finite number, found {value}")
        return cls(tuple(sorted((name, float(v)) for name, v in values.items())))

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

    def effect(self, effect: Effect | None) -> Effect | None:
        """An arm's effect under this setting: an overridden `blockade` replaces the arm's own
        in mechanism (`il6-mediated`, `pkpd`) arms that are not null."""
        blockade = dict(self.overrides).get("blockade")
        if blockade is None or is_null(effect) or not isinstance(effect, Il6Mediated | Pkpd):
            return effect
        return effect.model_copy(update={"blockade": blockade})

    def describe(self) -> str:
        return ", ".join(f"{n} = {v:g}" for n, v in self.overrides) or "the documented model"


DEFAULT = ModelParameters()


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
