"""The protocol schema: pydantic models of the YAML, field names exactly as written there.

Leaf checks live in `fields`, criteria in `criteria`, effect models in
`effects`; here are the sections and the rules that span their fields.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)

from cstrial.errors import UsageError
from cstrial.protocol.adaptive import (
    CombinationTest,
    Enrichment,
    Reestimation,
    adaptive_arm_problems,
    adaptive_problems,
)
from cstrial.protocol.base import Found, Loc, Schema, problem, problems
from cstrial.protocol.bayesian import Assurance, BayesianDecision, decision_problems
from cstrial.protocol.covariates import COVARIATES
from cstrial.protocol.criteria import Criteria
from cstrial.protocol.effects import Effect
from cstrial.protocol.fields import (
    CovariateName,
    Flag,
    Name,
    Slug,
    Text,
    choice,
    empty_when_null,
    is_number,
    number,
    whole,
)
from cstrial.protocol.grid import MAX_GRID_POINTS, grid_names, grid_size, value_text
from cstrial.protocol.limits import (
    MAX_ALLOCATION,
    MAX_CHUNK_SIZE,
    MAX_ENROLMENT_MONTHS,
    MAX_N_SIMS,
    MAX_PATIENTS_PER_CHUNK,
    MAX_SAMPLE_SIZE,
    MAX_SAVE_PATIENTS,
    MAX_SEED,
    MIN_LOOK_SPACING,
)
from cstrial.protocol.messages import render_path, show
from cstrial.protocol.multiarm import (
    Multiplicity,
    Selection,
    TestingGraph,
    check_testing,
    multiarm_problems,
)
from cstrial.protocol.vocabulary import (
    ANALYSES,
    ENDPOINT_KINDS,
    MODEL_HORIZON_DAYS,
    ORGAN_SUPPORTS,
    OSFD_DEFAULT_HORIZON_DAYS,
    SPENDING_FAMILIES,
    futility_problem,
)

PopulationModelName = Literal["default"]
ComponentName = Literal[
    "death",
    "renal_replacement",
    "mcs_escalation",
    "renal_replacement_or_mcs_escalation",
    "days_alive_out_of_hospital",
]
TestingName = Literal["none", "fixed-sequence"]

SPENDING_FUNCTIONS: tuple[str, ...] = tuple(SPENDING_FAMILIES)
MAX_LOOKS = 20

PopulationModel = Annotated[PopulationModelName, choice(PopulationModelName, "population model")]
SpendingFunction = Annotated[str, choice(SPENDING_FUNCTIONS, "spending function")]
EndpointType = Annotated[str, choice(tuple(ENDPOINT_KINDS), "endpoint type")]
Analysis = Annotated[str, choice(tuple(ANALYSES), "analysis")]
Component = Annotated[ComponentName, choice(ComponentName, "hierarchy component")]
OrganSupport = Annotated[str, choice(ORGAN_SUPPORTS, "organ support")]
Testing = Annotated[TestingName, choice(TestingName, "testing strategy")]
Probability = Annotated[float, number(gt=0, lt=1)]
ControlMortality = Annotated[
    float, number(ge=0.01, le=0.99, note="the control arm's 30-day mortality")
]
TargetPower = Annotated[
    float, number(ge=0.5, le=0.9999, note="the target power of the design; 1 - beta")
]
Horizon = Annotated[
    float,
    number(
        ge=1,
        le=MODEL_HORIZON_DAYS,
        note=f"days; the disease model simulates {MODEL_HORIZON_DAYS:g} days",
    ),
]
Alpha = Annotated[
    float,
    number(ge=1e-6, lt=0.5, note="one-sided; below 1e-6 the bounds pass z = 4.75"),
]
Look = Annotated[float, number(gt=0, le=1, note="an information fraction")]
PatientsPerMonth = Annotated[float, number(ge=0.01, le=1_000_000)]
RampUpMonths = Annotated[float, number(ge=0, le=MAX_ENROLMENT_MONTHS)]
DropoutRate = Annotated[
    float, number(ge=0, le=10, note="per year; 10 loses all but 1 in 22,000 patients in a year")
]
Parameter = Annotated[
    float, number(ge=-1e6, le=1e6, note="each spending family narrows this range further")
]
Allocation = Annotated[
    int,
    whole(
        ge=1,
        le=MAX_ALLOCATION,
        note="a fixed share of the randomisation ratio, e.g. 2 for 2:1; response-adaptive allocation is not available",
    ),
]
SampleSize = Annotated[
    int, whole(ge=2, le=MAX_SAMPLE_SIZE, note="total over all arms, at least 2 per arm")
]
NSims = Annotated[int, whole(ge=1, le=MAX_N_SIMS)]
Seed = Annotated[int, whole(ge=0, le=MAX_SEED)]
ChunkSize = Annotated[int, whole(ge=1, le=MAX_CHUNK_SIZE)]
SavePatients = Annotated[int, whole(ge=0, le=MAX_SAVE_PATIENTS)]
SamplerName = Literal["auto", "patients"]
Sampler = Annotated[SamplerName, choice(SamplerName, "sampler")]
FinalAnalysisName = Literal["horizon", "events"]
FinalAnalysis = Annotated[FinalAnalysisName, choice(FinalAnalysisName, "final analysis")]


class Population(Schema):
    """Who is enrolled: the virtual population and the eligibility criteria."""

    model: PopulationModel = "default"
    control_mortality_30d: ControlMortality | None = None
    inclusion: Criteria = Field(default_factory=dict)
    exclusion: Criteria = Field(default_factory=dict)


class Arm(Schema):
    """One arm: its share of randomisation and, for an active arm, its effect."""

    name: Name
    control: Flag = False
    allocation: Allocation = 1
    effect: Effect | None = None  # an active arm without an effect has a null effect

    @field_validator("effect")
    @classmethod
    def _control_has_no_effect(cls, effect: Any, info: ValidationInfo) -> Any:
        if effect is not None and info.data.get("control") is True:
            raise problem(
                "the control arm must not have an effect: it is the baseline that the "
                "active arms are compared with"
            )
        return effect


class Endpoint(Schema):
    """An endpoint and the analysis that tests it."""

    name: Name
    type: EndpointType
    horizon_days: Horizon
    analysis: Analysis
    covariates: Annotated[list[CovariateName], BeforeValidator(empty_when_null)] = Field(
        default_factory=list
    )
    strata: CovariateName | None = None
    components: Annotated[list[Component], BeforeValidator(empty_when_null)] = Field(
        default_factory=list
    )
    # organ-support-free-days: which supports count (None, or left out: all of ORGAN_SUPPORTS)
    support: list[OrganSupport] | None = None
    # Yates's correction of the two-proportion z (R prop.test's default), as CS trials planned
    continuity_correction: Flag = False

    @model_validator(mode="before")
    @classmethod
    def _osfd_horizon_default(cls, data: Any) -> Any:
        """Organ-support-free days default to REMAP-CAP's 21 days."""
        if (
            isinstance(data, dict)
            and data.get("type") == "organ-support-free-days"
            and "horizon_days" not in data
        ):
            return {**data, "horizon_days": OSFD_DEFAULT_HORIZON_DAYS}
        return data

    @classmethod
    def cross_check(cls, data: dict[Any, Any]) -> Found:
        found = [*_endpoint_problems(data), *_organ_support_problems(data)]
        if data.get("continuity_correction") is True and data.get("analysis") != "two-proportion":
            found.append(
                (
                    ("continuity_correction",),
                    "is for the two-proportion analysis only (Yates's correction of its z), "
                    f"found analysis {show(data.get('analysis'))}",
                )
            )
        return found


def _a(word: Any) -> str:
    """The indefinite article before `word`."""
    return "an" if str(word)[:1] in ("a", "e", "i", "o", "u") else "a"


def _organ_support_problems(data: dict[Any, Any]) -> Found:
    """Whole-day horizon and a support list that fit organ-support-free days."""
    found: Found = []
    osfd = data.get("type") == "organ-support-free-days"
    horizon = data.get("horizon_days")
    if osfd and is_number(horizon) and horizon != int(horizon):
        found.append(
            (
                ("horizon_days",),
                f"must be a whole number of days for organ-support-free-days, found {horizon:g}",
            )
        )
    support = data.get("support")
    if support is not None and not osfd:
        found.append((("support",), "only an organ-support-free-days endpoint takes support"))
    elif osfd and isinstance(support, list) and not support:
        found.append(
            (
                ("support",),
                f"needs at least one organ support (or leave it out for all), e.g. "
                f"{show(list(ORGAN_SUPPORTS))}",
            )
        )
    elif osfd and isinstance(support, list):
        repeated = sorted({s for s in support if isinstance(s, str) and support.count(s) > 1})
        if repeated:
            found.append((("support",), f"lists {', '.join(repeated)} more than once"))
    return found


def _design_family_problems(design: Any) -> Found:
    """One decision design per protocol: a Bayesian rule, a combination test (re-estimation,
    enrichment) and multi-arm closed testing each decide every look their own way."""
    if not isinstance(design, dict):
        return []
    families = {
        "decision": design.get("decision") is not None,
        "combination": design.get("combination") is not None,
        "selection": design.get("selection") is not None,
        "multiplicity": design.get("multiplicity", "bonferroni") != "bonferroni",
    }
    chosen = [name for name, used in families.items() if used]
    if "decision" in chosen and len(chosen) > 1:
        others = ", ".join(f"design.{name}" for name in chosen if name != "decision")
        return [
            (
                ("design", "decision"),
                f"a Bayesian decision cannot be combined with {others}: choose one design "
                "(docs/bayesian.md, docs/adaptive.md, docs/multiarm.md)",
            )
        ]
    return []


def _endpoint_problems(data: dict[Any, Any]) -> Found:
    """Analysis, horizon and options that fit the endpoint type."""
    kind, analysis = data.get("type"), data.get("analysis")
    found: Found = []
    endpoint_kind = ENDPOINT_KINDS.get(kind) if isinstance(kind, str) else None
    fitting = endpoint_kind.analyses if endpoint_kind else None
    # an unknown analysis is reported once, by the field's own check
    if fitting and isinstance(analysis, str) and analysis in ANALYSES and analysis not in fitting:
        found.append(
            (
                ("analysis",),
                f"{analysis} does not analyse {_a(kind)} {kind} endpoint; use one of "
                f"{', '.join(fitting)}",
            )
        )
    horizon = data.get("horizon_days")
    limit = endpoint_kind.horizon_limit_days if endpoint_kind else MODEL_HORIZON_DAYS
    if (
        endpoint_kind is not None
        and endpoint_kind.course
        and is_number(horizon)
        and horizon > limit
    ):
        found.append(
            (
                ("horizon_days",),
                f"must be at most {limit:g} for {_a(kind)} {kind} endpoint (organ support and "
                f"hospital stay are simulated to day {limit:g}), found {horizon:g}",
            )
        )
    needs = ANALYSES[analysis].needs if isinstance(analysis, str) and analysis in ANALYSES else None
    if needs == "covariates" and not data.get("covariates"):
        found.append(
            (
                ("covariates",),
                f"{analysis} needs covariates, e.g. [scai_stage, lactate_mmol_l, il6_pg_ml, age]",
            )
        )
    if needs == "strata" and data.get("strata") is None:
        found.append(
            (("strata",), f"{analysis} needs strata: a categorical covariate, e.g. scai_stage")
        )
    strata = data.get("strata")
    if isinstance(strata, str) and strata in COVARIATES and COVARIATES[strata].kind == "numeric":
        found.append(
            (
                ("strata",),
                f"{strata} is numeric: strata must be categorical or boolean, e.g. scai_stage",
            )
        )
    if kind == "hierarchical" and not data.get("components"):
        found.append(
            (
                ("components",),
                "a hierarchical endpoint needs components, e.g. [death, renal_replacement_or_mcs_escalation, days_alive_out_of_hospital]",
            )
        )
    if kind != "hierarchical" and data.get("components"):
        found.append((("components",), "only a hierarchical endpoint takes components"))
    return found


class Endpoints(Schema):
    """The primary endpoint, which the design is powered for, and any secondaries."""

    primary: Endpoint
    secondary: Annotated[list[Endpoint], BeforeValidator(empty_when_null)] = Field(
        default_factory=list
    )
    # fixed-sequence: secondaries tested in order at full alpha; graph: docs/multiarm.md
    testing: Annotated[Testing | TestingGraph, BeforeValidator(check_testing)] = "none"

    @classmethod
    def cross_check(cls, data: dict[Any, Any]) -> Found:
        named: list[tuple[Loc, Any]] = [(("primary",), data.get("primary"))]
        secondary = data.get("secondary")
        if isinstance(secondary, list):
            named += [(("secondary", i), item) for i, item in enumerate(secondary)]
        return _duplicate_names(named, "endpoint")


def _parameter_problem(spending: str, parameter: float | None) -> str | None:
    """What is wrong with `parameter` for this spending family, if anything."""
    return SPENDING_FAMILIES[spending].parameter_problem(parameter)


class _Spending(Schema):
    """A group-sequential bound given by an alpha- or beta-spending family."""

    spending: SpendingFunction = "lan-demets-obrien-fleming"
    parameter: Parameter | None = Field(default=None, validate_default=True)

    @field_validator("parameter")
    @classmethod
    def _parameter_fits_family(cls, parameter: float | None, info: ValidationInfo) -> Any:
        spending = info.data.get("spending")  # absent when invalid, and reported as such
        message = _parameter_problem(spending, parameter) if spending else None
        if message:
            raise problem(message)
        return parameter


class Bound(_Spending):
    """The efficacy bound: alpha spent over the looks (Lan & DeMets 1983)."""


class Futility(_Spending):
    """The futility bound: beta spending, conditional power, or both."""

    spending: SpendingFunction = "none"
    binding: Flag = False
    conditional_power_below: Probability | None = None

    @model_validator(mode="after")
    def _has_a_rule(self) -> Futility:
        if self.spending == "none" and self.conditional_power_below is None:
            raise problem(
                "needs a rule: a spending function other than none, or "
                "conditional_power_below (or remove futility for no futility stopping)"
            )
        return self


class Accrual(Schema):
    """How fast patients are enrolled."""

    patients_per_month: PatientsPerMonth = 25.0
    ramp_up_months: RampUpMonths = 0.0


class Dropout(Schema):
    """Loss to follow-up."""

    rate_per_year: DropoutRate = 0.0


def _looks_increase_to_one(looks: list[float]) -> list[float]:
    if not looks:
        raise problem("needs at least one look; [1.0] is a fixed design")
    if len(looks) > MAX_LOOKS:
        raise problem(f"allows at most {MAX_LOOKS} looks, found {len(looks)}")
    if any(b <= a for a, b in itertools.pairwise(looks)) or looks[-1] != 1.0:
        raise problem(f"must increase and end at 1.0, found {show(looks)}")
    steps = [looks[0], *(b - a for a, b in itertools.pairwise(looks))]
    if min(steps) < MIN_LOOK_SPACING - 1e-12:
        raise problem(
            f"must be at least {MIN_LOOK_SPACING:g} of information apart (and the first at least "
            f"{MIN_LOOK_SPACING:g}): closer looks see the same data, found {show(looks)}"
        )
    return looks


class Design(Schema):
    """Sample size, error rates and the group-sequential plan."""

    sample_size: SampleSize
    alpha: Alpha
    power: TargetPower = 0.8  # target power: beta-spending futility and sample-size search
    looks: Annotated[list[Look], AfterValidator(_looks_increase_to_one)] = Field(
        default_factory=lambda: [1.0]
    )
    efficacy: Bound = Field(default_factory=Bound)
    futility: Futility | None = None
    accrual: Accrual = Field(default_factory=Accrual)
    dropout: Dropout = Field(default_factory=Dropout)
    # Bayesian decisions on posterior probabilities, and assurance (protocol/bayesian.py)
    decision: BayesianDecision | None = None
    assurance: Assurance | None = None
    # multi-arm trials (docs/multiarm.md)
    multiplicity: Multiplicity = "bonferroni"
    selection: Selection | None = None
    # adaptive designs (cstrial.protocol.adaptive, docs/adaptive.md)
    combination: CombinationTest | None = None
    reestimation: Reestimation | None = None
    enrichment: Enrichment | None = None
    # time to event: the final analysis when every patient has reached the horizon
    # (horizon), or at the planned number of deaths (events), as rpact and most
    # event-driven trials do (README, Interim analyses)
    final_analysis: FinalAnalysis = "horizon"
    # time to event: the deaths at full information (rpact's plannedEvents); default: the
    # deaths the model expects among the sample size by the horizon, net of dropout
    planned_events: SampleSize | None = None

    @classmethod
    def cross_check(cls, data: dict[Any, Any]) -> Found:
        """Futility spending that the boundaries can compute beside the efficacy family;
        the adaptive fields' rules."""
        return adaptive_problems(data) + cls._futility_problems(data)

    @classmethod
    def _futility_problems(cls, data: dict[Any, Any]) -> Found:
        futility, efficacy = data.get("futility"), data.get("efficacy")
        if not isinstance(futility, dict):
            return []
        spending = futility.get("spending", "none")
        binding = futility.get("binding", False) is True
        family = efficacy.get("spending") if isinstance(efficacy, dict) else None
        if not isinstance(spending, str) or spending not in SPENDING_FAMILIES:
            return []  # reported by the field's own check
        message = futility_problem(spending, binding, family or "lan-demets-obrien-fleming")
        return [] if message is None else [(("futility", "spending"), message)]


class Simulation(Schema):
    """How many virtual trials to run, their seed, and how their patients are drawn."""

    n_sims: NSims = 10000
    seed: Seed = 20261121
    chunk_size: ChunkSize = 1000  # part of the protocol so results never depend on workers
    save_patients: SavePatients = 0
    # auto: each outcome from its arm's exact law where the analyses allow (docs/scale.md)
    sampler: Sampler = "auto"
    # removed in 0.2: named here only so that cross_check can say what to do instead
    patient_reuse: Any = Field(default=None, exclude=True)

    @classmethod
    def cross_check(cls, data: dict[Any, Any]) -> Found:
        if "patient_reuse" not in data:
            return []
        return [
            (
                ("patient_reuse",),
                "was removed in cstrial 0.2: with simulation.sampler: auto (the default) each "
                "outcome is drawn from its arm's exact law wherever the analyses allow, faster "
                "than reusing patients and without its Monte Carlo cost. Remove the field",
            )
        ]


def _not_base(name: str) -> str:
    if name == "base":
        raise problem("'base' is reserved for the protocol as written; choose another name")
    return name


def _check_overrides(value: Any) -> Any:
    example = "{design.sample_size: 800}"
    if value is None or value == {}:
        raise problem(f"needs at least one override, such as {example}")
    if not isinstance(value, dict):
        raise problem(
            f"must be a mapping of dotted path: value, such as {example}, found {show(value)}"
        )
    for key in value:
        if not isinstance(key, str) or not key:
            raise problem(
                f"each key must be a dotted path such as design.sample_size, found {show(key)}"
            )
    return value


def _check_grid(value: Any) -> Any:
    example = "{arms.tocilizumab.effect.blockade: [0.5, 0.7], design.sample_size: [600, 900]}"
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise problem(
            f"must be a mapping of dotted path: list of values, such as {example}, "
            f"found {show(value)}"
        )
    found: Found = []
    for key, values in value.items():
        if not isinstance(key, str) or not key:
            found.append(
                (
                    (),
                    f"each key must be a dotted path such as design.sample_size, found {show(key)}",
                )
            )
        elif not isinstance(values, list) or not values:
            found.append(
                (
                    (key,),
                    f"must be a non-empty list of values, such as [600, 900], found {show(values)}",
                )
            )
        else:
            seen: set[str] = set()
            for i, item in enumerate(values):
                text = value_text(item)  # as in the grid point's name: 600 and 600.0 are one
                if text in seen:
                    found.append(((key, i), f"duplicate value {show(item)}: each value once"))
                seen.add(text)
    if found:
        raise problems(found, "grid")
    if grid_size(value) > MAX_GRID_POINTS:
        sizes = " × ".join(str(len(v)) for v in value.values())
        raise problem(
            f"has {sizes} = {grid_size(value)} points, more than {MAX_GRID_POINTS}: "
            "use fewer values, or split it into several protocols"
        )
    return value


class ScenarioSpec(Schema):
    """A named variant of the protocol: dotted paths into it and their new values."""

    name: Annotated[Slug, AfterValidator(_not_base)]
    set: Annotated[dict[str, Any], BeforeValidator(_check_overrides)]


def _final_analysis_problems(design: Any, endpoints: Any) -> Found:
    """`final_analysis: events` and `planned_events` count deaths: a time-to-event primary;
    and no more planned deaths than patients."""
    if not isinstance(design, dict):
        return []
    primary = endpoints.get("primary") if isinstance(endpoints, dict) else None
    kind = primary.get("type") if isinstance(primary, dict) else None
    found: Found = []
    if kind is not None and kind != "time-to-event":
        if design.get("final_analysis") == "events":
            found.append(
                (
                    ("design", "final_analysis"),
                    f"'events' ends the trial at the planned number of deaths, which needs a "
                    f"time-to-event primary endpoint; endpoints.primary.type is '{kind}'. Use "
                    f"'horizon' (the default) or a time-to-event primary",
                )
            )
        if design.get("planned_events") is not None:
            found.append(
                (
                    ("design", "planned_events"),
                    f"counts the deaths of a time-to-event primary endpoint; "
                    f"endpoints.primary.type is '{kind}'. Remove it",
                )
            )
    events, size = design.get("planned_events"), design.get("sample_size")
    whole = [x for x in (events, size) if isinstance(x, int) and not isinstance(x, bool)]
    if len(whole) == 2 and whole[0] > whole[1]:
        found.append(
            (
                ("design", "planned_events"),
                f"must be at most the sample size ({size}): each patient dies at most once, "
                f"found {events}",
            )
        )
    return found


class Protocol(Schema):
    """A trial protocol as loaded from YAML: validated, defaults filled in, immutable."""

    name: Slug
    title: Text = ""
    population: Population
    arms: list[Arm]
    endpoints: Endpoints
    design: Design
    simulation: Simulation = Field(default_factory=Simulation)
    scenarios: Annotated[list[ScenarioSpec], BeforeValidator(empty_when_null)] = Field(
        default_factory=list
    )
    grid: Annotated[dict[str, list[Any]], BeforeValidator(_check_grid)] = Field(
        default_factory=dict
    )

    _written: dict[str, Any] | None = None
    _source_text: str | None = None
    _source_path: Path | None = None

    @classmethod
    def cross_check(cls, data: dict[Any, Any]) -> Found:
        arms = data.get("arms")
        if not isinstance(arms, list):
            return []
        found = _arm_problems(arms)
        found += _duplicate_names([(("arms", i), arm) for i, arm in enumerate(arms)], "arm")
        found += _sample_size_problems(data.get("design"), len(arms))
        found += decision_problems(data)
        found += _limit_problems(data.get("design"), data.get("simulation"), len(arms))
        found += multiarm_problems(data)
        found += adaptive_arm_problems(data.get("design"), len(arms))
        found += _design_family_problems(data.get("design"))
        found += _final_analysis_problems(data.get("design"), data.get("endpoints"))
        scenarios = data.get("scenarios")
        if isinstance(scenarios, list):
            named = [(("scenarios", i), item) for i, item in enumerate(scenarios)]
            found += _duplicate_names(named, "scenario")
            found += _grid_name_clashes(data.get("grid"), scenarios)
        return found

    @model_validator(mode="after")
    def _keep_source(self, info: ValidationInfo) -> Protocol:
        # the loader passes the data as written and its file through the validation context
        context = info.context or {}
        self._written = copy.deepcopy(context.get("written"))
        self._source_text = context.get("source_text")
        self._source_path = context.get("source_path")
        return self

    def __eq__(self, other: object) -> bool:
        # equal protocols are equal whatever file they came from
        if not isinstance(other, Protocol):
            return NotImplemented
        return self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]  # lists inside: not hashable

    @property
    def source_text(self) -> str | None:
        """The protocol file's text as read, or None when built from a mapping."""
        return self._source_text

    @property
    def source_path(self) -> Path | None:
        """The protocol file, or None when built from a mapping."""
        return self._source_path

    def model_copy(
        self, *, update: Mapping[str, Any] | None = None, deep: bool = False
    ) -> Protocol:
        """A copy; with `update`, scenarios then apply to the updated protocol, not the file."""
        copied = super().model_copy(update=update, deep=deep)
        if update:
            copied._written = None  # the data as written no longer describes this protocol
        return copied

    def as_written(self) -> dict[str, Any]:
        """The protocol's data as written (a copy); scenario paths address this."""
        if self._written is not None:
            return copy.deepcopy(self._written)
        return self.model_dump(mode="json", by_alias=True)

    def arm(self, name: str) -> Arm:
        """The arm called `name`."""
        for arm in self.arms:
            if arm.name == name:
                return arm
        raise UsageError(
            "arm", f"{name!r} is not an arm; arms: {', '.join(a.name for a in self.arms)}"
        )

    @property
    def control_arm(self) -> Arm:
        """The one arm with control: true."""
        return next(arm for arm in self.arms if arm.control)

    @property
    def active_arms(self) -> list[Arm]:
        """The arms compared with the control arm, in YAML order."""
        return [arm for arm in self.arms if not arm.control]

    def resolved_yaml(self) -> str:
        """The protocol with every default filled in, as YAML; same protocol, same bytes."""
        data = self.model_dump(mode="json", by_alias=True)
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


def _arm_problems(arms: list[Any]) -> Found:
    """At least two arms, exactly one of them the control arm."""
    if len(arms) < 2:
        return [
            (("arms",), f"needs at least 2 arms (a control and an active arm), found {len(arms)}")
        ]
    flags = [arm.get("control", False) if isinstance(arm, dict) else None for arm in arms]
    if any(not isinstance(flag, bool) for flag in flags):
        return []  # a malformed arm or control flag is reported where it is
    controls = [arm.get("name", f"arms[{i}]") for i, arm in enumerate(arms) if arm.get("control")]
    if len(controls) == 1:
        return []
    which = "none" if not controls else f"{len(controls)} ({', '.join(map(str, controls))})"
    return [(("arms",), f"needs exactly one arm with control: true, found {which}")]


def _duplicate_names(items: Sequence[tuple[Loc, Any]], what: str) -> Found:
    """Each name used once, so results and scenario paths can name the item."""
    first: dict[str, str] = {}
    found: Found = []
    for loc, item in items:
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str):
            continue
        if name in first:
            found.append(((*loc, "name"), f"duplicate {what} name {name!r} (also {first[name]})"))
        else:
            first[name] = render_path(loc)
    return found


def _grid_name_clashes(grid: Any, scenarios: list[Any]) -> Found:
    """Grid points are named for their values; a named scenario may not take such a name."""
    wellformed = isinstance(grid, dict) and all(
        isinstance(k, str) and k and isinstance(v, list) and v for k, v in grid.items()
    )
    if not grid or not wellformed or grid_size(grid) > MAX_GRID_POINTS:
        return []  # a malformed or too large grid is reported where it is
    names = set(grid_names(grid))
    return [
        (
            ("scenarios", i, "name"),
            f"{item['name']!r} is also the name of a grid point; choose another name",
        )
        for i, item in enumerate(scenarios)
        if isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"] in names
    ]


def _sample_size_problems(design: Any, n_arms: int) -> Found:
    """A total sample size of at least 2 per arm (smaller values are reported by the field)."""
    size = design.get("sample_size") if isinstance(design, dict) else None
    if not isinstance(size, int | float) or isinstance(size, bool) or not size >= 2:
        return []
    if n_arms < 2 or size >= 2 * n_arms:
        return []
    return [
        (
            ("design", "sample_size"),
            f"must be at least 2 per arm, so ≥ {2 * n_arms} with {n_arms} arms, found {show(size)}",
        )
    ]


def _field(section: Any, key: str, default: Any = None) -> Any:
    """A number in a raw section, or None when absent or not a plain number in its range
    (a bad value is reported by its own field)."""
    value = section.get(key, default) if isinstance(section, dict) else default
    if not is_number(value) or (isinstance(value, float) and not math.isfinite(value)):
        return None
    return value


def _limit_problems(design: Any, simulation: Any, n_arms: int) -> Found:
    """Limits that span fields: memory of a chunk, length of enrolment, patients at each look."""
    found: Found = []
    size = _field(design, "sample_size")
    if size is None or not 2 <= size <= MAX_SAMPLE_SIZE:
        return found
    chunk = _field(simulation, "chunk_size", 1000)
    n_sims = _field(simulation, "n_sims", 10000)
    if chunk is not None and n_sims is not None and 1 <= chunk <= MAX_CHUNK_SIZE:
        held = int(min(chunk, n_sims)) * int(size)
        if held > MAX_PATIENTS_PER_CHUNK:
            found.append(
                (
                    ("simulation", "chunk_size"),
                    f"a chunk of {int(min(chunk, n_sims)):,} trials of {int(size):,} patients "
                    f"holds {held:,} patients in memory at once, more than the "
                    f"{MAX_PATIENTS_PER_CHUNK:,} a worker can hold; use chunk_size "
                    f"{max(1, MAX_PATIENTS_PER_CHUNK // int(size)):,} or less",
                )
            )
    accrual = design.get("accrual") if isinstance(design, dict) else None
    rate = _field(accrual, "patients_per_month", 25.0)
    ramp = _field(accrual, "ramp_up_months", 0.0)
    within = rate is not None and ramp is not None and rate >= 0.01
    if within and 0 <= ramp <= MAX_ENROLMENT_MONTHS:
        months = ramp + size / rate  # an upper bound: the ramp only slows enrolment
        if months > MAX_ENROLMENT_MONTHS:
            found.append(
                (
                    ("design", "accrual", "patients_per_month"),
                    f"enrolling {int(size):,} patients at {rate:g} a month (ramp-up {ramp:g} "
                    f"months) takes up to {months:,.0f} months, more than the "
                    f"{MAX_ENROLMENT_MONTHS:g} (50 years) any trial enrols for",
                )
            )
    looks = design.get("looks") if isinstance(design, dict) else None
    if not isinstance(looks, list) or not looks or not all(is_number(t) for t in looks):
        return found
    if MIN_LOOK_SPACING <= looks[0] <= 1 and size >= 2 * n_arms:
        first = math.ceil(looks[0] * size - 1e-9)
        if first < 2 * n_arms:
            found.append(
                (
                    ("design", "looks"),
                    f"the first look at {looks[0]:g} of {int(size):,} patients sees {first}, fewer "
                    f"than 2 per arm ({2 * n_arms}): there is nothing to analyse; look later or "
                    "enrol more",
                )
            )
    return found
