"""The report's sections: small functions that each return a `Section` (or None to skip).

A report is `SECTIONS` run in order on one `ReportContext`; the Jinja2 template
(`templates/report.html.j2`) lays out whatever they return, so a feature adds its own
section by writing a function and registering it (docs/report.md):

    def tornado_section(context: ReportContext) -> Section | None:
        if "sensitivity" not in context.manifest:
            return None
        return Section("sensitivity", "Sensitivity", paragraphs=(...,),
                       tables=(Table(...),), figures=(ReportFigure(...),))

    register_section(tornado_section, after="results_section")

Nothing here writes files: `cstrial.report.html` renders and writes.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from scipy.special import ndtr

from cstrial.design.boundaries import design_boundaries
from cstrial.design.effect_scale import hazard_ratio_bounds, risk_difference_bounds
from cstrial.errors import CstrialError
from cstrial.protocol import Protocol, expand_scenarios
from cstrial.protocol.grid import grid_labels, value_text
from cstrial.protocol.vocabulary import ANALYSES
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
from cstrial.results import RunResult, vouched

PATHS_SHOWN = 50
PANELS_SHOWN = 4
STOPPING_SCENARIOS = 8
SAMPLE_SIZE_CURVES = ("sample_size/sample_size_curve.parquet", "sample_size_curve.parquet")

SCALE_TEXT = {
    "risk-difference": "risk difference (treatment − control, below 0 favours treatment)",
    "hazard-ratio": "hazard ratio (treatment / control, below 1 favours treatment)",
    "odds-ratio": "odds ratio (treatment / control, below 1 favours treatment)",
    "win-ratio": "win ratio (treatment wins / losses, above 1 favours treatment)",
    "probabilistic-index": "probabilistic index (P(treatment better) + ½ P(tie), above 0.5 "
    "favours treatment)",
}
"""What `estimate` and `true effect` mean on each scale, for captions."""

# analyses whose z bounds convert to the effect scale in closed form (rpact's formulas);
# the others say so in the bounds section
_EFFECT_BOUNDS = {
    "two-proportion": "risk-difference",
    "cmh": "risk-difference",
    "log-rank": "hazard-ratio",
    "stratified-log-rank": "hazard-ratio",
    "cox": "hazard-ratio",
}
_APPROXIMATE = {"cmh", "stratified-log-rank", "cox"}


# --------------------------------------------------------------------------- building blocks


@dataclass(frozen=True)
class Table:
    """A table of text cells; `align` per column: 'l' or 'r' (default: first column l)."""

    columns: Sequence[str]
    rows: Sequence[Sequence[str]]
    caption: str = ""
    align: Sequence[str] = ()

    def alignment(self) -> list[str]:
        if self.align:
            return list(self.align)
        return ["l", *("r" for _ in self.columns[1:])]


@dataclass(frozen=True)
class ReportFigure:
    """A figure: its name (the PNG file RUN/figures/NAME.png), PNG bytes and caption."""

    name: str
    png: bytes
    caption: str


@dataclass(frozen=True)
class Section:
    """One section of the report, in the order it is laid out: paragraphs, tables,
    figures, notes (highlighted), then a preformatted block (e.g. the protocol)."""

    id: str
    title: str
    paragraphs: Sequence[str] = ()
    tables: Sequence[Table] = ()
    figures: Sequence[ReportFigure] = ()
    notes: Sequence[str] = ()
    preformatted: str | None = None


@dataclass
class ReportContext:
    """What every section may read: the run, its protocol and scenarios, and options."""

    result: RunResult
    protocol: Protocol | None
    paths: int = PATHS_SHOWN
    notes: list[str] = field(default_factory=list)  # the report's notes (Report.notes)

    @property
    def summary(self) -> pd.DataFrame:
        return self.result.summary

    @property
    def manifest(self) -> dict:
        return self.result.manifest

    @cached_property
    def scenario_protocols(self) -> dict[str, Protocol]:
        """Each scenario's full protocol, by name (empty when the protocol is unknown)."""
        if self.protocol is None:
            return {}
        try:
            return {s.name: s.protocol for s in expand_scenarios(self.protocol)}
        except CstrialError:
            return {"base": self.protocol}

    def scenario_protocol(self, name: str) -> Protocol | None:
        return self.scenario_protocols.get(name, self.protocol)

    @cached_property
    def patients(self) -> pd.DataFrame | None:
        path = self.result.out / "patients.parquet"
        if "patients.parquet" not in self.result.manifest.get("files", {}):
            if path.exists():
                self.notes.append(
                    f"{path} is not one of this run's files (its manifest does not list it: it "
                    "is left from another run), so it is not drawn."
                )
            return None
        table = pq.read_table(vouched(self.result.out, self.result.manifest, "patients.parquet"))
        return None if table.num_rows == 0 else table.to_pandas()


SectionFunction = Callable[[ReportContext], Section | None]


# --------------------------------------------------------------------------- formatting


def _number(value: Any, spec: str) -> str:
    if value is None:
        return "–"
    try:
        x = float(value)
    except (TypeError, ValueError):
        return str(value)
    if math.isnan(x):
        return "–"
    if math.isinf(x):
        return "none" if x > 0 else "–"
    return format(x, spec)


def _effect(value: float, scale: str) -> str:
    if not math.isfinite(value):
        return "–"
    return f"{value:+.4f}" if scale == "risk-difference" else f"{value:.3f}"


def _is_null(row: pd.Series) -> bool:
    """The row's scenario has no true effect (its 'power' is a type I error)."""
    scale = row.get("estimate_scale", "risk-difference")
    null = 1.0 if scale in ("hazard-ratio", "win-ratio", "odds-ratio") else 0.0
    null = 0.5 if scale == "probabilistic-index" else null
    truth = float(row.get("true_effect", math.nan))
    return math.isfinite(truth) and abs(truth - null) < 1e-12


def _plain(value: Any) -> str:
    """A scenario's value as a reader would write it: {type: binary, ...}, [a, b], 0.7."""
    if isinstance(value, dict):
        inner = ", ".join(f"{k}: {_plain(v)}" for k, v in value.items() if k != "name")
        return "{" + inner + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_plain(v) for v in value) + "]"
    return value_text(value)


def _list(words: Sequence[str]) -> str:
    words = list(words)
    if len(words) <= 1:
        return "".join(words)
    return ", ".join(words[:-1]) + " and " + words[-1]


# --------------------------------------------------------------------------- the design in brief


_COVARIATE_TEXT = {
    "age": "age (years)",
    "scai_stage": "SCAI stage",
    "etiology": "aetiology",
    "il6_pg_ml": "IL-6 (pg/mL)",
    "crp_mg_l": "CRP (mg/L)",
    "lactate_mmol_l": "lactate (mmol/L)",
    "egfr_ml_min": "eGFR (mL/min)",
    "lvef_pct": "LVEF (%)",
    "mcs_at_baseline": "mechanical circulatory support at baseline",
}

_SPENDING_TEXT = {
    "lan-demets-obrien-fleming": "O'Brien–Fleming-type (Lan–DeMets)",
    "lan-demets-pocock": "Pocock-type (Lan–DeMets)",
    "hwang-shih-decani": "Hwang–Shih–DeCani",
    "kim-demets": "Kim–DeMets",
    "wang-tsiatis": "Wang–Tsiatis",
}


def _criteria_text(criteria: dict[str, Any]) -> list[str]:
    out = []
    for name, criterion in criteria.items():
        label = _COVARIATE_TEXT.get(name, name.replace("_", " "))
        if isinstance(criterion, list):
            if all(isinstance(v, bool) for v in criterion) and len(criterion) == 1:
                out.append(label if criterion[0] else f"not {label}")
            else:
                out.append(f"{label} {' or '.join(str(v) for v in criterion)}")
            continue
        low = getattr(criterion, "min", None)
        high = getattr(criterion, "max", None)
        if low is not None and high is not None:
            out.append(f"{label} {low:g} to {high:g}")
        elif low is not None:
            out.append(f"{label} ≥ {low:g}")
        elif high is not None:
            out.append(f"{label} ≤ {high:g}")
    return out


def _effect_text(effect: Any) -> str:
    if effect is None:
        return "no effect (a null arm)"
    model = effect.model
    if model in ("risk-ratio", "odds-ratio", "hazard-ratio"):
        return f"a patient-level {model.replace('-', ' ')} of {effect.value:g}"
    delay = f" from {effect.delay_hours:g} h" if effect.delay_hours else ""
    if model == "il6-mediated":
        return f"removing {effect.blockade:.0%} of the IL-6-attributable excess risk{delay}"
    if effect.drug == "tocilizumab":
        regimen = f"tocilizumab {effect.dose_mg_per_kg:g} mg/kg IV × {effect.doses}"
    else:
        regimen = (
            f"anakinra {effect.dose_mg:g} mg SC {effect.doses_per_day}×/day for {effect.days} days"
        )
    return f"{regimen} (PK/PD; {effect.blockade:.0%} blockade at full exposure){delay}"


_ENDPOINT_TEXT = {
    "binary": "death by day {h:g}",
    "time-to-event": "time to death up to day {h:g}",
    "days-alive-out-of-hospital": "days alive and out of hospital to day {h:g}",
    "hierarchical": "a hierarchical composite to day {h:g}",
    "organ-support-free-days": "organ-support-free days to day {h:g} (death scored −1)",
}


def _statement(statement: Any) -> str:
    """'P(effect > 1) > 0.99'-style text of a Bayesian efficacy or futility statement."""
    side, bound = ("<", statement.below) if statement.below is not None else (">", statement.above)
    return f"the effect {side} {_plain(bound if bound is not None else 0)}"


def _design_rules(protocol: Protocol) -> list[str]:
    """Sentences for the decision design when it is not each comparison's own z alone:
    multi-arm closed testing and selection, combination tests, Bayesian rules, assurance."""
    design = protocol.design
    text = []
    if design.multiplicity != "bonferroni" or design.selection is not None:
        text.append(
            f"The arms are tested against the shared control by {design.multiplicity} "
            "(familywise error controlled in the strong sense across arms and looks)."
        )
    if design.selection is not None:
        text.append(
            f"At each interim arms are selected by rule {design.selection.rule}; dropped arms "
            "stop enrolling (docs/multiarm.md)."
        )
    if design.combination is not None:
        text.append(
            "Stages are combined by the inverse-normal combination test with pre-specified "
            "weights, so the design may adapt at interims without inflating the type I error."
        )
    if design.reestimation is not None:
        text.append(
            f"At the interim the remaining sample size is re-estimated by the "
            f"{design.reestimation.rule} rule (conditional power target "
            f"{design.reestimation.target:g}) between {design.reestimation.min_per_stage:,} "
            f"and {design.reestimation.max_per_stage:,} per stage."
        )
    if design.enrichment is not None:
        subgroup = _criteria_text(dict(design.enrichment.subgroup))
        text.append(
            f"At the first interim the trial may continue in all comers, in the subgroup "
            f"({_list(subgroup)}) or both (selection {design.enrichment.selection}; closed "
            f"test with {design.enrichment.intersection} intersections)."
        )
    if design.decision is not None:
        decision = design.decision
        rule = (
            f"Decisions are Bayesian: at every look the trial stops for efficacy when "
            f"P({_statement(decision.efficacy)}) > {decision.efficacy.probability:g}"
        )
        if decision.futility is not None:
            rule += (
                f", for futility when P({_statement(decision.futility)}) < "
                f"{decision.futility.probability:g}"
            )
        text.append(
            rule + "; the efficacy threshold's type I error is what the null "
            "scenario shows (docs/bayesian.md)."
        )
    if design.assurance is not None:
        text.append(
            "Assurance: each simulated trial draws its own "
            + _list(list(design.assurance.prior))
            + " from the design prior, so the power of those scenarios is the probability of "
            "success averaged over what is not known."
        )
    return text


def design_paragraphs(protocol: Protocol, manifest: dict) -> list[str]:
    """The design in plain language: who, arms, endpoint, looks, alpha, N, what power means."""
    design = protocol.design
    population = protocol.population
    criteria = _criteria_text(population.inclusion)
    excluded = _criteria_text(population.exclusion)
    who = "patients in cardiogenic shock (the virtual population)"
    if criteria:
        who += f" with {_list(criteria)}"
    if excluded:
        who += f", excluding {' or '.join(excluded)},"
    arms = []
    for arm in protocol.arms:
        what = "control" if arm.control else _effect_text(arm.effect)
        arms.append(f"{arm.name} ({what})")
    allocation = ":".join(str(a.allocation) for a in protocol.arms)
    endpoint = protocol.endpoints.primary
    outcome = _ENDPOINT_TEXT[endpoint.type].format(h=float(endpoint.horizon_days))
    if endpoint.type == "hierarchical" and endpoint.components:
        outcome += " (" + ", then ".join(c.replace("_", " ") for c in endpoint.components) + ")"
    active = len(protocol.active_arms)
    alpha_text = f"one-sided α = {design.alpha:g}"
    if active > 1 and design.multiplicity == "bonferroni" and design.selection is None:
        alpha_text += f", split equally over the {active} comparisons (Bonferroni)"
    looks = design.looks
    tte = endpoint.type == "time-to-event"
    if len(looks) == 1 and not tte:
        timing = "There is one analysis, when every patient has completed follow-up."
    elif len(looks) == 1:
        timing = "There is one analysis."
    else:
        unit = "deaths" if endpoint.type == "time-to-event" else "patients followed up"
        fractions = _list([f"{t:.0%}" for t in looks[:-1]])
        interims = (
            "one interim analysis" if len(looks) == 2 else f"{len(looks) - 1} interim analyses"
        )
        timing = (
            f"There is {interims}, at {fractions} of the planned {unit}, before the final "
            "one; the trial stops early for efficacy when z crosses the "
            f"{_SPENDING_TEXT.get(design.efficacy.spending, design.efficacy.spending)} "
            "alpha-spending bound"
        )
        if design.futility is not None:
            kind = "binding" if design.futility.binding else "non-binding"
            if design.futility.conditional_power_below is not None:
                timing += (
                    f", and for futility ({kind}) when conditional power falls below "
                    f"{design.futility.conditional_power_below:g}"
                )
            elif design.futility.spending != "none":
                family = _SPENDING_TEXT.get(design.futility.spending, design.futility.spending)
                timing += f", and for futility ({kind}) below the {family} beta-spending bound"
        timing += "."
    if tte:
        events = manifest.get("scenarios", [{}])[0].get("planned_events")
        planned = (
            f"the planned {events:,} deaths" if isinstance(events, int) else "the planned deaths"
        )
        timing += (
            f" The final analysis is at {planned} (design.final_analysis: events), or when "
            "every patient has reached the horizon if they are never reached."
            if design.final_analysis == "events"
            else f" The final analysis is when every patient has reached day "
            f"{float(endpoint.horizon_days):g}, whatever the deaths by then (planned: "
            f"{planned.removeprefix('the planned ')})."
        )
    accrual = design.accrual
    first = (
        f"The trial randomises {design.sample_size:,} {who} ({allocation}) to "
        f"{_list(arms)}, enrolling {accrual.patients_per_month:g} patients a month"
        + (f" after a {accrual.ramp_up_months:g}-month ramp-up" if accrual.ramp_up_months else "")
        + (
            f", with {design.dropout.rate_per_year:.0%} a year lost to follow-up"
            if design.dropout.rate_per_year
            else ""
        )
        + f". The primary endpoint is {outcome}, analysed by {endpoint.analysis} on the "
        f"{SCALE_TEXT.get(ANALYSES[endpoint.analysis].scale, ANALYSES[endpoint.analysis].scale)}"
        f" scale, tested at {alpha_text}. {timing}"
    )
    rules = _design_rules(protocol)
    if rules:
        first += " " + " ".join(rules)
    n_sims = manifest.get("n_sims")
    variants = [
        f"{spec.name} ({'; '.join(f'{k} = {_plain(v)}' for k, v in spec.set.items())})"
        for spec in protocol.scenarios
    ]
    if protocol.grid:
        labels = grid_labels(list(protocol.grid))
        variants.append(
            "a grid over "
            + " × ".join(
                f"{labels[k]} ({', '.join(value_text(v) for v in values)})"
                for k, values in protocol.grid.items()
            )
        )
    if variants:
        first += (
            " Besides the design as written (scenario base), the run simulates "
            + "; ".join(variants)
            + "."
        )
    second = (
        f"Each scenario was simulated {n_sims:,} times. Power is the share of those virtual "
        "trials that reject the null hypothesis of no benefit, at any look, when the drug "
        "works as the scenario assumes (the design targets "
        f"{design.power:.0%}). In a scenario where the drug does nothing, the same share is "
        "the type I error: how often the trial would wrongly declare benefit; it must stay "
        f"at or below α = {design.alpha:g}."
        if isinstance(n_sims, int)
        else ""
    )
    return [first, second] if second else [first]


def design_section(context: ReportContext) -> Section | None:
    if context.protocol is None:
        return Section(
            "design",
            "The design in brief",
            notes=("The run's protocol could not be rebuilt from its manifest.",),
        )
    return Section(
        "design",
        "The design in brief",
        paragraphs=design_paragraphs(context.protocol, context.manifest),
    )


# --------------------------------------------------------------------------- bounds


def bounds_table(
    scenario: dict, comparison: dict, protocol: Protocol, control_risk: float
) -> tuple[Table, list[str]]:
    """The stopping bounds of one scenario's comparison at each look, on the z, p and effect
    scales, with the information each look plans (patients, deaths) and its month."""
    endpoint = protocol.endpoints.primary
    analysis = endpoint.analysis
    efficacy = np.array([math.inf if v is None else float(v) for v in comparison["efficacy_z"]])
    futility_raw = comparison.get("futility_z")
    futility = (
        None
        if futility_raw is None
        else np.array([-math.inf if v is None else float(v) for v in futility_raw])
    )
    patients = np.asarray(scenario["look_patients"], dtype=float)
    events = scenario.get("look_events")
    months = scenario.get("look_months") or [math.nan] * patients.size
    arms = {a.name: a for a in protocol.arms}
    control = protocol.control_arm
    treated_name = comparison["comparison"].split(" vs ")[0]
    treated = arms.get(treated_name, protocol.active_arms[0])
    shares = np.array([a.allocation for a in protocol.arms], dtype=float)
    share_c = control.allocation / shares.sum()
    share_t = treated.allocation / shares.sum()
    ratio = treated.allocation / control.allocation
    notes: list[str] = []
    scale = _EFFECT_BOUNDS.get(analysis)
    effect_eff = effect_fut = None
    if scale == "risk-difference":
        n_c, n_t = patients * share_c, patients * share_t
        effect_eff = risk_difference_bounds(efficacy, n_c, n_t, control_risk)
        if futility is not None:
            effect_fut = risk_difference_bounds(futility, n_c, n_t, control_risk)
        unit = "risk difference"
    elif scale == "hazard-ratio" and events:
        deaths = np.asarray(events, dtype=float)
        if len(protocol.arms) > 2:  # the comparison's two arms' share of the planned deaths
            deaths = deaths * (share_c + share_t)
            notes.append(
                "With more than two arms, a comparison's deaths are taken as its two arms' "
                "share of the planned deaths (approximate)."
            )
        effect_eff = hazard_ratio_bounds(efficacy, deaths, ratio)
        if futility is not None:
            effect_fut = hazard_ratio_bounds(futility, deaths, ratio)
        unit = "hazard ratio"
    else:
        unit = ""
    if scale is None:
        notes.append(
            f"{analysis} has no closed-form map from z to its estimate's scale, so the "
            "bounds are given on the z and p scales only."
        )
    elif analysis in _APPROXIMATE:
        notes.append(
            f"Effect-scale bounds for {analysis} use the unstratified/log-rank formula "
            "(approximate)."
        )
    # time to event: looks come at planned deaths, whose dates and enrolment vary by trial
    columns = ["look", "information"]
    columns += ["deaths"] if events else ["patients followed up", "month"]
    columns += ["efficacy z", "one-sided p", "cumulative α spent"]
    if effect_eff is not None:
        columns.append(f"efficacy: {unit} ≤")
    if futility is not None:
        columns.append("futility z")
        if effect_fut is not None:
            columns.append(f"futility: {unit} ≥")
    fractions = (
        np.asarray(events, dtype=float) / float(events[-1]) if events else patients / patients[-1]
    )
    spent = np.full(patients.size, math.nan)
    # the same bounds the run used (its manifest holds the z bounds, not the spend)
    with contextlib.suppress(CstrialError):
        spent = design_boundaries(
            protocol.design, [float(f) for f in fractions], float(comparison["alpha"])
        ).cumulative_alpha
    rows = []
    for k in range(patients.size):
        final = k == patients.size - 1
        row = [f"{k + 1}" + (" (final)" if final else ""), f"{fractions[k]:.2f}"]
        if events:
            row.append(f"{float(events[k]):,.0f}")
        else:
            row += [f"{patients[k]:,.0f}", _number(months[k], ".1f")]
        row += [
            _number(efficacy[k], ".3f"),
            _number(1 - ndtr(efficacy[k]), ".5f") if math.isfinite(efficacy[k]) else "–",
            _number(spent[k], ".5f"),
        ]
        if effect_eff is not None:
            row.append(_effect(effect_eff[k], scale or ""))
        if futility is not None:
            interim = not final and math.isfinite(futility[k])
            row.append(_number(futility[k], ".3f") if interim else "–")
            if effect_fut is not None:
                row.append(_effect(effect_fut[k], scale or "") if interim else "–")
        rows.append(row)
    caption = (
        f"Scenario {scenario['name']}, {comparison['comparison']} (one-sided α "
        f"{comparison['alpha']:g}): the trial stops for efficacy at a look when z is at "
        "or above the efficacy bound"
    )
    if effect_eff is not None:
        caption += (
            f", i.e. when the observed {unit} is at or beyond the value shown (at the "
            f"planned {'deaths' if scale == 'hazard-ratio' else 'patients'}"
            + (f" and a control risk of {control_risk:.3f}" if scale == "risk-difference" else "")
            + ", as rpact's summary gives it)"
        )
    caption += "."
    if futility is not None:
        caption += " It stops for futility when z is below the futility bound."
    return Table(columns, rows, caption), notes


def _design_key(scenario: dict, comparison: dict) -> tuple:
    return (
        tuple(scenario["look_patients"]),
        tuple(scenario.get("look_events") or ()),
        tuple(comparison["efficacy_z"]),
        tuple(comparison.get("futility_z") or ()),
    )


def bounds_section(context: ReportContext) -> Section | None:
    scenarios = context.manifest.get("scenarios", [])
    if not scenarios or context.protocol is None:
        return None
    tables, notes, seen = [], [], set()
    summary = context.summary
    for scenario in scenarios:
        protocol = context.scenario_protocol(scenario["name"])
        if protocol is None:
            continue
        for comparison in scenario["comparisons"][:1]:
            key = (_design_key(scenario, comparison), protocol.endpoints.primary.analysis)
            if key in seen:
                continue
            seen.add(key)
            rows = summary[
                (summary["scenario"] == scenario["name"])
                & (summary["comparison"] == comparison["comparison"])
            ]
            control = (
                float(rows["true_control_rate"].iloc[0])
                if not rows.empty and "true_control_rate" in rows
                else math.nan
            )
            table, table_notes = bounds_table(scenario, comparison, protocol, control)
            tables.append(table)
            notes += [n for n in table_notes if n not in notes]
        if len(tables) >= 4:
            break
    if not tables:
        return None
    paragraphs = [
        "The bounds are the planned ones: each interim sees its planned information "
        "(patients followed up, or deaths), and the efficacy bound is the one that spends "
        "the design's α at that information. Effect-scale values are where the observed "
        "effect crosses the bound at the planned information; they are not the effect the "
        "drug must have to stop the trial."
    ]
    if len(tables) > 1:
        paragraphs.append(
            "Scenarios with the same looks and bounds share a table; one table is shown per "
            "distinct design (first four)."
        )
    return Section("bounds", "Stopping bounds at each look", paragraphs, tables, notes=notes)


# --------------------------------------------------------------------------- results


def results_section(context: ReportContext) -> Section | None:
    summary = context.summary
    multi = summary["comparison"].nunique() > 1
    columns = ["scenario"] + (["comparison"] if multi else [])
    columns += [
        "reads as",
        "value",
        "95% CI",
        "control risk",
        "treatment risk",
        "effect scale",
        "true effect",
        "mean estimate",
        "expected N",
        "expected months",
        "eligible",
    ]
    rows, scales = [], []
    for _, row in summary.iterrows():
        scale = str(row.get("estimate_scale", "risk-difference"))
        scales.append(scale)
        null = _is_null(row)
        reads = f"type I error (α {row['alpha']:g})" if null else "power"
        cells = [str(row["scenario"])] + ([str(row["comparison"])] if multi else [])
        cells += [
            reads,
            f"{row['power']:.3f}",
            f"{row['power_ci_low']:.3f}–{row['power_ci_high']:.3f}",
            _number(row.get("true_control_rate"), ".3f"),
            _number(row.get("true_treatment_rate"), ".3f"),
            scale,
            _effect(float(row.get("true_effect", math.nan)), scale),
            _effect(float(row.get("mean_estimate", math.nan)), scale),
            _number(row.get("expected_n"), ",.0f"),
            _number(row.get("expected_duration_months"), ".1f"),
            _number(row.get("eligible_fraction"), ".1%"),
        ]
        rows.append(cells)
    used = list(dict.fromkeys(scales))
    caption = (
        "value = share of simulated trials that rejected H0 (one-sided), with its exact "
        "(Clopper–Pearson) 95% interval: power where the scenario's drug works, type I "
        "error where its true effect is null. Control/treatment risk: the model's risk of "
        "death by the primary horizon. Effect scale of true effect and mean estimate: "
        + "; ".join(SCALE_TEXT.get(s, s) for s in used)
        + ". Ratios are averaged on the log scale (geometric mean). Expected N counts "
        "patients enrolled but not yet followed up at an early stop; expected months is "
        "the calendar duration. Eligible: share of the virtual cardiogenic-shock "
        "population meeting the criteria."
    )
    notes = []
    if "failed_fits" in summary and (summary["failed_fits"] > 0).any():
        failed = summary[summary["failed_fits"] > 0]
        notes.append(
            "Model fits that did not converge (counted as no evidence at that look): "
            + "; ".join(f"{r['scenario']}: {int(r['failed_fits'])}" for _, r in failed.iterrows())
            + "."
        )
    null_rows = [_is_null(r) for _, r in summary.iterrows()]
    paragraphs = []
    if not any(null_rows):
        paragraphs.append(
            "No scenario of this run has a null effect, so the run shows no type I error; "
            "add a scenario without benefit (e.g. blockade: 0) to see it."
        )
    return Section(
        "results",
        "Power and type I error",
        paragraphs,
        (Table(columns, rows, caption),),
        notes=notes,
    )


def secondary_section(context: ReportContext) -> Section | None:
    summary = context.summary
    names = [c.removesuffix("_power") for c in summary.columns if c.endswith("_power")]
    names = [n for n in names if f"{n}_mean_estimate" in summary]
    if not names:
        return None
    protocol = context.protocol
    analyses = {}
    testing = "none"
    if protocol is not None:
        analyses = {e.name: e.analysis for e in protocol.endpoints.secondary}
        chosen = protocol.endpoints.testing
        testing = chosen if isinstance(chosen, str) else "graph"
    columns = ["scenario", "comparison", "endpoint", "analysis", "power", "mean estimate"]
    rows = []
    for _, row in summary.iterrows():
        for name in names:
            analysis = analyses.get(name, "")
            scale = ANALYSES[analysis].scale if analysis in ANALYSES else ""
            rows.append(
                [
                    str(row["scenario"]),
                    str(row["comparison"]),
                    name,
                    analysis or "–",
                    _number(row[f"{name}_power"], ".3f"),
                    _effect(float(row[f"{name}_mean_estimate"]), scale),
                ]
            )
    if testing == "fixed-sequence":
        how = (
            "tested in a fixed sequence after the primary: each rejects only if the primary "
            "and every earlier secondary did, at the comparison's full one-sided α at the "
            "primary's stopping look"
        )
    elif testing == "graph":
        how = (
            "each tested alone here (power without multiplicity control); the protocol's "
            "graphical procedure decides them in trials.parquet's <secondary>_graph_rejected "
            "columns (docs/multiarm.md)"
        )
    else:
        how = (
            "each tested alone at the comparison's one-sided α at the primary's stopping look, "
            "without multiplicity control"
        )
    caption = (
        f"Secondary endpoints, {how}. Power = share of trials rejecting; mean estimate on "
        "each analysis's scale (ratios: geometric mean)."
    )
    return Section("secondary", "Secondary endpoints", tables=(Table(columns, rows, caption),))


# --------------------------------------------------------------------------- figures


def _first_comparison(summary: pd.DataFrame) -> pd.DataFrame:
    return summary[summary["comparison"] == summary["comparison"].iloc[0]]


def _json(path: Any) -> dict:
    import json

    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def power_section(context: ReportContext) -> Section | None:
    result, protocol = context.result, context.protocol
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
            return Section(
                "power", "Power", figures=(ReportFigure("power_curve", png_bytes(figure), caption),)
            )
    lines = _grid_lines(context)
    if lines:
        caption = (
            "Power against total sample size across the grid scenarios that vary "
            "design.sample_size, with exact 95% intervals; one line (one colour) per "
            "setting of the other grid paths. A line at a null effect shows the type I error."
        )
        figure = grid_power_figure(lines, target)
        return Section(
            "power", "Power", figures=(ReportFigure("power_curve", png_bytes(figure), caption),)
        )
    caption = (
        "Share of trials rejecting H0 in each scenario with its exact (Clopper–Pearson) 95% "
        "interval: power, or the type I error in a scenario without benefit (marked)."
    )
    figure = power_by_scenario_figure(
        context.summary, target, nulls=[_is_null(r) for _, r in context.summary.iterrows()]
    )
    return Section(
        "power", "Power", figures=(ReportFigure("power_by_scenario", png_bytes(figure), caption),)
    )


def _grid_lines(context: ReportContext) -> dict[str, pd.DataFrame]:
    protocol = context.protocol
    if protocol is None or "design.sample_size" not in protocol.grid:
        return {}
    summary = _first_comparison(context.summary)
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


def _floats(values: list) -> np.ndarray:
    return np.array([math.inf if v is None else float(v) for v in values])


def boundaries_section(context: ReportContext) -> Section | None:
    result = context.result
    scenarios = context.manifest.get("scenarios", [])[:PANELS_SHOWN]
    if not scenarios or not result.trials_path.is_file():
        return None
    names = [s["name"] for s in scenarios]
    table = pq.read_table(
        vouched(result.out, result.manifest, "trials.parquet"),
        filters=[("sim", "<", context.paths), ("scenario", "in", names)],
    ).to_pandas()
    panels = []
    for scenario in scenarios:
        comparison = scenario["comparisons"][0]
        looks = np.asarray(scenario.get("look_events") or scenario["look_patients"], dtype=float)
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
    total = len(context.manifest.get("scenarios", []))
    shown = f"first {len(panels)} of {total} scenarios" if total > len(panels) else "each scenario"
    caption = (
        "Efficacy (green) and futility (red) bounds on the z scale (z > 0 favours "
        f"treatment), with the z paths of the first {context.paths} simulated trials of "
        f"{shown}, coloured by decision: green efficacy, red futility, grey none."
    )
    figure = boundaries_figure(panels)
    return Section(
        "boundaries",
        "Boundaries and simulated z paths",
        figures=(ReportFigure("boundaries", png_bytes(figure), caption),),
    )


def stopping_section(context: ReportContext) -> Section | None:
    summary = _first_comparison(context.summary)
    n = summary["scenario"].nunique()
    shown = min(n, STOPPING_SCENARIOS)
    which = f"the first {shown} of {n} scenarios" if n > shown else "each scenario"
    caption = (
        f"Probability of stopping at each look for {which} ({summary['comparison'].iloc[0]}), "
        "one colour per scenario: efficacy above the axis (solid), futility below (hatched). "
        "At the final look, not rejecting is not drawn as a stop."
    )
    figure = stopping_figure(summary, max_scenarios=STOPPING_SCENARIOS)
    return Section(
        "stopping",
        "Stopping probabilities per look",
        figures=(ReportFigure("stopping", png_bytes(figure), caption),),
    )


def _arms(protocol: Protocol | None, patients: pd.DataFrame) -> list[str]:
    present = list(dict.fromkeys(patients["arm"]))
    if protocol is None:
        return sorted(present)
    ordered = [protocol.control_arm.name, *(a.name for a in protocol.active_arms)]
    return [a for a in ordered if a in present]


def patients_sections(context: ReportContext) -> Section | None:
    patients = context.patients
    if patients is None:
        note = (
            "This run saved no patients (patients.parquet), so there are no Kaplan–Meier "
            "curves and no population distributions. Re-run with `--save-patients 50` "
            "(e.g. `cstrial run PROTOCOL --save-patients 50`) and report again."
        )
        context.notes.append(note)
        return Section("patients", "Survival and enrolled population", notes=(note,))
    scenario = str(patients["scenario"].iloc[0])
    patients = patients[patients["scenario"] == scenario]
    if "enrolled" in patients:  # not those a trial that stopped early never enrolled
        patients = patients[patients["enrolled"]]
    protocol = context.scenario_protocol(scenario)
    arms = _arms(protocol, patients)
    horizon = 30.0 if protocol is None else float(protocol.endpoints.primary.horizon_days)
    n_trials = patients["sim"].nunique()
    km = ReportFigure(
        "kaplan_meier",
        png_bytes(kaplan_meier_figure(patients, horizon, arms)),
        f"Kaplan–Meier survival by arm to day {horizon:g}, scenario {scenario}, the "
        f"{n_trials} saved trial(s) pooled; deaths at their simulated day, survivors "
        "censored at the horizon.",
    )
    population = ReportFigure(
        "population",
        png_bytes(population_figure(patients, arms)),
        f"Enrolled patients of scenario {scenario} ({n_trials} saved trial(s), "
        f"{len(patients)} patients) by arm: age, IL-6 on a log scale, lactate, SCAI stage.",
    )
    return Section("patients", "Survival and enrolled population", figures=(km, population))


def protocol_section(context: ReportContext) -> Section | None:
    info = context.manifest.get("protocol", {})
    text = info.get("resolved_yaml", "")
    if not text:
        return None
    return Section(
        "protocol",
        "Protocol (resolved: every default filled in)",
        preformatted=text,
    )


# --------------------------------------------------------------------------- the list

SECTIONS: list[SectionFunction] = [
    design_section,
    bounds_section,
    results_section,
    secondary_section,
    power_section,
    boundaries_section,
    stopping_section,
    patients_sections,
    protocol_section,
]
"""The report's sections, in order (see `register_section`)."""


def _design_family_sections() -> None:
    """The multi-arm, adaptive and sensitivity sections, after the secondary endpoints."""
    from cstrial.report.design_sections import (
        adaptive_section,
        multiarm_section,
        sensitivity_section,
    )

    register_section(sensitivity_section, after="secondary_section")
    register_section(adaptive_section, after="secondary_section")
    register_section(multiarm_section, after="secondary_section")


def register_section(function: SectionFunction, *, after: str | None = None) -> None:
    """Add a section function to every report, after the section function named
    `after` (e.g. "results_section"), or before the protocol section by default."""
    if function in SECTIONS:
        return
    names = [f.__name__ for f in SECTIONS]
    if after is None:
        SECTIONS.insert(names.index("protocol_section"), function)
        return
    if after not in names:
        raise CstrialError(f"no report section '{after}' (known: {', '.join(names)})")
    SECTIONS.insert(names.index(after) + 1, function)


_design_family_sections()
