"""Which decision design (`cstrial.engine.decide.Design`) a scenario's protocol asks for.

One function, one branch per design family (multi-arm selection, combination tests with
re-estimation or enrichment, Bayesian rules); None keeps the group-sequential default,
each comparison tested alone on its cumulative z.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cstrial.engine.decide import Design
    from cstrial.engine.plan import ScenarioPlan
    from cstrial.protocol import Protocol


def decision_design(protocol: Protocol, plan: ScenarioPlan) -> Design | None:
    """The design the protocol's `design:` section asks for, or None for the default."""
    if protocol.design.decision is not None:  # type: bayesian (engine/bayes.py)
        from cstrial.engine.bayes import BayesianDesign

        return BayesianDesign.of_protocol(protocol)
    if protocol.design.combination is not None:
        from cstrial.engine.adaptive import combination_design

        return combination_design(protocol, plan)
    from cstrial.engine.multiarm import graph_design, multiarm_design

    graph = graph_design(protocol, plan)
    if graph is not None:
        return graph
    multiarm = multiarm_design(protocol, plan)
    if multiarm is not None:
        return multiarm
    return None
