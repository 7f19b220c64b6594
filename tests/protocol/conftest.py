"""Shared fixtures for the protocol tests: the valid protocol, and a way to see problems."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import yaml
from helpers import ASSETS

from cstrial.errors import ProtocolError, ProtocolProblem
from cstrial.protocol import parse_protocol

VALID = ASSETS / "valid.yaml"
_VALID_DATA = yaml.safe_load(VALID.read_text(encoding="utf-8"))


@pytest.fixture
def data() -> dict[str, Any]:
    """A fresh copy of tests/assets/valid.yaml as a mapping, to break one thing in."""
    return copy.deepcopy(_VALID_DATA)


@pytest.fixture
def problems() -> Callable[[dict[str, Any]], list[ProtocolProblem]]:
    """Validate a mapping and return its problems ([] when it is valid)."""

    def validate(mapping: dict[str, Any]) -> list[ProtocolProblem]:
        try:
            parse_protocol(mapping)
        except ProtocolError as error:
            return error.problems
        return []

    return validate
