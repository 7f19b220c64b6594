"""Report sections of the design families: multi-arm operating characteristics
(`cstrial.report.multiarm`), adaptive selection and the re-estimated N
(`cstrial.report.adaptive`), and power under model uncertainty (`cstrial sensitivity`'s
output in RUN/sensitivity/). Each returns None for a run without its feature.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
import pyarrow.parquet as pq

from cstrial.engine.adaptive import ENRICHMENT_COLUMNS, SSR_COLUMNS
from cstrial.report.adaptive import adaptive_tables
from cstrial.report.multiarm import multiarm_rows
from cstrial.report.sections import ReportContext, ReportFigure, Section, Table
from cstrial.results import vouched


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3f}"
    return str(value)


def _table(frame: pd.DataFrame, caption: str) -> Table:
    return Table(
        list(frame.columns), [[_cell(v) for v in row] for row in frame.itertuples(False)], caption
    )


def multiarm_section(context: ReportContext) -> Section | None:
    """Per arm: power after multiplicity, selection, expected patients; per trial:
    disjunctive and conjunctive power, familywise error (docs/multiarm.md)."""
    rows = multiarm_rows(context.summary)
    if not rows:
        return None
    caption = (
        "Multi-arm operating characteristics. Power after multiplicity per arm; disjunctive "
        "power: any arm rejected; conjunctive: every arm with an effect rejected; familywise "
        "error: any true null rejected (a scenario with no null arm has none). P(selected): "
        "the arm still enrolling after the selection interims."
    )
    return Section("multiarm", "Multi-arm trial", tables=(_table(pd.DataFrame(rows), caption),))


def adaptive_section(context: ReportContext) -> Section | None:
    """Enrichment selection probabilities and power per hypothesis; the distribution of the
    re-estimated sample size (docs/adaptive.md)."""
    manifest = context.manifest
    if "trials.parquet" not in manifest.get("files", {}):
        return None
    path = vouched(context.result.out, manifest, "trials.parquet")
    names = set(pq.read_schema(path).names)
    if not names & {"select_both", "increased"}:
        return None
    columns = ("scenario", "sim", "decision", *ENRICHMENT_COLUMNS, *SSR_COLUMNS)
    wanted = [c for c in (*columns, "final_events", "n_screened") if c in names]
    tables = adaptive_tables(pq.read_table(path, columns=wanted).to_pandas())
    out = []
    if "enrichment" in tables and not tables["enrichment"].empty:
        out.append(
            _table(
                tables["enrichment"],
                "Adaptive enrichment: the population selected at the interim, the power for "
                "the full population (H_F), the subgroup (H_S) and either (in a null scenario, "
                "the familywise error), expected patients enrolled and screened.",
            )
        )
    if "sample_size" in tables and not tables["sample_size"].empty:
        out.append(
            _table(
                tables["sample_size"],
                "Sample-size re-estimation: power, the expected final size, how often the "
                "interim increased it, and the final size's 10th to 90th percentiles.",
            )
        )
    if not out:
        return None
    return Section("adaptive", "Adaptive design", tables=tuple(out))


def sensitivity_section(context: ReportContext) -> Section | None:
    """The one-at-a-time table, tornado and joint interval of `cstrial sensitivity`, when
    it wrote into RUN/sensitivity/ (docs/sensitivity.md)."""
    from cstrial.sensitivity import report_hook

    folder = context.result.out / "sensitivity"
    if folder.is_symlink() or not folder.is_dir():
        return None  # never through a symlink out of the run folder
    data = report_hook(context.result.out)
    if data is None:
        return None
    joint = pd.DataFrame(data["joint"])
    one = pd.DataFrame(data["one_at_a_time"])
    tables = []
    if not one.empty:
        tables.append(
            _table(
                one,
                f"One parameter at a time at the ends of its plausible range, "
                f"{data['n_sims']:,} trials per setting with common random numbers.",
            )
        )
    if not joint.empty:
        tables.append(
            _table(
                joint,
                f"Jointly: power over {data['draws']} Latin-hypercube draws of every "
                "uncertain parameter (median and interval).",
            )
        )
    figures = []
    png = data.get("tornado_png")
    if png:
        figures.append(
            ReportFigure(
                "tornado",
                (folder / "tornado.png").read_bytes(),
                "Power at the low and high end of each parameter's range (tornado).",
            )
        )
    return Section(
        "sensitivity",
        data["title"],
        paragraphs=(
            "How much the power depends on what the model does not know: each uncertain "
            "parameter has a documented range with its source (docs/sensitivity.md). The "
            "enrichment gain follows from the IL-6 mechanism's assumptions, which are "
            "among these parameters.",
        ),
        tables=tuple(tables),
        figures=tuple(figures),
    )
