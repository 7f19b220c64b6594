"""A run's report: one self-contained HTML file a steering committee can read, and its figures.

`write_report(RUN)` writes RUN/report.html (every figure embedded as a base64
PNG, no external CSS or JavaScript, so it can be mailed as one file) and the same
figures as PNGs in RUN/figures/. The page is the Jinja2 template
`templates/report.html.j2` laid over the sections of `cstrial.report.sections`
(`SECTIONS`, in order): the design in plain language, the stopping bounds at each
look on the z, p and effect scales, power and type I error, secondary endpoints,
the power figure (the sample-size curve when `cstrial sample-size` wrote one into
RUN/sample_size/, or power against N across grid scenarios that vary
design.sample_size, otherwise power by scenario), the boundaries with simulated z
paths, the stopping probabilities per look, and — from patients.parquet, when the
run saved patients — Kaplan–Meier curves by arm and the enrolled population, then
the resolved protocol in full (never collapsed, so it prints).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from cstrial import __version__
from cstrial.errors import CstrialError
from cstrial.folder import FolderLock, RunFolderError, add_written, recover, remove_report
from cstrial.report import sections as _sections
from cstrial.report.sections import PATHS_SHOWN, ReportContext, Section
from cstrial.results import (
    RunResult,
    read_run_unlocked,
    run_protocol,
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
"""Every figure the built-in sections can hold; `Report.figures` says which this one holds."""


@dataclass(frozen=True)
class Report:
    """A written report: the HTML file, its figures (name → PNG file) and its notes."""

    path: Path
    figures: dict[str, Path]
    notes: tuple[str, ...]


def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("cstrial.report", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
    )
    environment.filters["b64"] = lambda data: base64.b64encode(data).decode("ascii")
    return environment


def build_sections(context: ReportContext) -> list[Section]:
    """Every registered section function run on `context`, those that return None left out."""
    sections = []
    for function in _sections.SECTIONS:  # read at call time: features register their own
        section = function(context)
        if section is not None:
            sections.append(section)
    return sections


def render_report(result: RunResult, sections: list[Section]) -> str:
    """The report page for `result` holding `sections`."""
    manifest = result.manifest
    info = manifest.get("protocol", {})
    protocol = run_protocol(result)
    title = (protocol.title if protocol is not None else "") or info.get("name", "cstrial run")
    meta = [
        f"protocol {info.get('name')}",
        f"{manifest.get('n_sims')} simulated trials per scenario",
        f"seed {manifest.get('seed')}",
        f"cstrial {manifest.get('cstrial_version', __version__)}",
        f"protocol SHA-256 {str(info.get('sha256', ''))[:12]}",
    ]
    provenance = (
        f"Written by cstrial {__version__} from {result.out}. Python "
        f"{manifest.get('python')}; wall time {manifest.get('wall_time_seconds')} s; "
        f"files: {', '.join(sorted(manifest.get('files', {})))}."
    )
    template = _environment().get_template("report.html.j2")
    return template.render(
        name=info.get("name", "run"),
        title=title,
        meta=meta,
        sections=sections,
        provenance=provenance,
    )


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
    context = ReportContext(result, run_protocol(result), paths=paths)
    sections = build_sections(context)
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
    names = ["report.html"] + [
        f"figures/{figure.name}.png" for section in sections for figure in section.figures
    ]
    add_written(out, names)  # recorded first: whatever happens, they are cstrial's
    for section in sections:
        for figure in section.figures:
            written[figure.name] = folder / f"{figure.name}.png"
            write_bytes_atomic(figure.png, written[figure.name])
    page = render_report(result, sections)
    path = out / "report.html"
    write_bytes_atomic(page.encode("utf-8", errors="replace"), path)
    return Report(path, written, tuple(context.notes))
