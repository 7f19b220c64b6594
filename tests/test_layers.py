"""The import directions of DESIGN.md hold: cli → tools → engine → model parts → protocol.

Every `import cstrial.x` or `from cstrial.x import` in the package, at any depth
(function-level imports included), goes from a layer to the same layer or one below.
Among the model parts the order is protocol < population < disease < treatment <
endpoints, with analysis and design beside them; results and parameters are shared
ground that imports only protocol and errors.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import cstrial

PACKAGE = Path(cstrial.__file__).parent

# Layer of each top-level module or package: a module may import its own layer or lower.
LAYERS = {
    "errors": 0,
    "protocol": 1,
    "parameters": 1,
    "results": 2,
    "folder": 2,
    "analysis": 2,
    "design": 2,
    "population": 2,
    "disease": 3,
    "treatment": 4,
    # the model's parameter tables with overridden values: read by treatment courses
    "model_parameters": 4,
    "endpoints": 5,
    "engine": 6,
    "sample_size": 7,
    "compare": 7,
    "power_curve": 7,
    "verify": 7,
    "report": 7,
    "model_docs": 7,
    "calibrate": 7,
    "sensitivity": 7,
    "cli": 8,
    "__init__": 9,
    "__main__": 9,
}
# Pairs of the same layer that must not meet (they are parallel parts of the model).
APART = {("analysis", "design"), ("design", "analysis"), ("population", "analysis")}


def _top(module: str) -> str:
    return module.split(".")[1] if module.startswith("cstrial.") else ""


def _edges() -> list[tuple[str, str, str]]:
    edges = []
    for path in PACKAGE.rglob("*.py"):
        relative = path.relative_to(PACKAGE)
        source = relative.parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                # `from cstrial import x` imports the top-level module x
                target = _top(node.module) or (
                    node.names[0].name if node.module == "cstrial" else ""
                )
            elif isinstance(node, ast.Import):
                target = next(
                    (_top(a.name) for a in node.names if a.name.startswith("cstrial")), ""
                )
            else:
                continue
            if target and target != source:
                edges.append((source, target, str(relative)))
    return edges


def test_every_module_has_a_layer():
    modules = {p.relative_to(PACKAGE).parts[0].removesuffix(".py") for p in PACKAGE.glob("*")}
    modules -= {"__pycache__", "py.typed"}
    assert modules <= set(LAYERS), modules - set(LAYERS)


@pytest.mark.parametrize(("source", "target", "where"), _edges())
def test_imports_go_down_the_layers(source, target, where):
    if target == "__version__":  # the package's version, defined in __init__
        return
    assert LAYERS[target] <= LAYERS[source], f"{where} imports cstrial.{target} from below"
    assert (source, target) not in APART, f"{where}: {source} must not import {target}"
