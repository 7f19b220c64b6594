"""Design priors: the uncertainty about a design parameter, drawn from for assurance.

Assurance (the expected power, or probability of success) averages a design's power over
a *design prior* on its parameters, say the treatment effect, instead of fixing them:
each simulated trial first draws its true parameter from the prior. The priors are
written as in the protocol, one family and two numbers:

    {normal: [mean, sd]}          e.g. a risk difference: {normal: [-0.08, 0.04]}
    {lognormal: [meanlog, sdlog]} log of the value ~ N(meanlog, sdlog^2), e.g. a hazard
                                  ratio: {lognormal: [-0.22, 0.15]}
    {beta: [a, b]}                e.g. a control risk: {beta: [40, 60]}
    {uniform: [low, high]}

The random generator is passed in (the engine's seed tree); nothing here touches numpy's
global random state.
References: O'Hagan, Stevens & Campbell 2005, Pharm Stat 4:187 (assurance); Spiegelhalter,
Abrams & Myles 2004, §6.5.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from cstrial.errors import CstrialError
from cstrial.protocol.bayesian import PRIOR_FAMILIES

#: Each family's two parameters, by name, in the order the protocol writes them (the
#: protocol's own table: one vocabulary for the schema and the library).
DESIGN_PRIOR_FAMILIES = PRIOR_FAMILIES

_EXAMPLES = "e.g. {normal: [0.0, 0.1]}, {lognormal: [-0.2, 0.15]}, {beta: [40, 60]}"


@dataclass(frozen=True)
class DesignPrior:
    """A validated design prior: its family and its two parameters (see the module)."""

    family: str
    parameters: tuple[float, float]

    def draw(self, size: int | tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
        """`size` independent draws from the prior, with the generator `rng`."""
        first, second = self.parameters
        if self.family == "normal":
            return rng.normal(first, second, size)
        if self.family == "lognormal":
            return rng.lognormal(first, second, size)
        if self.family == "beta":
            return rng.beta(first, second, size)
        return rng.uniform(first, second, size)


def design_prior(
    spec: Mapping[str, Sequence[float]] | DesignPrior, field: str = "prior"
) -> DesignPrior:
    """Validate a design prior written as {family: [p1, p2]}; errors name `field`.

    A scale (sd, sdlog) or shape (a, b) that is not positive, a uniform whose high is not
    above its low, an unknown family or a parameter that is not a finite number raises
    `CstrialError`, naming the field, e.g. ``design.assurance.effect.normal[1] (sd): must
    be > 0, found 0``.
    """
    if isinstance(spec, DesignPrior):
        return spec
    if not isinstance(spec, Mapping) or len(spec) != 1:
        raise CstrialError(
            f"{field}: a design prior is one family with two numbers, {_EXAMPLES}; found {spec!r}"
        )
    ((family, values),) = spec.items()
    if family not in DESIGN_PRIOR_FAMILIES:
        raise CstrialError(
            f"{field}: unknown design prior {family!r}; expected one of "
            f"{', '.join(DESIGN_PRIOR_FAMILIES)}, {_EXAMPLES}"
        )
    names = DESIGN_PRIOR_FAMILIES[family]
    where = f"{field}.{family}"
    if isinstance(values, str | bytes) or not isinstance(values, Sequence) or len(values) != 2:
        raise CstrialError(f"{where}: must be two numbers [{', '.join(names)}], found {values!r}")
    parameters = []
    for i, (name, value) in enumerate(zip(names, values, strict=True)):
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if isinstance(value, bool) or not math.isfinite(number):
            raise CstrialError(f"{where}[{i}] ({name}): must be a finite number, found {value!r}")
        parameters.append(number)
    first, second = parameters
    if family in ("normal", "lognormal") and second <= 0:
        raise CstrialError(
            f"{where}[1] ({names[1]}): must be > 0, found {values[1]!r}; for a fixed value "
            "give no prior"
        )
    if family == "beta":
        for i, value in enumerate(parameters):
            if value <= 0:
                raise CstrialError(
                    f"{where}[{i}] ({names[i]}): must be > 0, found {values[i]!r}; "
                    "beta: [a, b] has mean a / (a + b), e.g. [40, 60] for 0.4 worth 100 patients"
                )
    if family == "uniform" and second <= first:
        raise CstrialError(f"{where}[1] (high): must be > low ({values[0]!r}), found {values[1]!r}")
    return DesignPrior(family, (first, second))


def draw_design_prior(
    spec: Mapping[str, Sequence[float]] | DesignPrior,
    size: int | tuple[int, ...],
    rng: np.random.Generator,
    field: str = "prior",
) -> np.ndarray:
    """Validate `spec` (see `design_prior`) and draw `size` values from it with `rng`."""
    return design_prior(spec, field).draw(size, rng)
