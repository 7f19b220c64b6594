"""Power against one numeric design quantity (`cstrial power-curve`), as rpact's power plots.

`power_curve(protocol, "design.sample_size", [400, 500, ...])` runs the protocol (one
scenario of it, `base` by default) once per value, the value put at the dotted path as a
scenario's `set` would, and collects each comparison's power with its exact (Clopper–
Pearson) interval, expected N and duration. Every value is simulated as scenario 0 with
the same seed, so chunk c of every value draws from the same random streams: common random
numbers, which make differences between neighbouring values far more precise than their
powers alone (the curve is smooth where independent runs would zig-zag).

The runs are kept under `out`/runs/<value>/; the curve is written to `out`/
power_curve.parquet, power_curve.json and power_curve.png.
"""

from __future__ import annotations

import copy
import json
import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from cstrial.errors import CstrialError, ProtocolError, ProtocolProblem, UsageError
from cstrial.protocol import Protocol, expand_scenarios, load_protocol, parse_protocol
from cstrial.protocol.overrides import OverrideError, set_path
from cstrial.protocol.scenarios import select_scenarios
from cstrial.results import write_json_atomic, write_table_atomic

MAX_POINTS = 50
"""Values on one curve: more is a grid of hours, and no clearer a picture."""

Progress = Callable[[int, int], None]
_NUMBER = r"[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?"


@dataclass(frozen=True)
class PowerCurve:
    """Power at each value of one dotted path: `table` has a row per value and comparison."""

    path: str
    values: tuple[float | int, ...]
    scenario: str
    n_sims: int
    seed: int
    table: pd.DataFrame
    out: Path
    figure: Path

    def to_dict(self) -> dict[str, Any]:
        records = json.loads(self.table.to_json(orient="records"))
        return {
            "path": self.path,
            "values": list(self.values),
            "scenario": self.scenario,
            "n_sims": self.n_sims,
            "seed": self.seed,
            "common_random_numbers": True,
            "curve": records,
            "out": str(self.out),
            "figure": str(self.figure),
        }


def parse_over(text: str) -> tuple[str, list[float | int]]:
    """`PATH=START:STOP:STEP` (stop included, as R's seq) or `PATH=A,B,C`, as (path, values).

    Values are whole numbers when every number written is (400:1200:100), else floats.
    Raises `UsageError` (parameter `over`) saying what is wrong.
    """
    example = "e.g. design.sample_size=400:1200:100 or arms.active.effect.value=0.6,0.7,0.8"
    path, sep, spec = text.partition("=")
    path, spec = path.strip(), spec.strip()
    if not sep or not path or not spec:
        raise UsageError(
            "over", f"must be PATH=START:STOP:STEP or PATH=A,B,C ({example}), found {text!r}"
        )
    parts = [p.strip() for p in spec.split(":")] if ":" in spec else None
    items = parts if parts is not None else [p.strip() for p in spec.split(",")]
    if not all(re.fullmatch(_NUMBER, p) for p in items):
        raise UsageError("over", f"needs numbers after '{path}=' ({example}), found {spec!r}")
    whole = all(re.fullmatch(r"[-+]?\d+", p) for p in items)
    numbers = [int(p) if whole else float(p) for p in items]
    if parts is None:
        values = numbers
    else:
        if len(numbers) != 3:
            raise UsageError("over", f"a range is START:STOP:STEP ({example}), found {spec!r}")
        start, stop, step = numbers
        if not step > 0 or stop < start:
            raise UsageError("over", f"needs START ≤ STOP and STEP > 0 ({example}), found {spec!r}")
        count = math.floor((stop - start) / step + 1e-9) + 1
        if count > MAX_POINTS:
            raise UsageError(
                "over", f"gives {count} values, more than {MAX_POINTS}: take a larger step"
            )
        values = [start + k * step if whole else round(start + k * step, 12) for k in range(count)]
    if len(values) > MAX_POINTS:
        raise UsageError("over", f"gives {len(values)} values, more than {MAX_POINTS}")
    if len(set(values)) != len(values):
        raise UsageError("over", f"lists a value twice: {spec!r}")
    return path, values


def power_curve(
    protocol: Protocol | str | Path,
    path: str,
    values: Sequence[float | int],
    *,
    scenario: str = "base",
    n_sims: int | None = None,
    seed: int | None = None,
    jobs: int | None = None,
    out: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
) -> PowerCurve:
    """Simulate `scenario` of `protocol` at each of `values` put at the dotted `path`.

    Each value is validated as a protocol would be (a value the field refuses is a
    `ProtocolError` naming it); every run uses the same seed and scenario index, so the
    values share their random numbers. Returns the `PowerCurve` (also written to `out`,
    default results/<name>/power_curve/).
    """
    from cstrial.engine import run

    if not isinstance(protocol, Protocol):
        protocol = load_protocol(protocol, overrides)
    if not values:
        raise UsageError("over", "needs at least one value")
    chosen = select_scenarios(expand_scenarios(protocol), scenario)[0]
    written = chosen.protocol.as_written()
    written.pop("scenarios", None)
    written.pop("grid", None)
    source = str(protocol.source_path) if protocol.source_path else "protocol"
    protocols = [_at(written, path, value, source) for value in values]
    sim = protocol.simulation
    n_sims = sim.n_sims if n_sims is None else n_sims
    seed = sim.seed if seed is None else seed
    out = Path(out) if out is not None else Path("results") / protocol.name / "power_curve"

    rows: list[dict[str, Any]] = []
    caught: list[warnings.WarningMessage] = []
    for i, (value, variant) in enumerate(zip(values, protocols, strict=True)):
        step = None if progress is None else _offset(progress, i, len(values))
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            result = run(
                variant,
                n_sims=n_sims,
                seed=seed,
                jobs=jobs,
                out=out / "runs" / _label(value),
                scenario="base",
                progress=step,
            )
        caught += seen
        for row in result.summary.to_dict(orient="records"):
            rows.append(
                {
                    "value": value,
                    "comparison": row["comparison"],
                    "power": row["power"],
                    "power_se": row["power_se"],
                    "power_ci_low": row["power_ci_low"],
                    "power_ci_high": row["power_ci_high"],
                    "expected_n": row["expected_n"],
                    "expected_duration_months": row["expected_duration_months"],
                    "true_effect": row["true_effect"],
                    "n_sims": row["n_sims"],
                }
            )
    _rewarn(caught)
    table = pd.DataFrame(rows)
    figure = out / "power_curve.png"
    curve = PowerCurve(path, tuple(values), chosen.name, n_sims, seed, table, out, figure)
    _write(curve, protocol.design.power)
    return curve


def _at(written: dict[str, Any], path: str, value: Any, source: str) -> Protocol:
    data = copy.deepcopy(written)
    try:
        set_path(data, path, value, Protocol)
    except OverrideError as error:
        raise ProtocolError([ProtocolProblem(f"--over {path}", str(error))], source) from None
    try:
        return parse_protocol(data, source=f"{source} with {path} = {value}")
    except ProtocolError as error:
        raise error from None


def _label(value: float | int) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", repr(value))


def _offset(progress: Progress, i: int, n: int) -> Progress:
    """A callback putting run i of n on one scale: i·total + done of n·total chunks."""

    def step(done: int, total: int) -> None:
        progress(i * total + done, n * total)

    return step


def _rewarn(caught: list[warnings.WarningMessage]) -> None:
    """Each distinct warning of the runs once (the Monte Carlo one: only the first)."""
    shown: set[str] = set()
    for w in caught:
        key = w.category.__name__ if "MonteCarlo" in w.category.__name__ else str(w.message)
        if key not in shown:
            shown.add(key)
            warnings.warn(w.message, w.category, stacklevel=3)


def _write(curve: PowerCurve, target: float) -> None:
    try:
        curve.out.mkdir(parents=True, exist_ok=True)
        write_table_atomic(
            pa.Table.from_pandas(curve.table, preserve_index=False),
            curve.out / "power_curve.parquet",
        )
        write_json_atomic(curve.to_dict(), curve.out / "power_curve.json")
        curve.figure.write_bytes(_png(curve, target))
    except OSError as exc:
        raise CstrialError(
            f"cannot write the power curve to {curve.out}: {exc.strerror or exc}"
        ) from None


def _png(curve: PowerCurve, target: float) -> bytes:
    """Power with its 95% interval against the value, one line per comparison."""
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(7, 4.5), dpi=120, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.add_subplot()
    colours = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9"]  # Okabe–Ito
    for k, (name, rows) in enumerate(curve.table.groupby("comparison", sort=False)):
        colour = colours[k % len(colours)]
        ax.plot(rows["value"], rows["power"], marker="o", color=colour, label=name)
        ax.fill_between(
            rows["value"], rows["power_ci_low"], rows["power_ci_high"], color=colour, alpha=0.2
        )
    ax.axhline(target, color="0.4", linestyle="--", linewidth=1, label=f"target {target:g}")
    ax.set_xlabel(curve.path)
    ax.set_ylabel("power (95% CI)")
    ax.set_ylim(0, 1)
    ax.set_title(
        f"Power against {curve.path}: scenario {curve.scenario}, {curve.n_sims:,} trials each, "
        "common random numbers",
        fontsize=9,
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8, frameon=True)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
