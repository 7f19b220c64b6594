"""The `cstrial` command line: parse arguments, call the library, render the result."""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cstrial import __version__
from cstrial.errors import CstrialError, UsageError, printable

# The command-line name of each library parameter a UsageError can name (default: --name).
FLAGS = {"n": "--n", "max_n": "--max-n"}


class _Commands(typer.core.TyperGroup):
    """The one error boundary: a `CstrialError` from any command becomes its message and exit
    code (2 for invalid input or options, 1 for a failed run), never a traceback."""

    def invoke(self, ctx: Any) -> Any:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning
            try:
                return super().invoke(ctx)
            except CstrialError as error:
                err_console.print(printable(_message(error)), markup=False)
                raise typer.Exit(error.exit_code) from None


def _message(error: CstrialError) -> str:
    """The error as the user reads it: a library parameter becomes its command-line option."""
    if isinstance(error, UsageError):
        return error.render(FLAGS.get(error.parameter, "--" + error.parameter.replace("_", "-")))
    return str(error)


app = typer.Typer(
    cls=_Commands,
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
NSimsOpt = Annotated[
    int | None,
    typer.Option("--n-sims", help="Replicate trials per scenario (overrides simulation.n_sims)."),
]
SeedOpt = Annotated[int | None, typer.Option(help="Seed of the run (overrides simulation.seed).")]
JobsOpt = Annotated[
    int | None,
    typer.Option(help="Worker processes; default all cores. Results do not depend on it."),
]
JsonOpt = Annotated[
    bool, typer.Option("--json", help="Print machine-readable JSON instead of a table.")
]
ScenarioOpt = Annotated[
    list[str] | None,
    typer.Option(
        help="Run only this scenario (`base` is the protocol as written); repeat it for several."
    ),
]
SetOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="PATH=VALUE",
        help="Change the protocol before anything else, as a scenario's set does: a dotted "
        "path and a YAML value, e.g. --set design.sample_size=800 --set "
        "arms.tocilizumab.effect.blockade=0.5. Repeat it for several.",
        show_default=False,
    ),
]
SavePatientsOpt = Annotated[
    int | None,
    typer.Option("--save-patients", help="Write patients.parquet for the first K replicates."),
]
BackendOpt = Annotated[
    str,
    typer.Option(
        help="Where chunks run: loky (local processes) or dask (a dask.distributed "
        "cluster, with --scheduler). Results do not depend on it."
    ),
]
SchedulerOpt = Annotated[
    str | None,
    typer.Option(help="Address of the Dask scheduler for --backend dask, e.g. tcp://host:8786."),
]


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: Any = None,
    line: str | None = None,
) -> None:
    # statistical caveats speak to the user: one plain line, no source location
    err_console.print(printable(f"warning: {message}"), markup=False)


def _version(value: bool) -> None:
    if value:
        out_console.print(f"cstrial {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """In-silico trials of IL-6 blockade in cardiogenic shock: power, sample size, interim looks."""


def _overrides(settings: list[str] | None) -> dict[str, Any]:
    """`--set PATH=VALUE` options as {path: value}, each value read as YAML (800, 0.5, true, [C, D])."""
    from cstrial.protocol.yaml_nodes import parse_yaml

    overrides: dict[str, Any] = {}
    for setting in settings or []:
        path, sep, text = setting.partition("=")
        path = path.strip()
        if not sep or not path:
            raise UsageError(
                "set",
                f"must be PATH=VALUE, such as design.sample_size=800, found {setting!r}",
            )
        # the protected loader (no alias bombs); not YAML: the text itself, for the schema
        parsed = parse_yaml(text) if text.strip() else None
        overrides[path] = text if parsed is None or parsed.problems else parsed.data
    return overrides


def _load(protocol: Path, settings: list[str] | None):
    """The protocol file with the --set overrides in place."""
    from cstrial.protocol import load_protocol

    return load_protocol(protocol, _overrides(settings))


def _interactive() -> bool:
    return sys.stderr.isatty() and os.environ.get("CI", "").lower() not in ("1", "true")


def _signed(value: float | None) -> str:
    return "-" if _missing(value) else f"{value:+.4f}"


def _number(value: float | None, digits: int = 3) -> str:
    return "-" if _missing(value) else f"{value:.{digits}f}"


@app.command()
def run(
    protocol: ProtocolArg,
    n_sims: NSimsOpt = None,
    seed: SeedOpt = None,
    jobs: JobsOpt = None,
    out: Annotated[
        Path | None, typer.Option(help="Output folder; default results/<protocol name>/.")
    ] = None,
    scenario: ScenarioOpt = None,
    save_patients: SavePatientsOpt = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Pick up an interrupted run in --out from its finished chunks; "
            "the result has the same bytes as a run straight through.",
        ),
    ] = False,
    backend: BackendOpt = "loky",
    scheduler: SchedulerOpt = None,
    parameter: Annotated[
        list[str] | None,
        typer.Option(
            "--parameter",
            help="Set a model parameter, NAME=VALUE (a what-if on the model: any parameter "
            "`cstrial sensitivity --list` shows, e.g. beta_il6=0.2); repeat it for several. "
            "The manifest records it.",
        ),
    ] = None,
    settings: SetOpt = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Write the run into an --out that holds files cstrial did not write; "
            "they are kept (only cstrial's own files are ever replaced or removed).",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Simulate the protocol's trials and write trials.parquet, summary.parquet and manifest.json."""
    from cstrial.engine import run as run_protocol
    from cstrial.model_parameters import ModelParameters

    model = ModelParameters.of(_assignments(parameter or [], "--parameter"))

    loaded = _load(protocol, settings)
    with _progress_bar("simulating", not as_json) as progress:
        result = run_protocol(
            loaded,
            n_sims=n_sims,
            seed=seed,
            jobs=jobs,
            out=out,
            scenario=scenario,
            save_patients=save_patients,
            resume=resume,
            backend=backend,
            scheduler=scheduler,
            progress=progress,
            model=model,
            force=force,
        )
    if as_json:
        payload = {
            "out": str(result.out),
            "wall_time_seconds": result.manifest["wall_time_seconds"],
            "summary": json.loads(result.summary.to_json(orient="records")),
        }
        out_console.print_json(json.dumps(payload))
        return
    _print_summary(result)


def _print_summary(result) -> None:
    summary = result.summary
    # the enrichment trade-off: shown when scenarios differ in who is eligible
    enrichment = summary["eligible_fraction"].nunique() > 1
    comparisons = list(dict.fromkeys(summary["comparison"]))
    one = len(comparisons) == 1  # then the comparison goes in the title, not in every row
    controls = {c.rpartition(" vs ")[2] for c in comparisons}
    shared = f" vs {controls.pop()}" if len(controls) == 1 and not one else ""
    title = f"{result.manifest['protocol']['name']}: {int(summary['n_sims'].iloc[0])} trials per scenario"
    title += f", {comparisons[0]}" if one else f", each arm{shared}" if shared else ""
    table = _table(title)
    for column in (
        "scenario",
        *(() if one else ("arm" if shared else "comparison",)),
        "power",
        "95% CI",
        "control",
        "treatment",
        "estimate",
        "true effect",
        "expected N",
        "expected months",
        *(("eligible", "screened per enrolled") if enrichment else ()),
    ):
        table.add_column(
            column, justify="left" if column in ("scenario", "comparison", "arm") else "right"
        )
    for row in summary.itertuples():
        table.add_row(
            row.scenario,
            *(() if one else (row.comparison.removesuffix(shared),)),
            _number(row.power),
            f"{row.power_ci_low:.3f}-{row.power_ci_high:.3f}",
            _number(row.control_rate),
            _number(row.treatment_rate),
            _signed(row.mean_estimate),
            _signed(row.true_effect),
            f"{row.expected_n:.0f}",
            f"{row.expected_duration_months:.1f}",
            *(
                (f"{row.eligible_fraction:.1%}", _number(row.screened_per_enrolled, 2))
                if enrichment
                else ()
            ),
        )
    out_console.print(_fit(table))
    looks = sum(1 for c in summary.columns if c.startswith("reject_look_"))
    if looks > 1:
        records = summary.to_dict(orient="records")
        keys = ("scenario",) if one else ("scenario", "comparison")
        out_console.print(_fit(_stopping_table(records, keys, looks)))
    out_console.print(
        "power = share of trials rejecting H0 (one-sided; under a null scenario it is the type I\n"
        "error), with its exact 95% CI (Clopper-Pearson); control/treatment = deaths by the horizon;\n"
        "estimate (mean over trials) and true effect on the analysis's scale: risk difference\n"
        "(treatment - control), hazard ratio, probabilistic index, win ratio or common odds\n"
        "ratio of a better outcome (proportional-odds: > 1 favours treatment).\n"
        + f"Wrote {result.out}/ in {result.manifest['wall_time_seconds']:.1f} s."
    )


@app.command()
def validate(protocol: ProtocolArg, settings: SetOpt = None, as_json: JsonOpt = False) -> None:
    """Check a protocol; print it resolved, with the eligible fraction of each scenario."""
    from cstrial.population.eligibility import check_eligibility
    from cstrial.population.reference import check_populations, eligibility
    from cstrial.protocol import expand_scenarios
    from cstrial.protocol.scenarios import warn_if_no_arm_differs

    loaded = _load(protocol, settings)
    expanded = expand_scenarios(loaded)
    check_populations(expanded)
    scenarios: list[dict[str, Any]] = [
        {"scenario": s.name, **eligibility(s.protocol.population)} for s in expanded
    ]
    for s in scenarios:  # as `run` would refuse it, before any simulation
        check_eligibility(
            s["eligible_fraction"], None if s["scenario"] == "base" else s["scenario"]
        )
    warn_if_no_arm_differs(loaded)
    if as_json:
        out_console.print_json(
            json.dumps({"valid": True, "protocol": loaded.resolved_yaml(), "scenarios": scenarios})
        )
        return
    out_console.print(loaded.resolved_yaml(), markup=False)
    table = _table(title=f"{protocol} is valid")
    for column in ("scenario", "eligible fraction", "screened per enrolled"):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    for s in scenarios:
        table.add_row(
            s["scenario"], f"{s['eligible_fraction']:.1%}", _number(s["screened_per_enrolled"], 2)
        )
    out_console.print(_fit(table))


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
    payload = result.to_dict()
    payload["power"] = characteristics.power
    payload["expected_information_h0"] = characteristics.expected_information_h0
    payload["expected_information_h1"] = characteristics.expected_information_h1
    if as_json:
        out_console.print_json(json.dumps(payload))
        return
    table = _table(
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
    out_console.print(_fit(table))
    out_console.print(
        f"inflation factor {payload['inflation_factor']:.4f}; power {characteristics.power:.4f}; "
        f"expected information (fraction of maximum) H0 {characteristics.expected_information_h0:.3f}, "
        f"H1 {characteristics.expected_information_h1:.3f}"
    )


@app.command()
def verify(
    run_dir: Annotated[
        Path,
        typer.Argument(
            metavar="RUN", help="A finished run folder (with manifest.json).", show_default=False
        ),
    ],
    jobs: Annotated[
        int | None,
        typer.Option(help="Worker processes for the re-run; default all cores."),
    ] = None,
    rtol: Annotated[
        float,
        typer.Option(
            help="Relative tolerance for floats (default 0: exact). A tiny value such as "
            "1e-12 allows last-bit differences between machines."
        ),
    ] = 0.0,
    hashes_only: Annotated[
        bool,
        typer.Option(
            "--hashes-only",
            help="Only check the files against the SHA-256 the manifest records (and that "
            "no output file is unlisted), without re-running: seconds, not minutes.",
        ),
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Check a finished run: its files against its manifest's hashes, then a re-run from the
    manifest (its fields and every value); exit 1 naming each file, field and column that differs."""
    from cstrial.verify import verify_run

    show = _interactive() and not as_json and not hashes_only
    with _progress_bar("re-running", show) as progress:
        report = verify_run(
            run_dir, jobs=jobs, rtol=rtol, progress=progress, hashes_only=hashes_only
        )
    if as_json:
        out_console.print_json(json.dumps(report.to_dict()))
    elif report.ok:
        out_console.print(report.render(), markup=False)
    else:
        err_console.print(report.render(), markup=False)
    if not report.ok:
        raise typer.Exit(1)


def _parse_looks(text: str) -> list[float]:
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise UsageError(
            "looks", f"must be comma-separated numbers like 0.33,0.67,1; found {text!r}"
        ) from None


@app.command("sample-size")
def sample_size(
    protocol: ProtocolArg,
    power: Annotated[
        float | None,
        typer.Option(help="Target power of the primary comparison (default design.power)."),
    ] = None,
    analytic: Annotated[
        bool,
        typer.Option(
            "--analytic",
            help="Print only the closed form (normal approximation × group-sequential "
            "inflation factor), instantly.",
        ),
    ] = False,
    scenario: Annotated[
        str, typer.Option(help="Scenario whose event rates and design are used.")
    ] = "base",
    n_sims: NSimsOpt = None,
    seed: SeedOpt = None,
    jobs: JobsOpt = None,
    max_n: Annotated[
        int, typer.Option("--max-n", help="Largest total sample size to consider.")
    ] = 20_000,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder for sample_size_curve.parquet and sample_size.json; "
            "default results/<protocol name>/sample_size/."
        ),
    ] = None,
    settings: SetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Smallest total sample size giving the target power to the primary comparison (first active arm vs control).

    Starts from the closed form, then simulates the protocol's trials (looks included)
    at candidate sizes with one seed, fits power against N (probit on √N) and checks
    the answer by simulation.
    """
    from cstrial.sample_size import analytic_sample_size, simulated_sample_size

    loaded = _load(protocol, settings)
    if analytic:
        closed = analytic_sample_size(loaded, power, scenario=scenario, seed=seed)
    else:
        with _progress_bar("searching", not as_json) as progress:
            result = simulated_sample_size(
                loaded,
                power,
                scenario=scenario,
                n_sims=n_sims,
                seed=seed,
                jobs=jobs,
                max_n=max_n,
                out=out,
                progress=progress,
            )
    if analytic:
        if as_json:
            payload = {**closed.to_dict(), "analytic_sample_size": closed.sample_size}
            out_console.print_json(json.dumps(payload))
            return
        _print_analytic(closed)
        return
    if as_json:
        out_console.print_json(json.dumps(result.to_dict()))
        return
    table = _table(title=f"Simulated power of {result.comparison} (scenario {result.scenario})")
    for column in ("N", "power", "SE", "fitted power"):
        table.add_column(column, justify="right")
    for row in result.curve.itertuples():
        mark = " ◀" if int(row.n) == result.sample_size else ""
        table.add_row(
            f"{int(row.n)}{mark}",
            _number(row.power),
            _number(row.power_se, 4),
            _number(row.fitted_power),
        )
    out_console.print(_fit(table))
    out_console.print(
        f"sample size {result.sample_size} (total, all arms) for power {result.target_power:.2f}: "
        f"simulated power {result.power:.3f} (SE {result.power_se:.4f}, {result.n_sims} trials, "
        f"seed {result.seed}).\n"
        f"95% interval on the simulated N (Monte Carlo error of the fitted curve): "
        f"{result.sample_size_interval[0]:.0f} to {result.sample_size_interval[1]:.0f}; "
        "more --n-sims narrows it.\n"
        f"analytic {result.analytic.sample_size} = fixed design "
        f"{result.analytic.fixed_sample_size:.1f} × inflation factor "
        f"{result.analytic.inflation_factor:.4f}, rounded up to blocks of {result.analytic.block}.\n"
        f"Wrote {result.out}/sample_size_curve.parquet."
    )


def _print_analytic(closed) -> None:
    table = _table(
        title=f"Closed-form sample size: {closed.comparison} (scenario {closed.scenario})"
    )
    table.add_column("quantity")
    table.add_column("value", justify="right")
    rows = [
        ("control risk", _number(closed.control_rate, 4)),
        ("treatment risk", _number(closed.treatment_rate, 4)),
        ("alpha (one-sided, per comparison)", _number(closed.alpha, 4)),
        ("power", _number(closed.power)),
        ("allocation", ":".join(str(a) for a in closed.allocation)),
        *(
            []
            if closed.events is None
            else [
                ("hazard ratio (marginal, at the horizon)", _number(closed.hazard_ratio, 4)),
                ("deaths needed, the two arms (Schoenfeld)", _number(closed.events, 1)),
            ]
        ),
        ("fixed-design total", _number(closed.fixed_sample_size, 1)),
        ("inflation factor (looks)", _number(closed.inflation_factor, 4)),
        ("dropout before horizon", f"{closed.dropout_fraction:.2%}"),
        ("total sample size", f"{closed.exact:.1f} → {closed.sample_size}"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    out_console.print(_fit(table))
    out_console.print(
        f"sample size {closed.sample_size} (analytic; total over all arms, rounded up to "
        f"whole randomisation blocks of {closed.block})."
    )


@app.command("power-curve")
def power_curve(
    protocol: ProtocolArg,
    over: Annotated[
        str,
        typer.Option(
            "--over",
            metavar="PATH=START:STOP:STEP",
            help="The numeric dotted path to vary and its values: START:STOP:STEP (stop "
            "included) or A,B,C, e.g. design.sample_size=400:1200:100 or "
            "arms.tocilizumab.effect.blockade=0.3,0.5,0.7.",
            show_default=False,
        ),
    ],
    scenario: Annotated[
        str, typer.Option(help="The scenario to vary (base is the protocol as written).")
    ] = "base",
    n_sims: NSimsOpt = None,
    seed: SeedOpt = None,
    jobs: JobsOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder for power_curve.parquet/.json/.png and the runs; "
            "default results/<protocol name>/power_curve/."
        ),
    ] = None,
    settings: SetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Power (with its exact 95% CI) at each value of one quantity, with common random numbers.

    Every value is simulated with the same seed, so the values share their random numbers
    and the curve's steps are far more precise than each power alone. Writes a PNG plot
    beside power_curve.parquet.
    """
    from cstrial.power_curve import parse_over
    from cstrial.power_curve import power_curve as simulate_curve

    path, values = parse_over(over)
    loaded = _load(protocol, settings)
    with _progress_bar("simulating", not as_json) as progress:
        curve = simulate_curve(
            loaded,
            path,
            values,
            scenario=scenario,
            n_sims=n_sims,
            seed=seed,
            jobs=jobs,
            out=out,
            progress=progress,
        )
    if as_json:
        out_console.print_json(json.dumps(curve.to_dict()))
        return
    comparisons = curve.table["comparison"].nunique()
    table = _table(
        f"Power against {path} (scenario {curve.scenario}, {curve.n_sims:,} trials per value, "
        "common random numbers)"
    )
    for column in (path, *(("comparison",) if comparisons > 1 else ()), "power", "95% CI",
                   "expected N", "expected months"):  # fmt: skip
        table.add_column(column, justify="left" if column == "comparison" else "right")
    for row in curve.table.itertuples():
        table.add_row(
            f"{row.value:g}",
            *((row.comparison,) if comparisons > 1 else ()),
            _number(row.power),
            f"{row.power_ci_low:.3f}-{row.power_ci_high:.3f}",
            f"{row.expected_n:.0f}",
            f"{row.expected_duration_months:.1f}",
        )
    out_console.print(_fit(table))
    out_console.print(
        f"Wrote {curve.out}/power_curve.parquet, power_curve.json and {curve.figure.name} "
        f"(runs in {curve.out}/runs/).",
        markup=False,
    )


@app.command()
def compare(
    sources: Annotated[
        list[Path],
        typer.Argument(
            help="Run directories (with manifest.json) or protocol files, run on the spot.",
            show_default=False,
        ),
    ],
    n_sims: NSimsOpt = None,
    seed: SeedOpt = None,
    jobs: JobsOpt = None,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder for comparison.parquet and the runs of protocols; default results/compare/."
        ),
    ] = None,
    power: Annotated[
        float | None,
        typer.Option(help="Target power of the analytic N column (default each design.power)."),
    ] = None,
    scenario: ScenarioOpt = None,
    save_patients: SavePatientsOpt = None,
    backend: BackendOpt = "loky",
    scheduler: SchedulerOpt = None,
    settings: SetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Designs side by side: power, type I error, expected N and duration, stopping per look.

    --set changes every protocol given (not the runs read from folders)."""
    from cstrial.compare import compare_designs

    with _progress_bar("simulating", not as_json) as progress:
        result = compare_designs(
            sources,
            overrides=_overrides(settings),
            n_sims=n_sims,
            seed=seed,
            jobs=jobs,
            out=out,
            power=power,
            scenario=scenario,
            save_patients=save_patients,
            backend=backend,
            scheduler=scheduler,
            progress=None
            if progress is None
            else (lambda name, done, total: progress(done, total, name)),
        )
    if as_json:
        payload = {"out": str(result.out), "comparison": result.to_records()}
        out_console.print_json(json.dumps(payload, default=str))
        return
    frame = result.table
    table = _table(title="Designs compared")
    columns = (
        "design",
        "scenario",
        "comparison",
        "N",
        "power",
        "SE",
        "type I error",
        "expected N",
        "expected months",
        "eligible",
        "screened per enrolled",
        "analytic N",
    )
    for column in columns:
        table.add_column(column, justify="left" if column in columns[:3] else "right")
    for row in frame.itertuples():
        table.add_row(
            row.design,
            row.scenario,
            row.comparison,
            "-" if _missing(row.sample_size) else f"{row.sample_size:.0f}",
            _number(row.power),
            _number(row.power_se, 4),
            _number(row.type_one_error, 4),
            f"{row.expected_n:.0f}",
            f"{row.expected_duration_months:.1f}",
            "-" if _missing(row.eligible_fraction) else f"{row.eligible_fraction:.1%}",
            _number(row.screened_per_enrolled, 2),
            "-" if _missing(row.analytic_sample_size) else f"{row.analytic_sample_size:.0f}",
        )
    out_console.print(_fit(table))
    if "disjunctive_power" in frame.columns:
        out_console.print(_multiarm_table(frame))
    if result.n_looks > 1:
        records = frame.to_dict(orient="records")
        keys = ("design", "scenario", "comparison")
        out_console.print(_fit(_stopping_table(records, keys, result.n_looks)))
    out_console.print(
        "type I error = power of the design's null scenario (null-effect, or true effect 0); "
        "analytic N = closed-form total for the target power at the scenario's true risks.\n"
        f"Wrote {result.out}/comparison.parquet."
    )


def _multiarm_table(frame: Any) -> Table:
    """Multi-arm designs: selection, patients per arm, disjunctive and conjunctive power,
    familywise error (rows of designs without them are left out)."""
    table = Table(title="Multi-arm operating characteristics")
    columns = (
        "design",
        "scenario",
        "comparison",
        "power",
        "P(selected)",
        "arm patients",
        "control patients",
        "any arm (disjunctive)",
        "all effective arms",
        "familywise error",
    )
    for column in columns:
        table.add_column(column, justify="left" if column in columns[:3] else "right")
    for row in frame[frame["disjunctive_power"].notna()].itertuples():
        table.add_row(
            row.design,
            row.scenario,
            row.comparison,
            _number(row.power),
            _number(row.p_selected),
            f"{row.expected_arm_patients:.0f}",
            f"{row.expected_control_patients:.0f}",
            _number(row.disjunctive_power),
            _number(row.conjunctive_power),
            _number(row.familywise_error, 4),
        )
    return table


@app.command()
def report(
    run_dir: Annotated[
        Path,
        typer.Argument(
            metavar="RUN", help="A run directory written by `cstrial run`.", show_default=False
        ),
    ],
    paths: Annotated[
        int, typer.Option(help="Simulated z paths drawn per scenario in the boundaries figure.")
    ] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Write RUN/report.html (self-contained: figures embedded) and RUN/figures/*.png."""
    from cstrial.report import write_report

    written = write_report(run_dir, paths=paths)
    if as_json:
        payload = {
            "report": str(written.path),
            "figures": {name: str(path) for name, path in written.figures.items()},
            "notes": list(written.notes),
        }
        out_console.print_json(json.dumps(payload))
        return
    for note in written.notes:
        err_console.print(f"note: {note}", markup=False)
    out_console.print(
        f"Wrote {written.path} with {len(written.figures)} figures "
        f"({', '.join(written.figures)}); PNGs in {written.path.parent / 'figures'}/.",
        markup=False,
    )


def _table(title: str = "", **options: Any) -> Table:
    """A table without vertical rules (two spaces between columns), so that a summary fits a
    100-column terminal; `out_console.print` it after `_fit`."""
    from rich import box

    return Table(title=title, box=box.SIMPLE_HEAD, show_edge=False, padding=(0, 1, 0, 0), **options)


def _fit(table: Table, width: int | None = None) -> Table:
    """Never cut a number: when the table is wider than the console, each right-aligned
    (numeric) column keeps the width of its widest cell and its header wraps at its spaces,
    while text columns fold."""
    width = width or out_console.width
    cells = [[str(cell) for cell in column._cells] for column in table.columns]
    natural = sum(
        max(len(c) for c in [*column_cells, str(column.header), "-"]) + 1
        for column, column_cells in zip(table.columns, cells, strict=True)
    )
    if natural <= width:
        return table
    for column, column_cells in zip(table.columns, cells, strict=True):
        if column.justify == "right":
            words = str(column.header).split()
            column.width = max(len(c) for c in [*column_cells, *words, "-"])
            column.no_wrap = False
        else:
            column.overflow = "fold"
    return table


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _stopping_table(records: list[dict[str, Any]], keys: tuple[str, ...], looks: int) -> Table:
    """Efficacy and futility stopping probabilities per look, one row per record."""
    stops = _table(
        title="Stopping probabilities per look",
        caption="eff k / fut k: stopped for efficacy / futility at look k",
    )
    for column in keys:
        stops.add_column(column)
    for kind in ("eff", "fut"):
        for k in range(1, looks + 1):
            stops.add_column(f"{kind} {k}", justify="right")
    for row in records:
        stops.add_row(
            *[str(row[key]) for key in keys],
            *[_number(row.get(f"reject_look_{k}")) for k in range(1, looks + 1)],
            *[_number(row.get(f"futility_look_{k}")) for k in range(1, looks + 1)],
        )
    return stops


def _assignments(values: list[str], option: str) -> dict[str, str]:
    """NAME=VALUE options as a mapping (the value as written)."""
    out = {}
    for text in values:
        name, sep, value = text.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise UsageError(option, f"must be NAME=VALUE, found {text!r}")
        out[name.strip()] = value.strip()
    return out


def _float(text: str, option: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise UsageError(option, f"needs a number, found {text!r}") from None


@app.command()
def sensitivity(
    protocol: ProtocolArg,
    scenario: Annotated[
        str | None,
        typer.Option(help="The scenario analysed (default: the protocol's first, `base`)."),
    ] = None,
    n_sims: Annotated[
        int,
        typer.Option("--n-sims", help="Replicate trials per setting (the same trials: same seed)."),
    ] = 2000,
    draws: Annotated[
        int,
        typer.Option(help="Latin-hypercube draws of all ranges for the joint power (0: none)."),
    ] = 64,
    seed: SeedOpt = None,
    parameter: Annotated[
        list[str] | None,
        typer.Option(
            "--parameter",
            help="Analyse only this parameter; repeat it for several (default: every "
            "uncertain parameter the protocol's arms can feel).",
        ),
    ] = None,
    range_: Annotated[
        list[str] | None,
        typer.Option(
            "--range",
            help="Replace a parameter's documented range, NAME=LOW:HIGH; repeat it for several.",
        ),
    ] = None,
    list_only: Annotated[
        bool,
        typer.Option(
            "--list", help="List the parameters analysed, their ranges and sources; no runs."
        ),
    ] = False,
    one_at_a_time: Annotated[
        bool,
        typer.Option(
            "--one-at-a-time/--joint-only", help="Whether to vary each parameter on its own too."
        ),
    ] = True,
    out: Annotated[
        Path | None,
        typer.Option(
            help="Folder for sensitivity.parquet, sensitivity.json and tornado.png; "
            "default results/<protocol name>/sensitivity/."
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Power under the model's uncertainty: each uncertain parameter at the ends of its range
    (a tornado), and all of them drawn jointly (median and 80% interval of power)."""
    from rich.markup import escape

    from cstrial.protocol import load_protocol
    from cstrial.sensitivity import analysed_parameters, write_sensitivity
    from cstrial.sensitivity import sensitivity_analysis as analyse

    loaded = load_protocol(protocol)
    ranges = {}
    for name, text in _assignments(range_ or [], "--range").items():
        low, sep, high = text.partition(":")
        if not sep:
            raise UsageError("--range", f"must be NAME=LOW:HIGH, found {name}={text}")
        ranges[name] = (_float(low, "--range"), _float(high, "--range"))
    if list_only:
        analysed = analysed_parameters(loaded, parameter, ranges)
        if as_json:
            out_console.print_json(json.dumps([r.to_record() for r in analysed]))
            return
        table = Table(title=f"Parameters analysed for {loaded.name}")
        for column in ("parameter", "table", "value", "range", "unit", "range source"):
            table.add_column(column)
        for r in analysed:
            table.add_row(
                r.name,
                r.table,
                f"{r.value:g}",
                f"{r.low:g} to {r.high:g}",
                escape(r.unit),
                escape(r.range_source),  # keep the [assumption] tags visible
            )
        out_console.print(table)
        return
    with _progress_bar("settings", _interactive() and not as_json, unit="settings") as progress:
        result = analyse(
            loaded,
            scenario=scenario,
            n_sims=n_sims,
            draws=draws,
            seed=seed,
            parameters=parameter,
            ranges=ranges,
            one_at_a_time=one_at_a_time,
            progress=progress,
        )
    folder = out if out is not None else Path("results") / loaded.name / "sensitivity"
    write_sensitivity(result, folder, loaded.source_text or loaded.resolved_yaml())
    if as_json:
        out_console.print_json(json.dumps({"out": str(folder), **result.to_json()}))
        return
    oat = result.one_at_a_time()
    if not oat.empty:
        base = ", ".join(
            f"{r['comparison']} {r['power_base']:.3f}" for r in result.joint().to_dict("records")
        )
        tornado = Table(
            title=f"One at a time ({result.n_sims} trials per setting, same seed; base power {base})"
        )
        for column in (
            "parameter",
            "comparison",
            "low / high",
            "power low",
            "power high",
            "control rate low",
            "control rate high",
            "effect low",
            "effect high",
        ):
            tornado.add_column(
                column, justify="left" if column in ("parameter", "comparison") else "right"
            )
        for row in oat.to_dict("records"):
            tornado.add_row(
                row["parameter"],
                row["comparison"],
                f"{row['low']:.3g} / {row['high']:.3g}",
                f"{row['power_low']:.3f}",
                f"{row['power_high']:.3f}",
                f"{row['control_rate_low']:.3f}",
                f"{row['control_rate_high']:.3f}",
                f"{row['true_effect_low']:.4f}",
                f"{row['true_effect_high']:.4f}",
            )
        out_console.print(tornado)
    joint = Table(title=f"Jointly ({result.draws} Latin-hypercube draws of all ranges)")
    for column in ("comparison", "base power", "median", "80% interval", "below base"):
        joint.add_column(column, justify="left" if column == "comparison" else "right")
    for row in result.joint().to_dict("records"):
        joint.add_row(
            row["comparison"],
            f"{row['power_base']:.3f}",
            _number(row["power_median"]),
            f"{_number(row['power_low'])} to {_number(row['power_high'])}",
            _number(row["share_below_base"], 2),
        )
    out_console.print(joint)
    out_console.print(
        f"Wrote {folder}/sensitivity.parquet, sensitivity.json and tornado.png "
        f"({result.timing['total']:.0f} s).",
        markup=False,
    )


@contextlib.contextmanager
def _progress_bar(description: str, show: bool = True, unit: str = "chunks"):
    """Progress on stderr; yields the (done, total) callback the library takes, or None
    when `show` is false (--json).

    On a terminal, a transient bar with the count and time left; elsewhere (CI, nohup,
    a pipe) one plain line per 5% of the work, so a batch log shows the run is alive."""
    if not show:
        yield None
        return
    if not _interactive():
        yield _progress_lines(description)
        return
    from rich.progress import (
        BarColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        # plain text columns: a warning printed while the bar is live never shows markup
        TextColumn("{task.description}", markup=False, style="progress.description"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} " + unit, markup=False),
        TimeElapsedColumn(),
        TextColumn("left", markup=False),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as bar:
        # hidden until the library says how many chunks there are: never "0/None"
        task = bar.add_task(description, total=None, visible=False)

        def progress(done: int, total: int, label: str | None = None) -> None:
            named = description if label is None else f"{description} {label}"
            bar.update(task, completed=done, total=total, visible=True, description=named)

        yield progress


def _progress_lines(description: str, step: float = 0.05):
    """A progress callback writing one line to stderr each time another `step` of the work is
    done (and at the end)."""
    import time

    started = time.monotonic()
    shown: dict[str, Any] = {"next": 0.0, "total": -1.0, "label": None}

    def progress(done: int, total: int, label: str | None = None) -> None:
        if total <= 0:
            return
        if total != shown["total"] or label != shown.get("label"):  # a new stage or design
            shown["total"], shown["next"], shown["label"] = float(total), 0.0, label
        fraction = done / total
        if fraction + 1e-12 < shown["next"] and done < total:
            return
        while shown["next"] <= fraction + 1e-12:
            shown["next"] += step
        elapsed = time.monotonic() - started
        named = description if label is None else f"{description} {label}"
        sys.stderr.write(
            f"{named}: {done}/{total} chunks ({fraction:.0%}), {elapsed:.0f} s elapsed\n"
        )
        sys.stderr.flush()

    return progress


@app.command()
def population(
    protocol: ProtocolArg,
    n: Annotated[int, typer.Option("--n", help="Enrolled virtual patients to describe.")] = 100_000,
    as_json: JsonOpt = False,
) -> None:
    """Describe the protocol's enrolled virtual population next to the published targets."""
    from cstrial.disease.describe import describe_population
    from cstrial.protocol import load_protocol

    description = describe_population(load_protocol(protocol), n=n)
    if as_json:
        out_console.print_json(json.dumps(description))
        return
    out_console.print(
        f"{description['n']:,} enrolled virtual patients; eligible fraction "
        f"{description['eligible_fraction']:.1%} ({description['screened_per_enrolled']:.2f} "
        "screened per enrolled)"
    )
    covariates = _table(title="Enrolled population")
    covariates.add_column("covariate")
    covariates.add_column("distribution")
    for name, summary in description["summary"].items():
        if "median" in summary:
            text = (
                f"median {summary['median']:.3g} (IQR {summary['q1']:.3g}-{summary['q3']:.3g}), "
                f"mean {summary['mean']:.3g}"
            )
        else:
            text = ", ".join(f"{level} {share:.1%}" for level, share in summary.items())
        covariates.add_row(name, text)
    out_console.print(covariates)
    mortality = description["mortality"]
    deaths = _table(title="Control-arm mortality (model)")
    days = (30, 180, 365)
    for column in ("group", *(f"{day} days" for day in days)):
        deaths.add_column(column, justify="left" if column == "group" else "right")
    deaths.add_row("all enrolled", *(f"{mortality[f'control_{day}d']:.1%}" for day in days))
    for name in ("scai_stage", "phenotype"):
        for level in mortality[f"control_30d_by_{name}"]:
            deaths.add_row(
                f"{name} {level}",
                *(f"{mortality[f'control_{day}d_by_{name}'][level]:.1%}" for day in days),
            )
    out_console.print(deaths)
    targets = _table(title="Published targets (default population, model risks)")
    for column in ("target", "model", "published", "tolerance", "ok", "source"):
        targets.add_column(
            column, justify="right" if column in ("model", "published", "tolerance") else "left"
        )
    notes: dict[str, int] = {}  # each reference note once, numbered
    for t in description["targets"]:
        ok = "yes" if t["ok"] else "NO"
        if not t.get("required", True):
            number = notes.setdefault(t["note"], len(notes) + 1)
            ok = f"{ok.lower()} (reference [{number}])"
        targets.add_row(
            t["name"],
            f"{t['value']:.3f}",
            f"{t['target']:.3f}",
            f"±{t['tolerance']:.3f}",
            ok,
            t["source"],
        )
    out_console.print(targets)
    for note, number in notes.items():
        out_console.print(f"[{number}] {note}", markup=False)
    _print_organ_support(description["organ_support"])


def _print_organ_support(rows: list[dict]) -> None:
    table = Table(title="Organ support by day 30, control care (simulated)")
    for column in ("measure", "enrolled", "AMI-CS model", "published", "ok", "source"):
        table.add_column(
            column, justify="right" if column in ("enrolled", "AMI-CS model") else "left"
        )
    notes: list[str] = []
    for row in rows:
        published, ok = "-", "-"
        if row["target"] is not None:
            published = f"{row['target']:.3g} ±{row['tolerance']:.2g}"
            ok = "yes" if row["ok"] else "NO"
        if row["note"]:
            notes.append(row["note"])
            ok = f"{ok} [{len(notes)}]"
        table.add_row(
            row["name"],
            "-" if row["value"] is None else f"{row['value']:.3g}",
            f"{row['ami_cs']:.3g}",
            published,
            escape(ok),
            escape(row["source"]),
        )
    out_console.print(table)
    for number, note in enumerate(notes, 1):
        out_console.print(f"[{number}] {note}", markup=False)


@app.command()
def calibrate(
    protocol: ProtocolArg,
    type_i_error: Annotated[
        float,
        typer.Option(
            "--type-i-error",
            help="The type I error to reach in --scenario, one-sided, e.g. 0.025.",
        ),
    ],
    scenario: Annotated[
        str,
        typer.Option(help="The null scenario the error is measured in, e.g. null-effect."),
    ],
    n_sims: NSimsOpt = None,
    seed: SeedOpt = None,
    jobs: JobsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Find the efficacy posterior-probability threshold of a Bayesian design
    (design.decision) that gives a type I error, on common random numbers."""
    from cstrial.calibrate import calibrate_efficacy

    with _progress_bar("calibrating", _interactive() and not as_json) as progress:
        result = calibrate_efficacy(
            protocol,
            type_i_error=type_i_error,
            scenario=scenario,
            n_sims=n_sims,
            seed=seed,
            jobs=jobs,
            progress=progress,
        )
    if as_json:
        out_console.print_json(json.dumps(result.to_json()))
        return
    table = Table(title=f"{protocol}: efficacy threshold for type I error {type_i_error:g}")
    for column in ("scenario", "threshold", "type I error", "SE", "trials", "looks"):
        table.add_column(column, justify="left" if column == "scenario" else "right")
    table.add_row(
        result.scenario,
        f"{result.threshold:.6f}",
        f"{result.achieved:.4f}",
        f"{result.se:.4f}",
        str(result.n_sims),
        str(result.looks),
    )
    out_console.print(table)
    out_console.print(
        f"Stop for efficacy when P > {result.threshold:.6f} (design.decision.efficacy."
        f"probability). The protocol's {result.protocol_threshold:g} gives "
        f"{result.protocol_error:.4f} on the same trials (seed {result.seed}).",
        markup=False,
    )
