"""The figures of a run's report, drawn with matplotlib's Agg canvas (no display, no pyplot).

Each function takes plain data (DataFrames and arrays read from a run) and
returns a `matplotlib.figure.Figure`; `png_bytes` renders one. Nothing here
reads files or knows about HTML: `cstrial.report` does that.
"""

from __future__ import annotations

import io
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

# Okabe & Ito 2008, colour-blind safe (black left out: it is the axes' colour)
COLOURS = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#7f7f7f")
EFFICACY, FUTILITY = "#1f6f3f", "#b23a2a"
DPI = 110


def distinct_colours(n: int) -> list[str]:
    """`n` colours, no two the same: Okabe–Ito up to 8, tab20 up to 20, then evenly
    spaced hues (so scenarios never share a colour, however many there are)."""
    if n <= len(COLOURS):
        return list(COLOURS[:n])
    if n <= 20:
        cmap = colormaps["tab20"]
        return [to_hex(cmap(i)) for i in range(n)]
    # hues evenly round the wheel, alternating two lightnesses: distinct to the 8-bit hex
    # channel up to hundreds of scenarios (a figure shows far fewer)
    cmap = colormaps["hsv"]
    shades = [np.asarray(cmap(i / n)[:3]) * (0.62 if i % 2 else 0.9) for i in range(n)]
    return [to_hex((float(r), float(g), float(b))) for r, g, b in shades]


def _wrap(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width)) or text


def png_bytes(figure: Figure) -> bytes:
    """The figure as PNG bytes (no timestamp in the metadata, so the same figure, the same bytes)."""
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": None})
    return buffer.getvalue()


def _figure(width: float = 7.0, height: float = 4.2) -> Figure:
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _arm_colours(arms: Sequence[str]) -> dict[str, str]:
    return dict(zip(arms, distinct_colours(len(arms)), strict=True))


# --------------------------------------------------------------------------- power


def power_curve_figure(
    curve: pd.DataFrame,
    *,
    target_power: float | None = None,
    sample_size: int | None = None,
    analytic_sample_size: int | None = None,
    probit: tuple[float, float] | None = None,
) -> Figure:
    """Simulated power against total sample size, with 95% intervals and the probit fit."""
    figure = _figure()
    ax = figure.add_subplot()
    n = curve["n"].to_numpy(dtype=float)
    p = curve["power"].to_numpy(dtype=float)
    se = curve["power_se"].to_numpy(dtype=float)
    ax.errorbar(
        n, p, yerr=1.96 * se, fmt="o", color=COLOURS[0], capsize=3, label="simulated (95% CI)"
    )
    if probit is not None:
        from scipy.special import ndtr

        grid = np.linspace(n.min() * 0.9, n.max() * 1.1, 200)
        ax.plot(
            grid,
            ndtr(probit[0] + probit[1] * np.sqrt(grid)),
            color=COLOURS[0],
            lw=1.2,
            label="probit fit on √N",
        )
    if target_power is not None:
        ax.axhline(target_power, color="#555555", ls="--", lw=1, label=f"target {target_power:.2f}")
    if sample_size is not None:
        ax.axvline(sample_size, color=EFFICACY, ls="-", lw=1, label=f"N = {sample_size}")
    if analytic_sample_size is not None:
        ax.axvline(
            analytic_sample_size,
            color="#999999",
            ls=":",
            lw=1.2,
            label=f"analytic N = {analytic_sample_size}",
        )
    ax.set_xlabel("total sample size N")
    ax.set_ylabel("power")
    ax.set_title("Power against sample size")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return figure


def grid_power_figure(lines: dict[str, pd.DataFrame], target_power: float | None = None) -> Figure:
    """Power against sample size across grid scenarios, one line per other grid setting.

    Each frame has columns n, power, power_ci_low, power_ci_high.
    """
    figure = _figure(7.5, 4.6)
    ax = figure.add_subplot()
    colours = distinct_colours(len(lines))
    for i, (label, frame) in enumerate(lines.items()):
        frame = frame.sort_values("n")
        colour = colours[i]
        yerr = [frame["power"] - frame["power_ci_low"], frame["power_ci_high"] - frame["power"]]
        ax.errorbar(
            frame["n"],
            frame["power"],
            yerr=yerr,
            fmt="o-",
            color=colour,
            capsize=3,
            label=label or "power",
        )
    if target_power is not None:
        ax.axhline(target_power, color="#555555", ls="--", lw=1, label=f"target {target_power:.2f}")
    ax.set_xlabel("total sample size N")
    ax.set_ylabel("power")
    ax.set_title("Power against sample size across the grid")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, borderaxespad=0)
    return figure


def power_by_scenario_figure(
    summary: pd.DataFrame,
    target_power: float | None = None,
    nulls: Sequence[bool] | None = None,
) -> Figure:
    """Power of each scenario × comparison with its exact 95% interval; scenarios whose
    row in `nulls` is true (no true effect) are labelled as type I error."""
    rows = summary.reset_index(drop=True)
    comparisons = list(dict.fromkeys(rows["comparison"]))
    scenarios = list(dict.fromkeys(rows["scenario"]))
    height = max(2.6, 0.42 * len(scenarios) * max(1, len(comparisons)) + 1.4)
    figure = _figure(7.0, min(height, 14.0))
    ax = figure.add_subplot()
    offsets = np.linspace(-0.25, 0.25, len(comparisons)) if len(comparisons) > 1 else [0.0]
    colours = distinct_colours(len(comparisons))
    null_scenarios = set()
    if nulls is not None:
        null_scenarios = {s for s, n in zip(rows["scenario"], nulls, strict=True) if n}
    for j, comparison in enumerate(comparisons):
        part = rows[rows["comparison"] == comparison]
        y = np.array([scenarios.index(s) for s in part["scenario"]]) + offsets[j]
        p = part["power"].to_numpy()
        xerr = [p - part["power_ci_low"].to_numpy(), part["power_ci_high"].to_numpy() - p]
        ax.errorbar(p, y, xerr=xerr, fmt="o", color=colours[j], capsize=3, label=comparison)
    if target_power is not None:
        ax.axvline(target_power, color="#555555", ls="--", lw=1, label=f"target {target_power:.2f}")
    labels = [f"{s}\n(type I error)" if s in null_scenarios else s for s in scenarios]
    ax.set_yticks(range(len(scenarios)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(-0.02, 1.02)
    ax.set_xlabel("share of trials rejecting H0 (power; type I error if no effect), 95% CI")
    ax.set_title("Power and type I error by scenario")
    ax.grid(axis="x", alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return figure


# --------------------------------------------------------------------------- boundaries


@dataclass(frozen=True)
class BoundaryPanel:
    """One scenario's bounds and a sample of its simulated z paths (rows: trials, columns: looks)."""

    scenario: str
    comparison: str
    information: np.ndarray
    efficacy_z: np.ndarray
    futility_z: np.ndarray | None
    paths: np.ndarray
    decisions: np.ndarray


def boundaries_figure(panels: Sequence[BoundaryPanel]) -> Figure:
    """Efficacy and futility bounds on the z scale with simulated z paths, one panel per scenario."""
    columns = min(2, len(panels))
    rows = -(-len(panels) // columns)
    figure = _figure(9.0 if columns > 1 else 6.0, 3.8 * rows + 0.6)
    colours = {"efficacy": EFFICACY, "futility": FUTILITY, "none": "#7f7f7f"}
    for i, panel in enumerate(panels):
        ax = figure.add_subplot(rows, columns, i + 1)
        t = np.asarray(panel.information, dtype=float)
        for path, decision in zip(panel.paths, panel.decisions, strict=True):
            reached = np.isfinite(path)
            ax.plot(
                t[reached],
                path[reached],
                color=colours.get(decision, "#7f7f7f"),
                alpha=0.35,
                lw=0.8,
                marker="." if reached.sum() == 1 else None,
            )
        upper = np.asarray(panel.efficacy_z, dtype=float)
        ax.plot(
            t,
            np.where(np.isfinite(upper), upper, np.nan),
            color=EFFICACY,
            lw=2,
            marker="o",
            label="efficacy bound",
        )
        if panel.futility_z is not None:
            lower = np.asarray(panel.futility_z, dtype=float)
            ax.plot(
                t,
                np.where(np.isfinite(lower), lower, np.nan),
                color=FUTILITY,
                lw=2,
                marker="o",
                label="futility bound",
            )
        ax.axhline(0, color="#999999", lw=0.6)
        ax.set_xlim(0, 1.05)
        ax.set_xlabel("information fraction")
        ax.set_ylabel("z (> 0 favours treatment)")
        ax.set_title(_wrap(f"{panel.scenario}: {panel.comparison}", 45), fontsize=8.5)
        ax.grid(alpha=0.3)
        if i == 0:
            ax.legend(loc="upper left", fontsize=7)
    return figure


def stopping_figure(summary: pd.DataFrame, max_scenarios: int = 8) -> Figure:
    """Probability of stopping for efficacy (up) and futility (down) at each look, by scenario."""
    rows = summary.drop_duplicates("scenario").head(max_scenarios)
    looks = sorted(
        int(c.rsplit("_", 1)[1]) for c in summary.columns if c.startswith("reject_look_")
    )
    figure = _figure(8.5, 4.4)
    ax = figure.add_subplot()
    width = 0.8 / max(1, len(rows))
    x = np.arange(len(looks))
    colours = distinct_colours(len(rows))
    for i, row in enumerate(rows.to_dict(orient="records")):
        colour = colours[i]
        efficacy = [row[f"reject_look_{k}"] for k in looks]
        # the final look's "futility" is not rejecting: shown as such, not as a stop
        futility = [-row[f"futility_look_{k}"] if k < looks[-1] else 0.0 for k in looks]
        position = x - 0.4 + width * (i + 0.5)
        ax.bar(position, efficacy, width, color=colour, label=row["scenario"])
        ax.bar(position, futility, width, color=colour, alpha=0.45, hatch="//")
    ax.axhline(0, color="#333333", lw=0.8)
    ax.set_xticks(x, [f"look {k}" for k in looks])
    ax.set_ylabel("P(stop): efficacy ↑  futility ↓")
    ax.set_title(f"Stopping probabilities per look ({summary['comparison'].iloc[0]})", fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, borderaxespad=0)
    return figure


# --------------------------------------------------------------------------- patients


def kaplan_meier(
    death_day: np.ndarray, horizon: float, censor_day: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Kaplan–Meier survival as step points (times, survival), from 0 to `horizon`.

    `death_day` is NaN for patients alive at the horizon; `censor_day` (optional)
    is when a patient without a death was lost, NaN if never.

    References: Kaplan & Meier 1958.
    """
    death = np.asarray(death_day, dtype=float)
    died = np.isfinite(death) & (death <= horizon)
    follow = np.where(died, death, horizon)
    if censor_day is not None:
        lost = np.isfinite(censor_day) & ~died
        follow = np.where(lost, np.minimum(censor_day, horizon), follow)
    times, deaths = np.unique(follow[died], return_counts=True)
    at_risk = follow.size - np.searchsorted(np.sort(follow), times, side="left")
    survival = np.cumprod(1.0 - deaths / at_risk)
    return np.concatenate([[0.0], times, [horizon]]), np.concatenate(
        [[1.0], survival, [survival[-1] if survival.size else 1.0]]
    )


def kaplan_meier_figure(patients: pd.DataFrame, horizon: float, arms: Sequence[str]) -> Figure:
    """Kaplan–Meier survival by arm over the horizon, all saved replicates pooled."""
    figure = _figure(6.5, 4.0)
    ax = figure.add_subplot()
    colours = _arm_colours(arms)
    for arm in arms:
        part = patients[patients["arm"] == arm]
        if part.empty:
            continue
        t, s = kaplan_meier(part["death_day"].to_numpy(dtype=float), horizon)
        ax.step(
            t,
            s,
            where="post",
            color=colours[arm],
            lw=1.8,
            label=f"{arm} (n = {len(part)}, {s[-1]:.1%} alive at day {horizon:g})",
        )
    ax.set_xlim(0, horizon)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("days from randomisation")
    ax.set_ylabel("survival")
    ax.set_title("Kaplan–Meier survival by arm (saved replicates pooled)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    return figure


def population_figure(patients: pd.DataFrame, arms: Sequence[str]) -> Figure:
    """Distributions of age, IL-6 (log scale), lactate and SCAI stage of enrolled patients, by arm."""
    figure = _figure(7.5, 6.0)
    colours = _arm_colours(arms)
    axes = figure.subplots(2, 2)
    panels = [
        (axes[0, 0], "age", "age (years)", False),
        (axes[0, 1], "il6_pg_ml", "IL-6 (pg/mL, log scale)", True),
        (axes[1, 0], "lactate_mmol_l", "lactate (mmol/L)", False),
    ]
    for ax, column, label, log in panels:
        if column not in patients:
            ax.set_axis_off()
            continue
        values = patients[column].to_numpy(dtype=float)
        values = values[np.isfinite(values)]
        if log:
            values = values[values > 0]
            bins = np.geomspace(values.min(), values.max(), 40) if values.size else 10
            ax.set_xscale("log")
        else:
            bins = np.linspace(values.min(), values.max(), 40) if values.size else 10
        for arm in arms:
            part = patients.loc[patients["arm"] == arm, column].to_numpy(dtype=float)
            ax.hist(
                part[np.isfinite(part)],
                bins=bins,
                density=True,
                histtype="step",
                lw=1.4,
                color=colours[arm],
                label=arm,
            )
        ax.set_xlabel(label)
        ax.set_ylabel("density")
        ax.grid(alpha=0.3)
    ax = axes[1, 1]
    if "scai_stage" in patients:
        stages = sorted(patients["scai_stage"].dropna().unique())
        width = 0.8 / max(1, len(arms))
        x = np.arange(len(stages))
        for i, arm in enumerate(arms):
            part = patients.loc[patients["arm"] == arm, "scai_stage"]
            share = [float((part == s).mean()) if len(part) else 0.0 for s in stages]
            ax.bar(x - 0.4 + width * (i + 0.5), share, width, color=colours[arm], label=arm)
        ax.set_xticks(x, [f"SCAI {s}" for s in stages])
        ax.set_ylabel("share of arm")
        ax.grid(axis="y", alpha=0.3)
    else:
        ax.set_axis_off()
    axes[0, 0].legend(fontsize=8)
    figure.suptitle("Enrolled population by arm (saved replicates pooled)", fontsize=10)
    return figure
