"""Model parameters with their provenance: every number the virtual patient rests on.

Each `Parameter` carries its value and the source it rests on: a row of
`../shared/calibration.md` (author, year, cohort) or an explicit
`[assumption]` / `[derived]` tag saying how it was obtained. `docs/model.md`
renders these tables; `manifest.json` records them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Parameter:
    """One model parameter and where its value comes from."""

    name: str
    value: float
    unit: str
    source: str


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

    def to_records(self) -> list[dict[str, object]]:
        """Rows as plain dicts, for the manifest and the docs."""
        return [
            {"name": r.name, "value": r.value, "unit": r.unit, "source": r.source}
            for r in self.rows
        ]
