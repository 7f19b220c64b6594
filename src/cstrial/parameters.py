"""Model parameters with their provenance: every number the virtual patient rests on.

Each `Parameter` carries its value and the source it rests on: a row of
`../shared/calibration.md` (author, year, cohort) or an explicit
`[assumption]` / `[derived]` tag saying how it was obtained. A parameter whose
value is uncertain also carries a plausible range, `low` to `high`, and the
source of that range (`range_source`, again a citation or an `[assumption]` /
`[derived]` tag); a sensitivity analysis varies it over that range. Parameters
that are not uncertain (reference values that only centre a term, definitions,
unit conversions) have no range. `docs/model.md` renders these tables;
`manifest.json` records them.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Parameter:
    """One model parameter, where its value comes from and, if uncertain, its plausible range.

    `low` and `high` bound the values the evidence (or, where marked, judgement)
    leaves plausible, both inclusive, in the parameter's own unit; `value` lies
    between them. `range_source` says where the range comes from.
    """

    name: str
    value: float
    unit: str
    source: str
    low: float | None = None
    high: float | None = None
    range_source: str = ""

    def __post_init__(self) -> None:
        if (self.low is None) != (self.high is None):
            raise ValueError(f"{self.name}: give both low and high, or neither")
        if self.low is None:
            if self.range_source:
                raise ValueError(f"{self.name}: range_source without a range")
            return
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError(f"{self.name}: the range must be finite")
        if not self.low <= self.value <= self.high:
            raise ValueError(
                f"{self.name}: value {self.value} lies outside its range [{self.low}, {self.high}]"
            )
        if not self.range_source:
            raise ValueError(f"{self.name}: a range needs its range_source")

    @property
    def uncertain(self) -> bool:
        """Whether the parameter has a plausible range (a sensitivity analysis varies it)."""
        return self.low is not None


class ParameterTable:
    """A named, read-only table of parameters, looked up by name."""

    def __init__(self, title: str, rows: Iterable[Parameter]) -> None:
        self.title = title
        self.rows = tuple(rows)
        self._by_name = {row.name: row for row in self.rows}
        if len(self._by_name) != len(self.rows):
            raise ValueError(f"duplicate parameter names in {title}")

    def __getitem__(self, name: str) -> float:
        return self._by_name[name].value

    def __contains__(self, name: str) -> bool:
        return name in self._by_name

    def row(self, name: str) -> Parameter:
        """The full record of one parameter (value, source, range)."""
        return self._by_name[name]

    def to_records(self) -> list[dict[str, object]]:
        """Rows as plain dicts, for the manifest and the docs.

        `low`, `high` and `range_source` are None / "" for parameters without a range.
        """
        return [
            {
                "name": r.name,
                "value": r.value,
                "unit": r.unit,
                "source": r.source,
                "low": r.low,
                "high": r.high,
                "range_source": r.range_source,
            }
            for r in self.rows
        ]
