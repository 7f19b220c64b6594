"""Reading YAML: the same data as yaml.safe_load, plus the line of every key and item."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from cstrial.protocol.yaml_nodes import line_for, parse_yaml

TEXT = textwrap.dedent(
    """\
    name: toci          # line 1
    defaults: &arm
      allocation: 1
    arms:
      - name: placebo   # line 5
        control: true
      - <<: *arm
        name: toci      # line 8
        allocation: 2
    looks: [0.5,
      1.0]              # line 11
    """
)


def test_data_is_what_safe_load_gives() -> None:
    assert parse_yaml(TEXT).data == yaml.safe_load(TEXT)


@pytest.mark.parametrize(
    ("loc", "line"),
    [
        (("name",), 1),
        (("arms",), 4),
        (("arms", 0), 5),
        (("arms", 0, "control"), 6),
        (("arms", 1, "name"), 8),
        (("arms", 1, "allocation"), 9),  # written beside a merge key: the written line
        (("looks", 1), 11),
    ],
)
def test_each_key_and_item_has_its_line(loc: tuple, line: int) -> None:
    assert parse_yaml(TEXT).lines[loc] == line


def test_a_missing_field_takes_the_line_of_its_nearest_parent() -> None:
    lines = parse_yaml(TEXT).lines
    assert line_for(lines, ("arms", 0, "effect", "model")) == 5


def test_a_duplicate_key_is_a_problem_and_the_last_value_wins() -> None:
    parsed = parse_yaml("alpha: 0.025\npower: 0.8\nalpha: 0.05\n")
    assert parsed.data["alpha"] == 0.05
    assert [(p.path, p.line, p.message) for p in parsed.problems] == [
        ("alpha", 3, "duplicate key (first at line 1)")
    ]


def test_a_key_that_is_not_text_is_a_problem() -> None:
    parsed = parse_yaml("design:\n  on: 1\n")  # YAML 1.1 reads `on` as true
    assert [(p.path, p.line, p.message) for p in parsed.problems] == [
        ("design", 2, "keys must be text, found true")
    ]


@pytest.mark.parametrize(
    ("text", "line", "phrase"),
    [
        ("a: b: c\n", 1, "mapping values are not allowed here"),
        ("a:\n\tb: 1\n", 2, "YAML indents with spaces, not tabs"),
        ("a: 1\n---\nb: 2\n", 2, "more than one YAML document"),
        ("a: &x [*x]\n", 1, "cycle"),
    ],
)
def test_unreadable_yaml_is_one_problem_at_its_line(text: str, line: int, phrase: str) -> None:
    parsed = parse_yaml(text)
    assert parsed.data is None
    assert [(p.path, p.line) for p in parsed.problems] == [("", line)]
    assert phrase in parsed.problems[0].message
