"""How values and suggestions are worded in protocol problems."""

from __future__ import annotations

import math

import pytest

from cstrial.protocol.messages import bounds_phrase, did_you_mean, render_path, show

SUGGESTIONS = [
    # (word typed, options, suggestion or None)
    ("sampel_size", ["sample_size", "alpha"], "sample_size"),
    ("ami", ["AMI", "HF", "other"], "AMI"),  # case is ignored
    ("il6", ["age", "il6_pg_ml", "crp_mg_l"], "il6_pg_ml"),  # a prefix counts
    ("pocock", ["lan-demets-pocock", "none"], "lan-demets-pocock"),  # so does a part
    ("zzz", ["age", "sex"], None),
    (7, ["age"], None),
]


@pytest.mark.parametrize(("word", "options", "expected"), SUGGESTIONS)
def test_unknown_key_suggests_the_closest_field(word, options, expected) -> None:
    assert did_you_mean(word, options) == (f"; did you mean {expected!r}?" if expected else "")


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (True, "true"),
        (None, "null"),
        (math.nan, "nan"),
        ("AMI", "'AMI'"),
        ([0.5, 0.4, 1.0], "[0.5, 0.4, 1.0]"),
        ({"min": 50}, "{min: 50}"),
    ],
)
def test_values_are_shown_as_yaml_writes_them(value, shown: str) -> None:
    assert show(value) == shown


def test_long_values_are_cut_short() -> None:
    shown = show(list(range(100)))
    assert shown.startswith("[0, 1, 2") and shown.endswith("...") and len(shown) == 60


@pytest.mark.parametrize(
    ("bounds", "phrase"),
    [
        ({"gt": 0, "lt": 0.5}, "strictly between 0 and 0.5"),
        ({"ge": 0, "le": 1}, "between 0 and 1"),
        ({"gt": 0, "le": 30}, "> 0 and ≤ 30"),
        ({"ge": 1}, "≥ 1"),
    ],
)
def test_bounds_read_as_words(bounds: dict, phrase: str) -> None:
    assert bounds_phrase(**bounds) == phrase


def test_paths_read_like_the_yaml() -> None:
    assert render_path(("arms", 1, "effect", "blockade")) == "arms[1].effect.blockade"
    assert render_path(()) == ""
