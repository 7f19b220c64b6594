"""The one exception family and the named warnings of cstrial.

Domain code raises these and never prints or exits; the CLI catches
`CstrialError` in one place (exit 2 for invalid input, 1 for a failed run).
"""

from __future__ import annotations

import re

# C0/C1 controls (ANSI escapes start with ESC), lone surrogates, and the bidirectional
# overrides that reorder what a terminal shows; line breaks are kept.
_UNPRINTABLE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")


def printable(text: str) -> str:
    """`text` safe to print on a terminal: control characters, lone surrogates and
    direction overrides escaped (\\x1b, \\ud800), so user input can never drive the terminal."""
    return _UNPRINTABLE.sub(lambda m: m.group().encode("unicode_escape").decode("ascii"), text)


class CstrialError(Exception):
    """Root of every error cstrial raises on purpose."""

    exit_code: int = 1


class ProtocolError(CstrialError):
    """The protocol is invalid: each problem names the file, line and field path."""

    exit_code = 2

    def __init__(self, problems: list[ProtocolProblem], source: str = "protocol") -> None:
        self.problems = problems
        self.source = source
        super().__init__(self.render())

    def render(self) -> str:
        lines = [f"{printable(self.source)} is invalid:"]
        for p in self.problems:
            lines.append(f"  • {p.render()}")
        return "\n".join(lines)


class ProtocolProblem:
    """One problem in a protocol: where it is and what is wrong."""

    __slots__ = ("line", "message", "path")

    def __init__(self, path: str, message: str, line: int | None = None) -> None:
        self.path = path
        self.message = message
        self.line = line

    def render(self) -> str:
        where = f"line {self.line}, " if self.line is not None else ""
        field = f"{self.path}: " if self.path else ""
        return printable(f"{where}{field}{self.message}")

    def __repr__(self) -> str:
        return f"ProtocolProblem({self.render()!r})"


class UsageError(CstrialError):
    """An option of a call is invalid: `parameter` names it as the library spells it.

    The message does not name the parameter; `render` puts a name in front, so the
    library says `n_sims must be ...` and the command line `--n-sims must be ...`.
    """

    exit_code = 2

    def __init__(self, parameter: str, message: str) -> None:
        self.parameter = parameter
        self.message = message
        super().__init__(self.render())

    def render(self, name: str | None = None) -> str:
        return f"{name or self.parameter} {self.message}"


class InfeasibleDesignError(CstrialError):
    """The design cannot meet what was asked of it (power, eligibility, ...)."""

    exit_code = 2


class ConvergenceError(CstrialError):
    """A numerical search or fit did not converge."""


class MonteCarloPrecisionWarning(UserWarning):
    """n_sims leaves the Monte Carlo SE of the power above the advised 0.01."""


class ConvergenceWarning(UserWarning):
    """Some fits of an analysis did not converge: those looks carry no evidence (z = 0)."""


class NoEffectWarning(UserWarning):
    """No active arm of the protocol as written differs from the control arm: its "power"
    is the type I error."""
