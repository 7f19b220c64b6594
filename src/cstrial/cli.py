"""The `cstrial` command line: parse arguments, call the library, render the result."""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from cstrial.errors import CstrialError

app = typer.Typer(
    help="In-silico trials of IL-6 blockade in cardiogenic shock: power, sample size, interim looks.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# Off a terminal (CI, pipes) tables keep their full width instead of wrapping at 80 columns.
_WIDTH = None if sys.stdout.isatty() else 200
out_console = Console(highlight=False, soft_wrap=True, width=_WIDTH)
err_console = Console(stderr=True, highlight=False, soft_wrap=True, width=_WIDTH)

ProtocolArg = Annotated[Path, typer.Argument(help="Protocol YAML file.", show_default=False)]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print machine-readable JSON instead of a table.")
]


def _fail(error: CstrialError) -> None:
    err_console.print(str(error), markup=False)
    raise typer.Exit(error.exit_code) from None


def _interactive() -> bool:
    return sys.stderr.isatty() and os.environ.get("CI", "").lower() not in ("1", "true")


def _number(value: float, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.{digits}f}"


@app.command()
def run(
    protocol: ProtocolArg,
    n_sims: Annotated[
        int | None,
        typer.Option(
            "--n-sims", help="Replicate trials per scenario (overrides simulation.n_sims)."
        ),
    ] = None,
    seed: Annotated[
        int | None, typer.Option(help="Seed of the run (overrides simulation.seed).")
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(help="Worker processes; default all cores. Results do not depend on it."),
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Output folder; default results/<protocol name>/.")
    ] = None,
    scenario: Annotated[
        str | None, typer.Option(help="Run only this scenario (`base` is the protocol as written).")
    ] = None,
    save_patients: Annotated[
        int | None,
        typer.Option("--save-patients", help="Write patients.parquet for the first K replicates."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Simulate the protocol's trials and write trials.parquet, summary.parquet and manifest.json."""
    from cstrial.engine import run as run_protocol

    try:
        if _interactive() and not as_json:
            result = _run_with_progress(
                run_protocol, protocol, n_sims, seed, jobs, out, scenario, save_patients
            )
        else:
            result = run_protocol(
                protocol,
                n_sims=n_sims,
                seed=seed,
                jobs=jobs,
                out=out,
                scenario=scenario,
                save_patients=save_patients,
            )
    except CstrialError as error:
        _fail(error)
    if as_json:
        payload = {
            "out": str(result.out),
            "wall_time_seconds": result.manifest["wall_time_seconds"],
            "summary": json.loads(result.summary.to_json(orient="records")),
        }
        out_console.print_json(json.dumps(payload))
        return
    _print_summary(result)


def _run_with_progress(run_protocol, protocol, n_sims, seed, jobs, out, scenario, save_patients):
    from rich.progress import BarColumn, Progress, TimeElapsedColumn, TimeRemainingColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        "{task.completed}/{task.total} chunks",
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        task = bar.add_task("simulating", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        return run_protocol(
            protocol,
            n_sims=n_sims,
            seed=seed,
            jobs=jobs,
            out=out,
            scenario=scenario,
            save_patients=save_patients,
            progress=progress,
        )


def _print_summary(result) -> None:
    summary = result.summary
    table = Table(
        title=f"{result.manifest['protocol']['name']}: {int(summary['n_sims'].iloc[0])} trials per scenario"
    )
    for column in (
        "scenario",
        "comparison",
        "power",
        "SE",
        "95% CI",
        "control",
        "treatment",
        "true effect",
        "expected N",
        "expected months",
    ):
        table.add_column(
            column, justify="left" if column in ("scenario", "comparison") else "right"
        )
    for row in summary.itertuples():
        table.add_row(
            row.scenario,
            row.comparison,
            _number(row.power),
            _number(row.power_se, 4),
            f"{row.power_ci_low:.3f}-{row.power_ci_high:.3f}",
            _number(row.control_rate),
            _number(row.treatment_rate),
            f"{row.true_effect:+.4f}",
            f"{row.expected_n:.0f}",
            f"{row.expected_duration_months:.1f}",
        )
    out_console.print(table)
    looks = [c for c in summary.columns if c.startswith("reject_look_")]
    if len(looks) > 1:
        stops = Table(title="Stopping probabilities per look")
        stops.add_column("scenario")
        stops.add_column("comparison")
        for k in range(1, len(looks) + 1):
            stops.add_column(f"efficacy {k}", justify="right")
        for k in range(1, len(looks) + 1):
            stops.add_column(f"futility {k}", justify="right")
        for _, row in summary.iterrows():
            stops.add_row(
                row["scenario"],
                row["comparison"],
                *[_number(row[f"reject_look_{k}"]) for k in range(1, len(looks) + 1)],
                *[_number(row[f"futility_look_{k}"]) for k in range(1, len(looks) + 1)],
            )
        out_console.print(stops)
    out_console.print(
        f"power = share of trials rejecting H0 (one-sided); effect = risk difference treatment - control.\n"
        f"Wrote {result.out}/ in {result.manifest['wall_time_seconds']:.1f} s."
    )


@app.command()
def validate(protocol: ProtocolArg, as_json: JsonOpt = False) -> None:
    """Check a protocol; print it resolved, with the eligible fraction of each scenario."""
    from cstrial.plan import criteria_of, reference_fraction
    from cstrial.protocol import expand_scenarios, load_protocol

    try:
        loaded = load_protocol(protocol)
        scenarios = [
            {
                "scenario": s.name,
                "eligible_fraction": reference_fraction(criteria_of(s.protocol.population)),
            }
            for s in expand_scenarios(loaded)
        ]
    except CstrialError as error:
        _fail(error)
    for s in scenarios:
        s["screened_per_enrolled"] = (
            1.0 / s["eligible_fraction"] if s["eligible_fraction"] else None
        )
    if as_json:
        out_console.print_json(
            json.dumps({"valid": True, "protocol": loaded.resolved_yaml(), "scenarios": scenarios})
        )
        return
    out_console.print(loaded.resolved_yaml(), markup=False)
    table = Table(title=f"{protocol} is valid")
    for column in ("scenario", "eligible fraction", "screened per enrolled"):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for s in scenarios:
        table.add_row(
            s["scenario"], f"{s['eligible_fraction']:.1%}", _number(s["screened_per_enrolled"], 2)
        )
    out_console.print(table)


@app.command()
def boundaries(
    looks: Annotated[
        str,
        typer.Option(
            help="Information fractions, comma-separated, ending at 1 (e.g. 0.33,0.67,1)."
        ),
    ] = "1",
    efficacy: Annotated[
        str,
        typer.Option(
            help="Alpha-spending family: lan-demets-obrien-fleming, lan-demets-pocock, hwang-shih-decani, kim-demets, wang-tsiatis, none."
        ),
    ] = "lan-demets-obrien-fleming",
    efficacy_parameter: Annotated[
        float | None,
        typer.Option(help="gamma (hwang-shih-decani), rho (kim-demets) or delta (wang-tsiatis)."),
    ] = None,
    futility: Annotated[
        str | None, typer.Option(help="Beta-spending family for futility bounds (default: none).")
    ] = None,
    futility_parameter: Annotated[
        float | None, typer.Option(help="Parameter of the futility family.")
    ] = None,
    binding: Annotated[
        bool,
        typer.Option(
            "--binding", help="Binding futility: efficacy bounds computed with futility in place."
        ),
    ] = False,
    alpha: Annotated[float, typer.Option(help="One-sided type I error.")] = 0.025,
    beta: Annotated[
        float, typer.Option(help="Type II error at the design alternative (power = 1 - beta).")
    ] = 0.2,
    as_json: JsonOpt = False,
) -> None:
    """Group-sequential boundaries by exact recursive integration (Jennison & Turnbull ch. 19)."""
    from cstrial.design import design_characteristics, group_sequential_boundaries

    try:
        fractions = _parse_looks(looks)
        result = group_sequential_boundaries(
            looks=fractions,
            alpha=alpha,
            efficacy=efficacy,
            efficacy_parameter=efficacy_parameter,
            futility=futility,
            futility_parameter=futility_parameter,
            binding=binding,
            beta=beta,
        )
        characteristics = design_characteristics(result)
    except CstrialError as error:
        _fail(error)
    payload = result.to_dict()
    payload["power"] = characteristics.power
    payload["expected_information_h0"] = characteristics.expected_information_h0
    payload["expected_information_h1"] = characteristics.expected_information_h1
    if as_json:
        out_console.print_json(json.dumps(payload))
        return
    table = Table(
        title=f"{efficacy} efficacy, alpha = {alpha} one-sided"
        + (f"; {futility} futility ({'binding' if binding else 'non-binding'})" if futility else "")
    )
    for column in (
        "look",
        "information",
        "efficacy z",
        "nominal p",
        "alpha spent",
        "cumulative alpha",
        "futility z",
    ):
        table.add_column(column, justify="right")
    futility_z = payload["futility_z"]
    for k, t in enumerate(payload["information"]):
        table.add_row(
            str(k + 1),
            f"{t:.3f}",
            _number(payload["efficacy_z"][k], 4) if payload["efficacy_z"][k] is not None else "inf",
            _number(payload["nominal_p"][k], 5),
            _number(payload["alpha_spent"][k], 5),
            _number(payload["cumulative_alpha"][k], 5),
            "-" if futility_z is None or futility_z[k] is None else _number(futility_z[k], 4),
        )
    out_console.print(table)
    out_console.print(
        f"inflation factor {payload['inflation_factor']:.4f}; power {characteristics.power:.4f}; "
        f"expected information (fraction of maximum) H0 {characteristics.expected_information_h0:.3f}, "
        f"H1 {characteristics.expected_information_h1:.3f}"
    )


def _parse_looks(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise CstrialError(
            f"--looks must be comma-separated numbers like 0.33,0.67,1; found {text!r}"
        ) from None


def main() -> None:  # pragma: no cover - console entry
    app()
