"""Shared fixtures: protocols written on the fly (paths and checks are in helpers.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import ASSETS


@pytest.fixture
def write_protocol(tmp_path: Path):
    """Write a protocol mapping (overriding tests/assets/small.yaml) to a YAML file."""

    def write(overrides: dict[str, Any] | None = None, name: str = "protocol.yaml") -> Path:
        data = yaml.safe_load((ASSETS / "small.yaml").read_text())
        for dotted, value in (overrides or {}).items():
            node = data
            *parents, last = dotted.split(".")
            for key in parents:
                node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
            if isinstance(node, list):
                node[int(last)] = value
            else:
                node[last] = value
        path = tmp_path / name
        path.write_text(yaml.safe_dump(data, sort_keys=False))
        return path

    return write
