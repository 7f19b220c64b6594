"""The Bayesian decision design of `design.decision: {type: bayesian}`, evaluated at every look.

At each look, for each comparison of each running trial, the posterior probability of
the efficacy statement is computed from what the look has seen:

* binary primary: independent Beta(a, b) priors on the control's and the treatment's
  risk of the event (death), updated by the observed events and patients of each arm
  (`design.bayesian.beta_binomial_posterior_probability`, exact by quadrature);
  efficacy: P(p_t < p_c - above);
* log-scale estimate (log HR of log-rank or Cox, log OR of proportional odds): a
  normal prior on the log effect and the likelihood N(estimate, se^2), the normal
  approximation behind the analysis's own Wald test (the SE is the analysis's: 1/sqrt(V)
  for Peto's log-rank estimate, the observed information's for Cox and proportional
  odds) (`design.bayesian.normal_posterior_probability`); efficacy: P(HR < below) or
  P(OR > above).

A trial stops for efficacy at the first look where P(efficacy) > `efficacy.probability`;
at an interim it stops for futility where P(futility statement) < `futility.probability`
(the same statement with its own threshold, e.g. P(OR > 1.2)); at the final look it
concludes efficacy or none. trials.parquet gets `posterior_look_k` (the efficacy
statement's posterior at look k, NaN after the trial's stop) and `posterior` (at the
stopping look); the summary their means, beside the frequentist power (type I error in
a null scenario) of the design.
References: Berry et al. 2010, ch. 2 and 4; Spiegelhalter et al. 2004, §3.3 and §6.6;
REMAP-CAP Investigators 2020, Ann Am Thorac Soc 17:879.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa

from cstrial.design.bayesian import (
    beta_binomial_posterior_probability,
    normal_posterior_probability,
)
from cstrial.engine.decide import CONTINUE, EFFICACY, FUTILITY, NONE, Verdict, planned_stage
from cstrial.protocol.bayesian import LOG_SCALE_DIRECTION
from cstrial.protocol.vocabulary import ANALYSES

if TYPE_CHECKING:
    from cstrial.endpoints import AnalysisResult
    from cstrial.engine.plan import ScenarioPlan
    from cstrial.engine.samplers import Look
    from cstrial.engine.stages import StagePlan
    from cstrial.protocol import Protocol

BETA_BINOMIAL, NORMAL = "beta-binomial", "normal"


@dataclass(frozen=True)
class BayesianDesign:
    """Posterior-probability stopping at every look (see the module).

    `efficacy_threshold` and `futility_threshold` are a risk difference (beta-binomial)
    or the threshold's logarithm (normal); `higher_is_better` says whether the normal
    family's statement is P(theta > threshold) (odds ratio) or P(theta < threshold)
    (hazard ratio). `efficacy_probability` 1.0 never stops for efficacy (calibration
    runs use it to follow every trial to its end or its futility stop).
    """

    family: str
    prior: tuple[float, float]
    efficacy_probability: float
    efficacy_threshold: float
    futility_probability: float | None
    futility_threshold: float
    higher_is_better: bool
    n_looks: int

    @classmethod
    def of_protocol(cls, protocol: Protocol) -> BayesianDesign:
        decision = protocol.design.decision
        assert decision is not None
        primary = protocol.endpoints.primary
        ((_, prior),) = decision.prior.items()
        futility = decision.futility
        if primary.type == "binary":
            return cls(
                BETA_BINOMIAL,
                prior,
                decision.efficacy.probability,
                decision.efficacy.above or 0.0,
                None if futility is None else futility.probability,
                0.0 if futility is None else futility.above or 0.0,
                False,
                len(protocol.design.looks),
            )
        direction = LOG_SCALE_DIRECTION[ANALYSES[primary.analysis].scale]

        def log_threshold(statement: object) -> float:
            value = getattr(statement, direction, None)
            return math.log(value) if value is not None else 0.0

        return cls(
            NORMAL,
            prior,
            decision.efficacy.probability,
            log_threshold(decision.efficacy),
            None if futility is None else futility.probability,
            0.0 if futility is None else log_threshold(futility),
            direction == "above",
            len(protocol.design.looks),
        )

    def without_efficacy_stops(self) -> BayesianDesign:
        """The same design never stopping for efficacy: every trial runs to its futility
        stop or its end (threshold calibration reads its posteriors)."""
        return replace(self, efficacy_probability=1.0)

    def posterior(self, analysis: AnalysisResult, threshold: float) -> np.ndarray:
        """P(the benefit statement with this threshold | data) per running trial."""
        if self.family == BETA_BINOMIAL:
            return beta_binomial_posterior_probability(
                analysis.events_control,
                analysis.n_control,
                analysis.events_treatment,
                analysis.n_treatment,
                self.prior,
                threshold,
            )
        estimate, se = log_estimate_and_se(analysis)
        return normal_posterior_probability(
            estimate, se, self.prior[0], self.prior[1], threshold, self.higher_is_better
        )

    def start(self, plan: ScenarioPlan, replicates: int) -> BayesianRule:
        return BayesianRule(self, plan, replicates)

    def columns(self) -> list[tuple[str, pa.DataType]]:
        looks = [(f"posterior_look_{k + 1}", pa.float64()) for k in range(self.n_looks)]
        return [*looks, ("posterior", pa.float64())]


def log_estimate_and_se(analysis: AnalysisResult) -> tuple[np.ndarray, np.ndarray]:
    """The log estimate and its SE, NaN where the analysis has none (no evidence: the
    posterior is then the prior). The SE is the analysis's own; an analysis without one
    has z = log estimate / SE up to sign, which gives it wherever z is not 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        estimate = np.log(np.asarray(analysis.estimate, dtype=float))
        if analysis.se is not None:
            se = np.asarray(analysis.se, dtype=float)
        else:
            z = np.asarray(analysis.z, dtype=float)
            se = np.where(z != 0, np.abs(estimate / z), np.nan)
    ok = np.isfinite(estimate) & np.isfinite(se) & (se > 0)
    return np.where(ok, estimate, np.nan), np.where(ok, se, np.nan)


class BayesianRule:
    """One chunk's rule: the posteriors so far, per comparison, trial and look."""

    def __init__(self, design: BayesianDesign, plan: ScenarioPlan, replicates: int) -> None:
        self.design = design
        self.plan = plan
        comparisons = len(plan.comparisons)
        self.posteriors = np.full((comparisons, replicates, design.n_looks), np.nan)
        self.at_stop = np.full((comparisons, replicates), np.nan)
        self.open = np.ones((comparisons, replicates), dtype=bool)

    def decide(self, look: int, running: np.ndarray, seen: Look, stage: StagePlan) -> Verdict:
        d = self.design
        final = look == self.plan.n_looks - 1
        decision = np.full((len(seen.analyses), running.size), CONTINUE, dtype=np.int8)
        for c, analysis in enumerate(seen.analyses):
            p = d.posterior(analysis, d.efficacy_threshold)
            efficacy = p > d.efficacy_probability
            if final:
                verdict = np.where(efficacy, EFFICACY, NONE)
            elif d.futility_probability is not None:
                futile = d.posterior(analysis, d.futility_threshold) < d.futility_probability
                verdict = np.where(efficacy, EFFICACY, np.where(futile, FUTILITY, CONTINUE))
            else:
                verdict = np.where(efficacy, EFFICACY, CONTINUE)
            decision[c] = verdict
            open_ = self.open[c, running]
            rows = running[open_]
            self.posteriors[c, rows, look] = p[open_]
            stops = open_ & (verdict != CONTINUE)
            self.at_stop[c, running[stops]] = p[stops]
            self.open[c, running[stops]] = False
        return Verdict(decision, planned_stage(self.plan, look, stage))

    def columns(self) -> list[dict[str, np.ndarray]]:
        out = []
        for c in range(len(self.plan.comparisons)):
            columns = {
                f"posterior_look_{k + 1}": self.posteriors[c, :, k]
                for k in range(self.design.n_looks)
            }
            columns["posterior"] = self.at_stop[c]
            out.append(columns)
        return out
