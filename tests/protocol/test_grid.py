"""Scenario grids: dotted paths to lists of values, one scenario per combination, named for its values."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cstrial.errors import ProtocolError
from cstrial.protocol import Range, expand_scenarios, load_protocol, parse_protocol
from cstrial.protocol.grid import MAX_GRID_POINTS, grid_labels, grid_names, value_text

VALID = Path(__file__).parents[1] / "assets" / "valid.yaml"


def with_grid(data: dict, grid: dict) -> dict:
    data["grid"] = grid
    return data


def test_each_combination_is_a_scenario_after_the_named_ones_first_path_slowest(data):
    grid = {"arms.tocilizumab.effect.blockade": [0.5, 0.7], "design.sample_size": [600, 900]}
    scenarios = expand_scenarios(parse_protocol(with_grid(data, grid)))
    assert [(s.index, s.name) for s in scenarios] == [
        (0, "base"),
        (1, "null-effect"),
        (2, "n800"),
        (3, "grid-blockade-0.5-sample_size-600"),
        (4, "grid-blockade-0.5-sample_size-900"),
        (5, "grid-blockade-0.7-sample_size-600"),
        (6, "grid-blockade-0.7-sample_size-900"),
    ]
    point = scenarios[5]
    assert point.grid == {"arms.tocilizumab.effect.blockade": 0.7, "design.sample_size": 600}
    assert point.protocol.arm("tocilizumab").effect.blockade == 0.7
    assert point.protocol.design.sample_size == 600
    assert point.protocol.grid == {} and point.protocol.scenarios == []
    assert scenarios[0].grid is None and scenarios[1].grid is None


def test_grid_points_apply_to_the_protocol_as_written_not_to_named_scenarios(data):
    scenarios = expand_scenarios(parse_protocol(with_grid(data, {"design.alpha": [0.01]})))
    point = scenarios[-1]
    assert point.protocol.design.sample_size == 600  # not n800's 800
    assert point.protocol.arm("tocilizumab").effect.blockade == 0.7  # not null-effect's 0


def test_adding_a_grid_leaves_base_and_named_scenarios_alone(data):
    before = expand_scenarios(parse_protocol(data))
    after = expand_scenarios(parse_protocol(with_grid(data, {"design.sample_size": [300]})))
    assert [(s.index, s.name, s.protocol.design) for s in after[:3]] == [
        (s.index, s.name, s.protocol.design) for s in before
    ]


def test_an_inclusion_threshold_can_be_varied_by_its_bound(data):
    grid = {"population.inclusion.il6_pg_ml.min": [50, 100, 200]}
    scenarios = expand_scenarios(parse_protocol(with_grid(data, grid)))
    names = [s.name for s in scenarios[3:]]
    assert names == [
        "grid-il6_pg_ml.min-50",
        "grid-il6_pg_ml.min-100",
        "grid-il6_pg_ml.min-200",
    ]
    assert scenarios[-1].protocol.population.inclusion["il6_pg_ml"] == Range(min=200)


# Labels: the shortest telling suffix of each path.
LABELS = [
    (["design.sample_size"], ["sample_size"]),
    (["arms.tocilizumab.effect.blockade"], ["blockade"]),
    (["population.inclusion.il6_pg_ml.min"], ["il6_pg_ml.min"]),
    (["design.futility.parameter"], ["futility.parameter"]),
    (["design.looks.0"], ["looks.0"]),
    (["arms.a.effect.value", "arms.b.effect.value"], ["a.effect.value", "b.effect.value"]),
    (["population.inclusion.age.min", "population.exclusion.age.min"],
     ["inclusion.age.min", "exclusion.age.min"]),
]  # fmt: skip


@pytest.mark.parametrize(("paths", "labels"), LABELS)
def test_labels_are_the_shortest_telling_suffix(paths, labels):
    assert list(grid_labels(paths).values()) == labels


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.5, "0.5"),
        (800, "800"),
        (800.0, "800"),
        (-2, "-2"),
        (True, "true"),
        ({"min": 100}, "min100"),
        ({"min": 50, "max": 90}, "min50.max90"),
        (["C", "D"], "C.D"),
        ("lan-demets-pocock", "lan-demets-pocock"),
        ("a b/c", "a_b_c"),
        ({}, "empty"),
        pytest.param(10**5000, "0x31e20801036510f3...", id="5000-digits"),
    ],
)
def test_values_are_written_slug_safe(value, text):
    assert value_text(value) == text


def test_names_are_valid_scenario_names_and_unique():
    grid = {"population.inclusion.scai_stage": [["C", "D"], ["D", "E"]], "design.alpha": [0.01]}
    names = grid_names(grid)
    assert names == ["grid-scai_stage-C.D-alpha-0.01", "grid-scai_stage-D.E-alpha-0.01"]
    assert len(set(names)) == len(names)


def test_the_grid_survives_the_resolved_yaml_of_the_manifest(data):
    protocol = parse_protocol(with_grid(data, {"design.sample_size": [600, 900]}))
    again = parse_protocol(yaml.safe_load(protocol.resolved_yaml()))
    assert [s.name for s in expand_scenarios(again)] == [s.name for s in expand_scenarios(protocol)]


def test_a_protocol_without_grid_has_an_empty_one():
    assert load_protocol(VALID).grid == {}


# --------------------------------------------------------------------------- problems


def messages(problems) -> list[tuple[str, str]]:
    return [(p.path, p.message) for p in problems]


def test_a_bad_value_is_reported_at_its_place_in_the_list(data, problems):
    found = problems(with_grid(data, {"design.alpha": [0.025, 0.7]}))
    assert messages(found) == [
        (
            "grid.design.alpha[1]",
            "must be a number ≥ 1e-06 and < 0.5 (one-sided; below 1e-6 the bounds pass z = 4.75), found 0.7",
        )
    ]


def test_a_misspelt_path_gets_a_suggestion(data, problems):
    found = problems(with_grid(data, {"design.sampel_size": [600]}))
    assert found[0].path == "grid.design.sampel_size[0]"
    assert "did you mean 'sample_size'?" in found[0].message


@pytest.mark.parametrize(
    ("grid", "path", "message"),
    [
        ({"design.alpha": 0.01}, "grid.design.alpha", "must be a non-empty list of values"),
        ({"design.alpha": []}, "grid.design.alpha", "must be a non-empty list of values"),
        ({"design.alpha": [0.01, 0.01]}, "grid.design.alpha[1]", "duplicate value 0.01"),
        ({"design.sample_size": [600, 600.0]}, "grid.design.sample_size[1]", "duplicate value"),
        ([1, 2], "grid", "must be a mapping of dotted path: list of values"),
        ({"scenarios.0.name": ["x"]}, "grid.scenarios.0.name[0]", "cannot set scenarios"),
        ({"grid.x": [1]}, "grid.grid.x[0]", "cannot set grid"),
    ],
)
def test_malformed_grids_are_reported(data, problems, grid, path, message):
    found = problems(with_grid(data, grid))
    assert any(p.path == path and message in p.message for p in found), messages(found)


def test_too_many_points_is_an_error(data, problems):
    grid = {
        "design.sample_size": list(range(100, 200)),
        "design.alpha": [0.01 + i / 1000 for i in range(11)],
    }
    found = problems(with_grid(data, grid))
    assert found[0].path == "grid"
    assert f"more than {MAX_GRID_POINTS}" in found[0].message


def test_a_combination_that_is_invalid_is_reported_with_its_values(data, problems):
    # kim-demets with 0.5 is valid, and hwang-shih-decani with -0.5; kim-demets with -0.5 is not
    data["design"]["efficacy"] = {"spending": "hwang-shih-decani", "parameter": 0.5}
    grid = {"design.efficacy.spending": ["kim-demets"], "design.efficacy.parameter": [-0.5]}
    found = problems(with_grid(data, grid))
    assert [p.path for p in found] == ["grid.design.efficacy.parameter"]
    assert found[0].message == (
        "with design.efficacy.spending: 'kim-demets', design.efficacy.parameter: -0.5: "
        "kim-demets needs rho between 0.4 and 8, found -0.5: e.g. 3 (O'Brien-Fleming-like) "
        "or 1 (linear)"
    )


def test_a_named_scenario_may_not_take_a_grid_points_name(data, problems):
    data["scenarios"].append({"name": "grid-sample_size-900", "set": {"design.alpha": 0.01}})
    found = problems(with_grid(data, {"design.sample_size": [900]}))
    assert ("scenarios[2].name", "'grid-sample_size-900' is also the name of a grid point; "
            "choose another name") in messages(found)  # fmt: skip


def test_problems_carry_the_line_of_the_value(tmp_path):
    text = VALID.read_text() + "grid:\n  design.sample_size: [600, 1]\n"
    path = tmp_path / "grid.yaml"
    path.write_text(text)
    with pytest.raises(ProtocolError) as error:
        load_protocol(path)
    line = len(VALID.read_text().splitlines()) + 2
    assert f"line {line}, grid.design.sample_size[1]: must be a whole number" in str(error.value)
