"""A run's report: one self-contained HTML file a steering committee can read, and its figures.

`write_report(RUN)` writes RUN/report.html (every figure embedded as a base64
PNG, no external CSS or JavaScript, so it can be mailed as one file) and the same
figures as PNGs in RUN/figures/. It holds the protocol (resolved YAML from the
manifest), the summary table, power (the sample-size curve when
`cstrial sample-size` wrote one into RUN/sample_size/, or power against N across
grid scenarios that vary design.sample_size, otherwise power by scenario with
95% intervals), the boundaries with a sample of simulated z paths, the stopping
probabilities per look, and — from patients.parquet, when the run saved
patients — Kaplan–Meier curves by arm and the enrolled population's distributions.
"""

from __future__ import annotations

import base64
import html
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from cstrial import __version__
from cstrial.errors import CstrialError
from cstrial.folder import FolderLock, RunFolderError, add_written, recover, remove_report
from cstrial.protocol import Protocol, expand_scenarios
from cstrial.protocol.grid import grid_labels, value_text
from cstrial.report.figures import (
    BoundaryPanel,
    boundaries_figure,
    grid_power_figure,
    kaplan_meier_figure,
    png_bytes,
    population_figure,
    power_by_scenario_figure,
    power_curve_figure,
    stopping_figure,
)
from cstrial.results import (
    RunResult,
    read_run_unlocked,
    run_protocol,
    vouched,
    write_bytes_atomic,
    writing,
)

FIGURE_NAMES = (
    "power_curve",
    "power_by_scenario",
    "boundaries",
    "stopping",
    "kaplan_meier",
    "population",
)
"""Every figure a report can hold; `Report.figures` says which this one holds."""

PATHS_SHOWN = 50
PANELS_SHOWN = 4
SAMPLE_SIZE_CURVES = ("sample_size/sample_size_curve.parquet", "sample_size_curve.parquet")


@dataclass(frozen=True)
class Report:
    """A written report: the HTML file, its figures (name → PNG file) and its notes."""

    path: Path
    figures: dict[str, Path]
    notes: tuple[str, ...]


def write_report(run: str | Path | RunResult, *, paths: int = PATHS_SHOWN) -> Report:
    """Write RUN/report.html and RUN/figures/*.png for a finished run; return where they are.

    `paths` is the number of simulated trials whose z paths are drawn per scenario.
    """
    out = run.out if isinstance(run, RunResult) else Path(run)
    if not out.is_dir() or not (out / "manifest.json").is_file():
        raise CstrialError(f"{out} is not a cstrial run: it has no manifest.json")
    # the one writer of the folder while the report is drawn (a run would replace its files)
    with FolderLock(out, exclusive=True, command="report"):
        recover(out)
        return _write_report(read_run_unlocked(out), paths)


def _write_report(result: RunResult, paths: int) -> Report:
    out = result.out
    if result.summary.empty:
        raise CstrialError(f"{out} has an empty summary.parquet: nothing to report")
    protocol = run_protocol(result)
    figures: dict[str, bytes] = {}
    captions: dict[str, str] = {}
    notes: list[str] = []

    name, figure, caption = _power(result, protocol)
    figures[name], captions[name] = png_bytes(figure), caption
    panels = _boundary_panels(result, paths)
    if panels:
        figures["boundaries"] = png_bytes(boundaries_figure(panels))
        captions["boundaries"] = (
            f"Efficacy (green) and futility (red) bounds on the z scale, with the z paths of "
            f"the first {paths} simulated trials of each scenario (first {PANELS_SHOWN} "
            "scenarios), coloured by their decision: green efficacy, red futility, grey none."
        )
    figures["stopping"] = png_bytes(stopping_figure(_first_comparison(result.summary)))
    captions["stopping"] = (
        "Probability of stopping at each look: for efficacy above the axis, for futility "
        "below (hatched). At the final look, not rejecting is not drawn as a stop."
    )

    patients = _patients(result, notes)
    if patients is None:
        notes.append(
            "This run saved no patients (patients.parquet), so there are no Kaplan–Meier "
            "curves and no population distributions. Re-run with `--save-patients 50` "
            "(e.g. `cstrial run PROTOCOL --save-patients 50`) and report again."
        )
    else:
        scenario = str(patients["scenario"].iloc[0])
        patients = patients[patients["scenario"] == scenario]
        if "enrolled" in patients:  # not those a trial that stopped early never enrolled
            patients = patients[patients["enrolled"]]
        arms = _arms(protocol, patients)
        horizon = 30.0 if protocol is None else protocol.endpoints.primary.horizon_days
        n_trials = patients["sim"].nunique()
        figures["kaplan_meier"] = png_bytes(kaplan_meier_figure(patients, horizon, arms))
        captions["kaplan_meier"] = (
            f"Kaplan–Meier survival by arm to day {horizon:g}, scenario {scenario}, the "
            f"{n_trials} saved trial(s) pooled; deaths at their simulated day, survivors "
            "censored at the horizon."
        )
        figures["population"] = png_bytes(population_figure(patients, arms))
        captions["population"] = (
            f"Enrolled patients of scenario {scenario} ({n_trials} saved trial(s), "
            f"{len(patients)} patients) by arm: age, IL-6 on a log scale, lactate, SCAI stage."
        )

    folder = out / "figures"
    if folder.is_symlink() or (folder.exists() and not folder.is_dir()):
        raise RunFolderError(
            f"{folder} is {'a symlink' if folder.is_symlink() else 'not a folder'}: the report "
            "writes its figures only inside the run folder. Remove it and report again"
        )
    # an earlier report's figures describe what that report drew: replaced whole
    remove_report(out)
    with writing(folder):
        folder.mkdir(parents=True, exist_ok=True)
    written = {}
    names = ["report.html"] + [f"figures/{name}.png" for name in figures]
    add_written(out, names)  # recorded first: whatever happens, they are cstrial's
    for name, png in figures.items():
        written[name] = folder / f"{name}.png"
        write_bytes_atomic(png, written[name])
    page = _html(result, protocol, figures, captions, notes)
    path = out / "report.html"
    write_bytes_atomic(page.encode("utf-8"), path)
    return Report(path, written, tuple(notes))


# --------------------------------------------------------------------------- figures' data


def _power(result: RunResult, protocol: Protocol | None):
    """The power figure: sample-size curve, else grid curve over N, else power by scenario."""
    target = None if protocol is None else protocol.design.power
    for relative in SAMPLE_SIZE_CURVES:
        path = result.out / relative
        # never through a symlink out of the run folder
        if path.is_file() and not path.is_symlink() and not path.parent.is_symlink():
            curve = pd.read_parquet(path)
            info = _json(path.with_name("sample_size.json"))
            probit = info.get("probit")
            figure = power_curve_figure(
                curve,
                target_power=info.get("target_power", target),
                sample_size=info.get("sample_size"),
                analytic_sample_size=info.get("analytic_sample_size"),
                probit=None if not probit else (probit["intercept"], probit["slope_sqrt_n"]),
            )
            caption = (
                f"Simulated power of {info.get('comparison', 'the primary comparison')} "
                f"(scenario {info.get('scenario', 'base')}) against total sample size, "
                f"{int(curve['n_sims'].iloc[0])} trials per point from one seed, with the "
                "probit fit on √N (`cstrial sample-size`)."
            )
            return "power_curve", figure, caption
    lines = _grid_lines(result, protocol)
    if lines:
        caption = (
            "Power against total sample size across the grid scenarios that vary "
            "design.sample_size, with exact 95% intervals; one line per setting of the "
            "other grid paths."
        )
        return "power_curve", grid_power_figure(lines, target), caption
    caption = "Power of each scenario with its exact (Clopper–Pearson) 95% interval."
    return "power_by_scenario", power_by_scenario_figure(result.summary, target), caption


def _grid_lines(result: RunResult, protocol: Protocol | None) -> dict[str, pd.DataFrame]:
    if protocol is None or "design.sample_size" not in protocol.grid:
        return {}
    summary = _first_comparison(result.summary)
    labels = grid_labels(list(protocol.grid))
    rows = []
    for scenario in expand_scenarios(protocol):
        if scenario.grid is None:
            continue
        match = summary[summary["scenario"] == scenario.name]
        if match.empty:
            continue
        others = {k: v for k, v in scenario.grid.items() if k != "design.sample_size"}
        label = ", ".join(f"{labels[k]} = {value_text(v)}" for k, v in others.items())
        row = match.iloc[0]
        rows.append(
            {
                "label": label,
                "n": scenario.grid["design.sample_size"],
                "power": row["power"],
                "power_ci_low": row["power_ci_low"],
                "power_ci_high": row["power_ci_high"],
            }
        )
    if not rows:
        return {}
    frame = pd.DataFrame(rows)
    lines = {label: part for label, part in frame.groupby("label", sort=False)}
    return lines if max(len(p) for p in lines.values()) >= 2 else {}


def _boundary_panels(result: RunResult, paths: int) -> list[BoundaryPanel]:
    scenarios = result.manifest.get("scenarios", [])[:PANELS_SHOWN]
    if not scenarios or not result.trials_path.is_file():
        return []
    names = [s["name"] for s in scenarios]
    table = pq.read_table(
        vouched(result.out, result.manifest, "trials.parquet"),
        filters=[("sim", "<", paths), ("scenario", "in", names)],
    ).to_pandas()
    panels = []
    for scenario in scenarios:
        comparison = scenario["comparisons"][0]
        looks = np.asarray(scenario["look_patients"], dtype=float)
        rows = table[
            (table["scenario"] == scenario["name"])
            & (table["comparison"] == comparison["comparison"])
        ]
        z = rows[[f"z_look_{k + 1}" for k in range(looks.size)]].to_numpy(dtype=float)
        futility = comparison.get("futility_z")
        panels.append(
            BoundaryPanel(
                scenario=scenario["name"],
                comparison=comparison["comparison"],
                information=looks / looks[-1],
                efficacy_z=_floats(comparison["efficacy_z"]),
                futility_z=None if futility is None else _floats(futility),
                paths=z,
                decisions=rows["decision"].to_numpy(),
            )
        )
    return panels


def _floats(values: list) -> np.ndarray:
    return np.array([math.inf if v is None else float(v) for v in values])


def _first_comparison(summary: pd.DataFrame) -> pd.DataFrame:
    return summary[summary["comparison"] == summary["comparison"].iloc[0]]


def _patients(result: RunResult, notes: list[str]) -> pd.DataFrame | None:
    """The run's saved patients, if its manifest vouches for a patients.parquet."""
    path = result.out / "patients.parquet"
    if "patients.parquet" not in result.manifest.get("files", {}):
        if path.exists():
            notes.append(
                f"{path} is not one of this run's files (its manifest does not list it: it "
                "is left from another run), so it is not drawn."
            )
        return None
    table = pq.read_table(vouched(result.out, result.manifest, "patients.parquet"))
    if table.num_rows == 0:
        return None
    return table.to_pandas()


def _arms(protocol: Protocol | None, patients: pd.DataFrame) -> list[str]:
    present = list(dict.fromkeys(patients["arm"]))
    if protocol is None:
        return sorted(present)
    ordered = [protocol.control_arm.name, *(a.name for a in protocol.active_arms)]
    return [a for a in ordered if a in present]


def _json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


# --------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;max-width:1000px;margin:2em auto;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.15em;border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
.meta{color:#555;font-size:.9em}table{border-collapse:collapse;font-size:.82em;margin:.5em 0}
th,td{border:1px solid #ddd;padding:.25em .5em;text-align:right}th{background:#f3f5f8}
td.l,th.l{text-align:left}figure{margin:1em 0}figure img{max-width:100%;border:1px solid #eee}
figcaption{font-size:.85em;color:#444}pre{background:#f7f7f7;padding:.8em;overflow:auto;font-size:.8em}
.note{background:#fff6e0;border-left:4px solid #e0a800;padding:.5em .8em;font-size:.9em}
"""

_SECTIONS = {
    "power_curve": "Power",
    "power_by_scenario": "Power",
    "boundaries": "Boundaries and simulated z paths",
    "stopping": "Stopping probabilities per look",
    "kaplan_meier": "Survival by arm",
    "population": "Enrolled population",
}


def _html(
    result: RunResult,
    protocol: Protocol | None,
    figures: dict[str, bytes],
    captions: dict[str, str],
    notes: list[str],
) -> str:
    manifest = result.manifest
    info = manifest.get("protocol", {})
    title = (protocol.title if protocol is not None else "") or info.get("name", "cstrial run")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(info.get('name', 'run'))}: cstrial report</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        '<p class="meta">'
        + " · ".join(
            _e(x)
            for x in (
                f"protocol {info.get('name')}",
                f"{manifest.get('n_sims')} simulated trials per scenario",
                f"seed {manifest.get('seed')}",
                f"cstrial {manifest.get('cstrial_version', __version__)}",
                f"protocol SHA-256 {str(info.get('sha256', ''))[:12]}",
            )
        )
        + "</p>",
        "<h2>Protocol</h2>",
        "<details><summary>Resolved protocol (every default filled in)</summary>",
        f"<pre>{_e(info.get('resolved_yaml', ''))}</pre></details>",
        "<h2>Summary</h2>",
        _summary_table(result.summary),
        '<p class="meta">power = share of trials rejecting H0 (one-sided), with its exact 95% '
        "interval; effect = risk difference treatment − control; eligible = share of the "
        "virtual CS population meeting the criteria.</p>",
    ]
    shown: set[str] = set()
    for name in FIGURE_NAMES:
        if name not in figures:
            continue
        section = _SECTIONS[name]
        if section not in shown:
            parts.append(f"<h2>{_e(section)}</h2>")
            shown.add(section)
        data = base64.b64encode(figures[name]).decode("ascii")
        parts.append(
            f'<figure id="{name}"><img alt="{_e(name)}" data-figure="{name}" '
            f'src="data:image/png;base64,{data}"><figcaption>{_e(captions[name])}'
            "</figcaption></figure>"
        )
    for note in notes:
        parts.append(f'<p class="note">{_e(note)}</p>')
    parts += [
        "<h2>Provenance</h2>",
        '<p class="meta">'
        + _e(
            f"Written by cstrial {__version__} from {result.out}. Python "
            f"{manifest.get('python')}; wall time {manifest.get('wall_time_seconds')} s; "
            f"files: {', '.join(sorted(manifest.get('files', {})))}."
        )
        + "</p>",
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


_COLUMNS = [
    ("scenario", "scenario", "l"),
    ("comparison", "comparison", "l"),
    ("sample_size", "N", "int"),
    ("power", "power", ".3f"),
    ("ci", "95% CI", ""),
    ("true_control_rate", "control risk", ".3f"),
    ("true_treatment_rate", "treatment risk", ".3f"),
    ("true_effect", "true effect", "+.4f"),
    ("expected_n", "expected N", ".0f"),
    ("expected_duration_months", "expected months", ".1f"),
    ("eligible_fraction", "eligible", ".1%"),
    ("screened_per_enrolled", "screened per enrolled", ".2f"),
]


def _summary_table(summary: pd.DataFrame) -> str:
    columns = [c for c in _COLUMNS if c[0] == "ci" or c[0] in summary.columns]
    head = "".join(
        f'<th class="{"l" if kind == "l" else ""}">{_e(label)}</th>' for _, label, kind in columns
    )
    body = []
    for row in summary.to_dict(orient="records"):
        cells = []
        for key, _, kind in columns:
            if key == "ci":
                text = f"{row['power_ci_low']:.3f}–{row['power_ci_high']:.3f}"
            else:
                text = _cell(row[key], kind)
            cells.append(f'<td class="{"l" if kind == "l" else ""}">{_e(text)}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _cell(value: Any, kind: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if kind == "l":
        return str(value)
    if kind == "int":
        return str(int(value))
    return format(float(value), kind)


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
