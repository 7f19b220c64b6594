"""Validating protocol data into a `Protocol`, with each problem placed at its file line."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from cstrial.errors import ProtocolProblem
from cstrial.protocol.base import Found, plain
from cstrial.protocol.messages import render_path
from cstrial.protocol.models import Protocol
from cstrial.protocol.yaml_nodes import Lines, line_for


def check(data: Any, context: dict[str, Any] | None = None) -> tuple[Protocol | None, Found]:
    """The protocol, or None and every problem found as (location, message)."""
    try:
        return Protocol.model_validate(data, context=context), []
    except ValidationError as error:
        return None, plain(error, Protocol.field_names())


def to_problems(found: Found, lines: Lines) -> list[ProtocolProblem]:
    """Problems as the user reads them: field path, message and line in the file."""
    return [
        ProtocolProblem(render_path(loc), message, line_for(lines, loc)) for loc, message in found
    ]


def in_file_order(problems: list[ProtocolProblem]) -> list[ProtocolProblem]:
    """Problems sorted by line (those without one last), each reported once."""
    unique = {(p.path, p.message, p.line): p for p in problems}
    return sorted(unique.values(), key=lambda p: (p.line is None, p.line or 0))
