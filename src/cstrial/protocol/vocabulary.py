"""The protocol's vocabulary, each word once: endpoint types, analyses, spending families.

The schema (`cstrial.protocol.models`), the boundaries (`cstrial.design`), the
endpoints, the engine and the tools all read these tables. Adding an endpoint
type means a row here and the endpoint's own module; nothing else names it.
"""

from __future__ import annotations

from dataclasses import dataclass

# The disease model simulates death to day 365, organ support and stay to day 30.
MODEL_HORIZON_DAYS = 365.0
COURSE_HORIZON_DAYS = 30.0
#: REMAP-CAP's horizon for organ-support-free days (REMAP-CAP Investigators, NEJM 2021).
OSFD_DEFAULT_HORIZON_DAYS = 21
#: The organ supports an organ-support-free-days endpoint can count (`support:`): the
#: cardiovascular ones REMAP-CAP counts, invasive ventilation (REMAP-CAP also counted
#: non-invasive ventilation and high-flow oxygen, which the model does not simulate),
#: and renal replacement, which REMAP-CAP did not count.
ORGAN_SUPPORTS = ("vasopressors", "mechanical_ventilation", "mcs", "renal_replacement")


@dataclass(frozen=True)
class EndpointKind:
    """An endpoint type: which analyses fit it and what the engine must simulate for it.

    `course`: it needs the organ-support and hospital-stay course (to day 30).
    `closed_form_truth`: its true effect follows from each arm's risk of death by
    the horizon (binary, time to event); otherwise it is estimated from a reference
    simulation. Such an endpoint can also be drawn from the arms' exact outcome laws
    (`cstrial.engine.laws`) when its analysis allows.
    """

    name: str
    analyses: tuple[str, ...]  # the first is the default suggestion
    horizon_limit_days: float
    course: bool = False
    closed_form_truth: bool = False


ENDPOINT_KINDS: dict[str, EndpointKind] = {
    kind.name: kind
    for kind in (
        EndpointKind(
            "binary",
            ("two-proportion", "logistic-adjusted", "cmh"),
            MODEL_HORIZON_DAYS,
            closed_form_truth=True,
        ),
        EndpointKind(
            "time-to-event",
            ("log-rank", "stratified-log-rank", "cox"),
            MODEL_HORIZON_DAYS,
            closed_form_truth=True,
        ),
        EndpointKind(
            "days-alive-out-of-hospital", ("mann-whitney",), COURSE_HORIZON_DAYS, course=True
        ),
        EndpointKind("hierarchical", ("win-ratio",), COURSE_HORIZON_DAYS, course=True),
        EndpointKind(
            "organ-support-free-days",
            ("proportional-odds", "mann-whitney"),
            COURSE_HORIZON_DAYS,
            course=True,
        ),
    )
}


@dataclass(frozen=True)
class AnalysisKind:
    """An analysis: the scale of its estimate, what it needs, what else it estimates.

    `scale` names the estimate's scale in the outputs; `ratio` says the estimate is
    a ratio (summarised on the log scale where that matters). `needs` is the endpoint
    field the analysis cannot do without (`covariates`, `strata`), if any.
    `extras` are further per-trial estimates written beside `estimate`. `laws`: the
    analysis reads only each patient's arm, times and stratum, so the engine may draw
    its data from the arms' exact outcome laws.
    """

    name: str
    scale: str
    ratio: bool = False
    needs: str | None = None
    extras: tuple[str, ...] = ()
    laws: bool = False

    @property
    def null(self) -> float:
        """The estimate of no effect on this scale: 1 for a ratio, 0.5 for a probabilistic
        index, 0 for a difference."""
        return 1.0 if self.ratio else 0.5 if self.scale == "probabilistic-index" else 0.0


ANALYSES: dict[str, AnalysisKind] = {
    a.name: a
    for a in (
        AnalysisKind("two-proportion", "risk-difference", laws=True),
        AnalysisKind("logistic-adjusted", "risk-difference", needs="covariates"),
        AnalysisKind("cmh", "risk-difference", needs="strata", laws=True),
        AnalysisKind("log-rank", "hazard-ratio", ratio=True, laws=True),
        AnalysisKind("stratified-log-rank", "hazard-ratio", ratio=True, needs="strata", laws=True),
        AnalysisKind("cox", "hazard-ratio", ratio=True, laws=True),
        AnalysisKind("mann-whitney", "probabilistic-index"),
        AnalysisKind("win-ratio", "win-ratio", ratio=True, extras=("win_odds", "net_benefit")),
        # covariates optional: the arm alone without them
        AnalysisKind("proportional-odds", "odds-ratio", ratio=True),
    )
}


@dataclass(frozen=True)
class SpendingFamily:
    """An error-spending family and its parameter (name, validated range, an example).

    The ranges are rpact's validated bounds (`getDesignGroupSequential`: gammaA in
    [-10, 5] for Hwang–Shih–DeCani, [0.4, 8] for Kim–DeMets, deltaWT in [-0.5, 1]).
    """

    name: str
    parameter: str | None = None
    low: float = float("-inf")
    high: float = float("inf")
    example: str = ""

    def parameter_problem(self, value: float | None) -> str | None:
        """What is wrong with `value` as this family's parameter, or None."""
        if self.parameter is None:
            return None if value is None else f"{self.name} takes no parameter, found {value:g}"
        if value is None:
            return f"{self.name} needs a parameter: {self.parameter}, {self.example}"
        if not self.low <= value <= self.high:
            return (
                f"{self.name} needs {self.parameter} between {self.low:g} and {self.high:g}, "
                f"found {value:g}: {self.example}"
            )
        return None


SPENDING_FAMILIES: dict[str, SpendingFamily] = {
    f.name: f
    for f in (
        SpendingFamily("lan-demets-obrien-fleming"),
        SpendingFamily("lan-demets-pocock"),
        SpendingFamily(
            "hwang-shih-decani",
            "gamma",
            -10.0,
            5.0,
            "e.g. -4 (O'Brien-Fleming-like) to 1 (Pocock-like)",
        ),
        SpendingFamily(
            "kim-demets", "rho", 0.4, 8.0, "e.g. 3 (O'Brien-Fleming-like) or 1 (linear)"
        ),
        SpendingFamily(
            "wang-tsiatis", "delta", -0.5, 1.0, "e.g. 0 (O'Brien-Fleming) or 0.5 (Pocock)"
        ),
        SpendingFamily("none"),
    )
}


def futility_problem(futility: str, binding: bool, efficacy: str) -> str | None:
    """What is wrong with beta-spending futility by `futility` beside `efficacy`, or None."""
    if futility == "wang-tsiatis":
        return (
            "wang-tsiatis is not a spending function; choose a beta-spending family: "
            "lan-demets-obrien-fleming, lan-demets-pocock, hwang-shih-decani or kim-demets"
        )
    if binding and efficacy == "wang-tsiatis" and futility != "none":
        return (
            "binding futility with wang-tsiatis efficacy bounds is not supported "
            "(gsDesign and rpact do not offer it either). Try 1) binding: false, or "
            "2) an alpha-spending family such as lan-demets-obrien-fleming"
        )
    return None
