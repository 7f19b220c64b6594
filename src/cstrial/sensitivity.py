"""Power under the model's own uncertainty: one parameter at a time, and all jointly.

Every model parameter whose value is uncertain carries a documented plausible range
(`cstrial.parameters.Parameter`: `low`, `high`, `range_source`). For one scenario of a
protocol this module

* **one at a time**: plans the scenario with each parameter at the low and at the high
  end of its range, every other parameter at its documented value, and reports the
  power, the true control rate and the true effect at each end, beside the documented
  model's (the base). Where the protocol fixes `population.control_mortality_30d`
  the baseline is recalibrated at every setting (the laws do it), so such a parameter
  moves the effect and the case mix, not the control rate;
* **jointly**: draws every range at once by Latin-hypercube sampling
  (`scipy.stats.qmc.LatinHypercube`, uniform within each range: the ranges are
  plausible bounds, with no preferred value inside them [assumption]) and reports
  the distribution of power over the draws: its median and 80% interval (10th to
  90th percentile).

Every setting simulates the same trials from the same seed (common random numbers:
`simulation.seed`, chunk streams as in a run), so differences between settings are
the model's, not Monte Carlo noise in the draws of one setting against another.
Settings are simulated with the sampler a run of the protocol would use: the exact-law
samplers (counts, events) take a fraction of a second per setting, the patient-level
one (organ-support endpoints, covariate-adjusted analyses, infection harms) as long
as a run. The arms' laws of each setting are computed to `SENSITIVITY_LAW_TOLERANCE`
(far below the power's Monte Carlo error) and cached on disk like a run's laws, keyed
by the overridden values.

Two shares are tied: the SCAI stage shares C and D give way to each other so that
stage E keeps its documented share (0.15): varying `p_scai_c` sets `p_scai_d` to
0.85 - C and the other way round; in joint draws `p_scai_d` is not drawn but follows
`p_scai_c` (the calibration.md range: vary C with D so that E stays in 0.10-0.15).

References: Saltelli A et al., Global Sensitivity Analysis: The Primer (2008), ch. 1-2
(one-at-a-time and sampling-based analyses, tornado plots); McKay, Beckman & Conover,
Technometrics 1979;21:239 (Latin hypercube sampling); ASME V&V 40-2018 and FDA,
Assessing the Credibility of Computational Modeling (2023): the sensitivity of a
model's answer to its uncertain inputs.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from cstrial import __version__
from cstrial.engine.plan import ScenarioPlan, plan_scenario
from cstrial.engine.simulate import simulate_chunk
from cstrial.errors import CstrialError, UsageError
from cstrial.model_parameters import (
    DEFAULT,
    TABLE_OF,
    TABLES,
    ModelParameters,
    parameter,
    uncertain_parameters,
)
from cstrial.protocol import Protocol, expand_scenarios, load_protocol, select_scenarios
from cstrial.protocol.effects import Il6Mediated, Pkpd
from cstrial.protocol.vocabulary import ENDPOINT_KINDS
from cstrial.results import write_bytes_atomic, write_json_atomic, write_table_atomic
from cstrial.treatment.effects import is_null

SENSITIVITY_LAW_TOLERANCE = 1e-3  # on the laws' probabilities; power's MC SE is >= 0.005
DEFAULT_N_SIMS = 2_000
DEFAULT_DRAWS = 64
INTERVAL = (0.10, 0.90)  # the joint power interval: 80%
LHS_SEED_OFFSET = 7_919  # the Latin hypercube's seed is the run's seed plus this
# the SCAI stage shares that give way to each other (stage E keeps its documented share)
TIED_SHARES = ("p_scai_c", "p_scai_d")

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class ParameterRange:
    """One parameter varied by the analysis: its documented value and the range used."""

    name: str
    table: str  # the `cstrial.model_parameters.TABLES` key
    value: float
    low: float
    high: float
    unit: str
    range_source: str
    documented: bool = True  # False: the range was given by the caller, not the docs

    def to_record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "table": self.table,
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "unit": self.unit,
            "range_source": self.range_source,
            "documented": self.documented,
        }


@dataclass
class SensitivityResult:
    """The analysis of one scenario: rows per setting and comparison, and the ranges."""

    protocol: str
    scenario: str
    n_sims: int
    draws: int
    seed: int
    ranges: list[ParameterRange]
    rows: pd.DataFrame  # one row per setting (base, low/high ends, joint draws) and comparison
    timing: dict[str, float] = field(default_factory=dict)

    @property
    def comparisons(self) -> list[str]:
        return list(dict.fromkeys(self.rows["comparison"]))

    def one_at_a_time(self) -> pd.DataFrame:
        """Per parameter and comparison: power, control rate and true effect at both ends,
        and the power swing (high - low), largest swing first (the tornado's order)."""
        rows = self.rows
        base = rows[rows["analysis"] == "base"].set_index("comparison")
        oat = rows[rows["analysis"] == "one-at-a-time"]
        out = []
        for (name, comparison), group in oat.groupby(["parameter", "comparison"], sort=False):
            ends = group.set_index("end")
            low, high = ends.loc["low"], ends.loc["high"]
            b = base.loc[comparison]
            out.append(
                {
                    "parameter": name,
                    "comparison": comparison,
                    "value": _range_of(self.ranges, name).value,
                    "low": low["value"],
                    "high": high["value"],
                    "power_base": b["power"],
                    "power_low": low["power"],
                    "power_high": high["power"],
                    "control_rate_low": low["control_rate"],
                    "control_rate_high": high["control_rate"],
                    "true_effect_low": low["true_effect"],
                    "true_effect_high": high["true_effect"],
                    "swing": abs(high["power"] - low["power"]),
                }
            )
        table = pd.DataFrame(out)
        if table.empty:
            return table
        return table.sort_values(["comparison", "swing"], ascending=[True, False], kind="stable")

    def joint(self) -> pd.DataFrame:
        """Per comparison: the power's median and 80% interval over the joint draws, and
        the base power."""
        rows = self.rows
        joint = rows[rows["analysis"] == "joint"]
        base = rows[rows["analysis"] == "base"].set_index("comparison")
        out = []
        for comparison in self.comparisons:
            power = joint.loc[joint["comparison"] == comparison, "power"].to_numpy()
            lo, hi = (np.quantile(power, q) if power.size else math.nan for q in INTERVAL)
            out.append(
                {
                    "comparison": comparison,
                    "draws": int(power.size),
                    "power_base": float(base.loc[comparison, "power"]),
                    "power_median": float(np.median(power)) if power.size else math.nan,
                    "power_low": float(lo),
                    "power_high": float(hi),
                    "share_below_base": float(np.mean(power < base.loc[comparison, "power"]))
                    if power.size
                    else math.nan,
                }
            )
        return pd.DataFrame(out)

    def to_json(self) -> dict[str, Any]:
        """Everything, as plain JSON (the CLI's --json)."""
        return {
            "protocol": self.protocol,
            "scenario": self.scenario,
            "n_sims": self.n_sims,
            "draws": self.draws,
            "seed": self.seed,
            "interval": list(INTERVAL),
            "ranges": [r.to_record() for r in self.ranges],
            "one_at_a_time": _records(self.one_at_a_time()),
            "joint": _records(self.joint()),
            "timing_seconds": {k: round(v, 3) for k, v in self.timing.items()},
        }


def sensitivity_analysis(
    protocol: Protocol | str | Path,
    *,
    scenario: str | None = None,
    n_sims: int | None = None,
    draws: int = DEFAULT_DRAWS,
    seed: int | None = None,
    parameters: Collection[str] | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
    one_at_a_time: bool = True,
    progress: Progress | None = None,
) -> SensitivityResult:
    """Power of one scenario of `protocol` under the model's parameter uncertainty.

    `scenario` names the scenario (default: the protocol's first); `n_sims` trials per
    setting (default `DEFAULT_N_SIMS`); `draws` Latin-hypercube draws for the joint
    analysis (0: none); `seed` the trials' seed (default the protocol's). `parameters`
    restricts the analysis to these names (default: every uncertain parameter the
    protocol's arms can feel, see `analysed_parameters`); `ranges` replaces documented
    ranges, name -> (low, high), the value need not lie inside. `progress(done, total)`
    is called after each setting.
    """
    started = time.perf_counter()
    if not isinstance(protocol, Protocol):
        protocol = load_protocol(protocol)
    chosen = _scenario(protocol, scenario)
    n_sims = DEFAULT_N_SIMS if n_sims is None else n_sims
    seed = protocol.simulation.seed if seed is None else seed
    if not isinstance(n_sims, int) or n_sims < 10:
        raise UsageError("n_sims", f"must be an integer of at least 10, found {n_sims}")
    if not isinstance(draws, int) or draws < 0:
        raise UsageError("draws", f"must be a non-negative integer, found {draws}")
    analysed = analysed_parameters(chosen.protocol, parameters, ranges)
    settings: list[tuple[str, str | None, str, float, int, ModelParameters]] = [
        ("base", None, "base", math.nan, -1, DEFAULT)
    ]
    if one_at_a_time:
        for r in analysed:
            for end, value in (("low", r.low), ("high", r.high)):
                settings.append(
                    ("one-at-a-time", r.name, end, value, -1, _setting({r.name: value}))
                )
    for d, values in enumerate(joint_draws(analysed, draws, seed)):
        settings.append(("joint", None, "draw", math.nan, d, _setting(values)))

    chunk = protocol.simulation.chunk_size
    records: list[dict[str, Any]] = []
    plan_seconds = simulate_seconds = 0.0
    for i, (analysis, name, end, value, draw, model) in enumerate(settings):
        t0 = time.perf_counter()
        label = {
            "base": "the documented model",
            "one-at-a-time": f"{name} at the {end} end of its range ({value:g})",
            "joint": f"joint draw {draw}",
        }[analysis]
        plan = _plan(chosen, seed, model, label)
        t1 = time.perf_counter()
        power = _power(plan, n_sims, chunk)
        simulate_seconds += time.perf_counter() - t1
        plan_seconds += t1 - t0
        for k, c in enumerate(plan.comparisons):
            records.append(
                {
                    "analysis": analysis,
                    "parameter": name,
                    "end": end,
                    "value": value,
                    "draw": draw,
                    "comparison": c.label,
                    "power": power[k],
                    "power_se": math.sqrt(power[k] * (1 - power[k]) / n_sims),
                    "control_rate": c.control_risk,
                    "treatment_rate": c.treatment_risk,
                    "true_effect": c.true_effect,
                    "eligible_fraction": plan.eligible_fraction,
                    "overrides": list(model.overrides),
                }
            )
        if progress is not None:
            progress(i + 1, len(settings))
    rows = pd.DataFrame(records)
    return SensitivityResult(
        protocol=protocol.name,
        scenario=chosen.name,
        n_sims=n_sims,
        draws=draws,
        seed=seed,
        ranges=list(analysed),
        rows=rows,
        timing={
            "total": time.perf_counter() - started,
            "plans": plan_seconds,
            "simulations": simulate_seconds,
            "settings": float(len(settings)),
        },
    )


def analysed_parameters(
    protocol: Protocol,
    names: Collection[str] | None = None,
    ranges: Mapping[str, tuple[float, float]] | None = None,
) -> list[ParameterRange]:
    """The parameters the analysis varies, with their ranges.

    By default every uncertain parameter of the population, disease and late-death
    tables, and those of the treatment tables the protocol's arms use: the IL-6
    mechanism (`blockade`, `il6_blockade_floor`) when an active arm is `il6-mediated`
    or `pkpd` and not null, the PK/PD table when an arm is `pkpd`, the infection harms
    when an arm has them; the organ-support course's when an endpoint is built from it. `ranges` replaces
    documented ranges (name -> (low, high)); a name in `ranges` is analysed even
    without a documented range.
    """
    ranges = dict(ranges or {})
    for name, bounds in ranges.items():
        parameter(name)  # known
        low, high = (float(b) for b in bounds)
        if not (math.isfinite(low) and math.isfinite(high) and low <= high):
            raise UsageError(f"ranges[{name}]", f"must be finite with low <= high, found {bounds}")
    if names is None:
        kinds = ["population", "disease", "late"]
        effects = [a.effect for a in protocol.active_arms]
        if any(isinstance(e, Il6Mediated | Pkpd) and not is_null(e) for e in effects):
            kinds.append("treatment")
        if any(isinstance(e, Pkpd) and not is_null(e) for e in effects):
            kinds.append("pkpd")
        endpoints = (protocol.endpoints.primary, *protocol.endpoints.secondary)
        if any(ENDPOINT_KINDS[e.type].course for e in endpoints):
            kinds.append("course")
        if any(getattr(e, "infection_hazard_ratio", 1.0) > 1.0 for e in effects):
            kinds.append("harms")
        chosen = [row.name for row in uncertain_parameters(kinds)]
        chosen += [n for n in ranges if n not in chosen]
    else:
        chosen = list(dict.fromkeys(names))
        if not chosen:
            raise UsageError("parameters", "must name at least one parameter")
    out = []
    for name in chosen:
        row = parameter(name)
        if name in ranges:
            low, high = (float(b) for b in ranges[name])
            out.append(
                ParameterRange(
                    name, TABLE_OF[name], row.value, low, high, row.unit, "given", documented=False
                )
            )
        elif row.uncertain:
            assert row.low is not None and row.high is not None
            out.append(
                ParameterRange(
                    name, TABLE_OF[name], row.value, row.low, row.high, row.unit, row.range_source
                )
            )
        else:
            raise UsageError(
                "parameters",
                f"{name} has no plausible range (a definition or reference value: "
                f"{row.source}); give one with a range, e.g. --range {name}=LOW:HIGH",
            )
    return out


def joint_draws(ranges: list[ParameterRange], draws: int, seed: int) -> list[dict[str, float]]:
    """`draws` Latin-hypercube points over `ranges` (uniform within each), as name -> value;
    `p_scai_d` is not drawn when `p_scai_c` is (it follows it: `TIED_SHARES`)."""
    if draws == 0 or not ranges:
        return []
    from scipy.stats import qmc

    names = [r.name for r in ranges]
    drawn = [r for r in ranges if not (r.name == TIED_SHARES[1] and TIED_SHARES[0] in names)]
    u = qmc.LatinHypercube(d=len(drawn), rng=np.random.default_rng(seed + LHS_SEED_OFFSET)).random(
        draws
    )
    low = np.array([r.low for r in drawn])
    high = np.array([r.high for r in drawn])
    values = low + u * (high - low)
    return [{r.name: float(v) for r, v in zip(drawn, row, strict=True)} for row in values]


def write_sensitivity(result: SensitivityResult, out: str | Path, protocol_text: str = "") -> Path:
    """Write sensitivity.parquet (every setting's rows), sensitivity.json (the manifest:
    ranges with their sources, seed, n_sims, draws, summaries) and tornado.png to `out`."""
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise CstrialError(f"cannot create the output folder {out}: {error}") from None
    write_table_atomic(_table(result.rows), out / "sensitivity.parquet")
    manifest = {
        "cstrial_version": __version__,
        "protocol_sha256": hashlib.sha256(protocol_text.encode()).hexdigest()
        if protocol_text
        else None,
        "law_tolerance": SENSITIVITY_LAW_TOLERANCE,
        # every parameter table with its ranges and their sources, as in a run's manifest
        "parameters": {t.title: t.to_records() for t in TABLES.values()},
        **result.to_json(),
    }
    write_json_atomic(manifest, out / "sensitivity.json")
    if not result.one_at_a_time().empty:
        write_bytes_atomic(tornado_png(report_section(result)), out / "tornado.png")
    return out


def tornado_png(section: Mapping[str, Any]) -> bytes:
    """The tornado plot of a report section (`report_section`): per comparison, each
    parameter's power at the low and high end of its range around the base power, the
    largest swing on top. Drawn on matplotlib's Agg canvas (no display, no pyplot)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    panels = [t for t in section["tornado"] if t["bars"]]
    height = max(2.5, 0.32 * max(len(t["bars"]) for t in panels) + 1.4) if panels else 2.5
    figure = Figure(figsize=(7.5, height * max(len(panels), 1)))
    FigureCanvasAgg(figure)
    for i, panel in enumerate(panels):
        axes = figure.add_subplot(len(panels), 1, i + 1)
        bars = panel["bars"][::-1]  # largest swing on top
        base = panel["base"]
        y = np.arange(len(bars))
        for k, bar in enumerate(bars):
            for end, colour in (("low", "#4477aa"), ("high", "#ee6677")):
                power = bar[f"power_{end}"]
                axes.barh(y[k], power - base, left=base, color=colour, height=0.7)
        axes.axvline(base, color="black", linewidth=1)
        axes.set_yticks(
            y, [f"{b['parameter']} ({b['low']:.3g} / {b['high']:.3g})" for b in bars], fontsize=8
        )
        axes.set_xlabel("power")
        axes.set_title(f"{panel['comparison']}: base power {base:.3f}", fontsize=10)
        axes.legend(
            handles=[
                Patch(color="#4477aa", label="low end of the range"),
                Patch(color="#ee6677", label="high end of the range"),
            ],
            fontsize=8,
            loc="lower right",
        )
    figure.suptitle(section["title"], fontsize=10)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, metadata={"Software": None})
    return buffer.getvalue()


def report_section(result: SensitivityResult, top: int = 15) -> dict[str, Any]:
    """What the HTML report shows of a sensitivity analysis: the one-at-a-time table (the
    `top` largest power swings per comparison), the tornado's bars and the joint summary,
    as plain data for a template."""
    oat = result.one_at_a_time()
    tornado = []
    for comparison in result.comparisons:
        mine = oat[oat["comparison"] == comparison].head(top) if not oat.empty else oat
        tornado.append(
            {
                "comparison": comparison,
                "base": float(
                    result.rows.query("analysis == 'base' and comparison == @comparison")[
                        "power"
                    ].iloc[0]
                ),
                "bars": _records(
                    mine[["parameter", "low", "high", "power_low", "power_high"]]
                    if not mine.empty
                    else mine
                ),
            }
        )
    return {
        "title": f"Power under model uncertainty: {result.protocol}, scenario {result.scenario}",
        "n_sims": result.n_sims,
        "draws": result.draws,
        "interval": list(INTERVAL),
        "one_at_a_time": _records(oat),
        "tornado": tornado,
        "joint": _records(result.joint()),
        "ranges": [r.to_record() for r in result.ranges],
    }


def report_hook(run_dir: str | Path) -> dict[str, Any] | None:
    """The sensitivity section of a run's HTML report, or None: the analysis written to
    RUN/sensitivity/ (where `cstrial sensitivity` writes by default for a run at
    results/<name>/). The report renders the returned data (`read_sensitivity`)."""
    return read_sensitivity(Path(run_dir) / "sensitivity")


def read_sensitivity(out: str | Path) -> dict[str, Any] | None:
    """The report section of a sensitivity analysis written to `out` (None if there is none):
    the hook for the HTML report."""
    path = Path(out) / "sensitivity.json"
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    return {
        "title": f"Power under model uncertainty: {data['protocol']}, scenario {data['scenario']}",
        "n_sims": data["n_sims"],
        "draws": data["draws"],
        "interval": data["interval"],
        "one_at_a_time": data["one_at_a_time"],
        "joint": data["joint"],
        "ranges": data["ranges"],
        "tornado_png": str(Path(out) / "tornado.png")
        if (Path(out) / "tornado.png").exists()
        else None,
    }


def _setting(values: Mapping[str, float]) -> ModelParameters:
    """The overrides of one setting, with the tied stage shares (`TIED_SHARES`) resolved."""
    values = dict(values)
    c, d = TIED_SHARES
    stage_e = 1.0 - parameter(c).value - parameter(d).value
    if c in values and d not in values:
        values[d] = max(1.0 - stage_e - values[c], 0.0)
    elif d in values and c not in values:
        values[c] = max(1.0 - stage_e - values[d], 0.0)
    return ModelParameters.of(values)


def _scenario(protocol: Protocol, name: str | None):
    scenarios = expand_scenarios(protocol)
    if name is None:
        return scenarios[0]
    return select_scenarios(scenarios, name)[0]


def _plan(scenario, seed: int, model: ModelParameters, label: str) -> ScenarioPlan:
    try:
        return plan_scenario(scenario, seed, model=model, law_tolerance=SENSITIVITY_LAW_TOLERANCE)
    except CstrialError as error:
        raise CstrialError(f"sensitivity analysis, {label}: {error}") from None


def _power(plan: ScenarioPlan, n_sims: int, chunk_size: int) -> list[float]:
    """Each comparison's power over `n_sims` trials, the run's chunk streams (CRN)."""
    rejections = np.zeros(len(plan.comparisons))
    done = chunk = 0
    while done < n_sims:
        replicates = min(chunk_size, n_sims - done)
        result = simulate_chunk(plan, chunk, done, replicates, plan.n_looks)
        for k, tally in enumerate(result.tallies):
            rejections[k] += float(np.sum(tally.reject))
        done += replicates
        chunk += 1
    return [float(r / n_sims) for r in rejections]


def _range_of(ranges: list[ParameterRange], name: str) -> ParameterRange:
    return next(r for r in ranges if r.name == name)


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return json.loads(frame.to_json(orient="records")) if not frame.empty else []


def _table(rows: pd.DataFrame) -> pa.Table:
    schema = pa.schema(
        [
            ("analysis", pa.string()),
            ("parameter", pa.string()),
            ("end", pa.string()),
            ("value", pa.float64()),
            ("draw", pa.int64()),
            ("comparison", pa.string()),
            ("power", pa.float64()),
            ("power_se", pa.float64()),
            ("control_rate", pa.float64()),
            ("treatment_rate", pa.float64()),
            ("true_effect", pa.float64()),
            ("eligible_fraction", pa.float64()),
            ("overrides", pa.map_(pa.string(), pa.float64())),
        ]
    )
    columns = {name: rows[name].tolist() for name in schema.names}
    columns["parameter"] = [None if not isinstance(p, str) else p for p in columns["parameter"]]
    return pa.table(columns, schema=schema)
