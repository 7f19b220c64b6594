"""Multi-arm fields of the protocol: `design.multiplicity`, `design.selection` and the
testing graph of `endpoints.testing`, with the checks that span the arms.

docs/multiarm.md describes what each choice does in the simulation.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import model_validator

from cstrial.protocol.base import Found, Schema, problem, problems
from cstrial.protocol.fields import Flag, choice, number

MultiplicityName = Literal["bonferroni", "dunnett", "holm", "hochberg", "simes"]
Multiplicity = Annotated[MultiplicityName, choice(MultiplicityName, "multiplicity method")]
SelectionRuleName = Literal["all", "best", "epsilon", "threshold"]
SelectionRule = Annotated[SelectionRuleName, choice(SelectionRuleName, "selection rule")]
MeasureName = Literal["z", "estimate"]
Measure = Annotated[MeasureName, choice(MeasureName, "selection measure")]


class Selection(Schema):
    """Which arms continue after each interim (rpact's ``typeOfSelection``).

    `all`: every arm; `best`: the arm with the largest measure; `epsilon`: every arm
    within `epsilon` of the best; `threshold`: every arm whose measure exceeds
    `threshold`. A `threshold` given with best or epsilon also drops arms at or below it
    (rpact's ``threshold``). The measure is the arm's cumulative z (larger is better) or
    its estimated benefit (`estimate`: the risk reduction of a binary primary).
    """

    rule: SelectionRule
    epsilon: Annotated[float, number(ge=0, le=100, note="on the measure's scale")] | None = None
    threshold: Annotated[float, number(ge=-100, le=100, note="on the measure's scale")] | None = (
        None
    )
    measure: Measure = "z"
    keep_total: Flag = True  # a dropped arm's share goes to the open arms; false: fewer patients

    @model_validator(mode="after")
    def _parameters_fit_rule(self) -> Selection:
        if self.rule == "epsilon" and self.epsilon is None:
            raise problem("rule epsilon needs epsilon, e.g. epsilon: 0.5 (on the measure's scale)")
        if self.rule != "epsilon" and self.epsilon is not None:
            raise problem(f"epsilon is used only by rule epsilon, found rule {self.rule}")
        if self.rule == "threshold" and self.threshold is None:
            raise problem(
                "rule threshold needs threshold, e.g. threshold: 0 (on the measure's scale)"
            )
        return self


class Graph(Schema):
    """A graphical procedure (Bretz et al. 2009): initial weights and transitions."""

    weights: list[Annotated[float, number(ge=0, le=1)]]
    transitions: list[list[Annotated[float, number(ge=0, le=1)]]]

    @model_validator(mode="after")
    def _is_a_graph(self) -> Graph:
        # the rules of cstrial.design.graph.check_graph, with the protocol's field paths
        # (the protocol layer does not import the design layer)
        m = len(self.weights)
        found: Found = []
        if m == 0:
            found.append((("weights",), "needs one weight per hypothesis"))
        if sum(self.weights) > 1 + 1e-9:
            found.append((("weights",), f"must sum to at most 1, found {sum(self.weights):.6g}"))
        if len(self.transitions) != m or any(len(row) != m for row in self.transitions):
            found.append(
                (
                    ("transitions",),
                    f"must be a {m} x {m} matrix: one row of {m} per hypothesis (as there are "
                    f"{m} weights), found rows of {[len(r) for r in self.transitions]}",
                )
            )
        else:
            for i, row in enumerate(self.transitions):
                if row[i] != 0:
                    found.append(
                        (("transitions", i, i), "must be 0: no edge from a hypothesis to itself")
                    )
                if sum(row) > 1 + 1e-9:
                    found.append(
                        (
                            ("transitions", i),
                            f"the edges leaving hypothesis {i} must sum to at most 1, "
                            f"found {sum(row):.6g}",
                        )
                    )
        if found:
            raise problems(found, "graph")
        return self


class TestingGraph(Schema):
    """`endpoints.testing: {graph: ...}` over the arms' primary and secondary hypotheses."""

    graph: Graph


TESTING_WORDS = ("none", "fixed-sequence")
METHODS: tuple[str, ...] = ("bonferroni", "dunnett", "holm", "hochberg", "simes")


def check_testing(value: Any) -> Any:
    """`endpoints.testing`: none, fixed-sequence, or a graph; a multiplicity method across
    arms written here is pointed at `design.multiplicity`."""
    if isinstance(value, dict):
        return TestingGraph.model_validate(value)
    if isinstance(value, str) and value in TESTING_WORDS:
        return value
    if isinstance(value, str) and value in METHODS:
        raise problem(
            f"{value} is a multiplicity method across arms: write design.multiplicity: {value}. "
            "endpoints.testing takes none, fixed-sequence, or "
            "{graph: {weights: [...], transitions: [[...]]}} over primary and secondary hypotheses"
        )
    raise problem(
        "must be none, fixed-sequence, or {graph: {weights: [...], transitions: [[...]]}}, "
        f"found {value!r}"
    )


def multiarm_problems(data: dict[Any, Any]) -> Found:
    """Checks that span arms, endpoints and design (on the raw protocol mapping)."""
    arms, design, endpoints = data.get("arms"), data.get("design"), data.get("endpoints")
    if not isinstance(arms, list) or not isinstance(design, dict):
        return []
    active = sum(1 for a in arms if isinstance(a, dict) and a.get("control") is not True)
    found: Found = []
    method = design.get("multiplicity", "bonferroni")
    if isinstance(method, str) and method != "bonferroni" and active < 2:
        found.append(
            (
                ("design", "multiplicity"),
                f"{method} adjusts for several active arms against one control; this protocol "
                f"has {active} active arm. Remove design.multiplicity (or add an arm)",
            )
        )
    if design.get("selection") is not None and active < 2:
        found.append(
            (
                ("design", "selection"),
                f"selects among several active arms at interims; this protocol has {active} "
                "active arm. Remove design.selection, or use design.futility to stop the arm",
            )
        )
    looks = design.get("looks", [1.0])
    if design.get("selection") is not None and isinstance(looks, list) and len(looks) < 2:
        found.append(
            (
                ("design", "selection"),
                "arms are selected at interims: give design.looks at least one interim, "
                "e.g. [0.5, 1.0]",
            )
        )
    several_looks = isinstance(looks, list) and len(looks) > 1
    if method == "hochberg" and (several_looks or design.get("selection") is not None):
        found.append(
            (
                ("design", "multiplicity"),
                "hochberg is a step-up test of one final analysis; with interim looks or "
                "design.selection use simes (the closed Simes test, of which Hochberg's "
                "procedure is a shortcut) or holm",
            )
        )
    testing = endpoints.get("testing") if isinstance(endpoints, dict) else None
    if isinstance(testing, dict) and (
        method != "bonferroni" or design.get("selection") is not None
    ):
        found.append(
            (
                ("endpoints", "testing"),
                "a graph is itself the multiplicity procedure across arms and endpoints; "
                "remove design.multiplicity and design.selection, or the graph",
            )
        )
    if (
        isinstance(endpoints, dict)
        and isinstance(testing, dict)
        and isinstance(testing.get("graph"), dict)
    ):
        weights = testing["graph"].get("weights")
        secondary = endpoints.get("secondary") or []
        n = active * (1 + (len(secondary) if isinstance(secondary, list) else 0))
        if isinstance(weights, list) and len(weights) != n:
            found.append(
                (
                    ("endpoints", "testing", "graph", "weights"),
                    f"needs one weight per hypothesis: {active} active arm(s) x "
                    f"(the primary + {n // max(active, 1) - 1} secondary) = {n}, in the order "
                    "primary of each arm, then each secondary of each arm; found "
                    f"{len(weights)}",
                )
            )
    return found


__all__ = [
    "Graph",
    "Multiplicity",
    "Selection",
    "TestingGraph",
    "check_testing",
    "multiarm_problems",
]
