"""Hostile input: mutated protocols, YAML bombs, a full disk. A clear error and a non-zero exit, never
a traceback or a hang, and nothing half-written left behind.

Protocols are mutated from tests/assets/valid.yaml and small.yaml by hypothesis: values of wrong
types, out of range, huge, NaN/inf, empty, unicode, deeply nested; keys removed or added. Each goes
through the real CLI (`validate`, a few through `run`) under a time limit.
"""

from __future__ import annotations

import contextlib
import copy
import errno
import json
import math
import re
import signal
import tempfile
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import yaml
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schema_strategies import render, schema_leaves, schema_protocol
from typer.testing import CliRunner

import cstrial
from cstrial.cli import app
from cstrial.engine import run
from cstrial.errors import CstrialError
from cstrial.protocol import Protocol

ASSETS = Path(__file__).parent / "assets"
BASES = {name: yaml.safe_load((ASSETS / f"{name}.yaml").read_text()) for name in ("valid", "small")}
TIME_LIMIT = 30  # seconds for one CLI call: far above any honest protocol, far below a hang
runner = CliRunner()


class Hang(BaseException):
    """Raised by the alarm: BaseException, so CliRunner does not swallow it as a crash."""


@contextlib.contextmanager
def time_limit(seconds: int):
    def alarm(signum, frame):
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def invoke(*args: object, seconds: int = TIME_LIMIT):
    with time_limit(seconds):
        return runner.invoke(app, [str(a) for a in args])


def assert_clean(result, path: Path | None = None, codes=(1, 2)) -> None:
    """A handled outcome: no traceback, no stray exception, a short message naming the file."""
    crash = result.exception if not isinstance(result.exception, SystemExit) else None
    assert crash is None, f"unhandled {type(crash).__name__}: {crash}"
    assert "Traceback" not in result.output
    assert result.exit_code in (0, *codes), result.output
    if result.exit_code != 0:
        assert len(result.output) < 20_000, "the error message should be short"
        if path is not None and result.exit_code == 2:
            assert str(path) in result.output


# --------------------------------------------------------------------------- mutations


def _paths(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every location in a protocol mapping: keys of mappings and items of lists."""
    out = []
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else []
    )
    for key, value in items:
        out.append((*prefix, key))
        out += _paths(value, (*prefix, key))
    return out


def _containers(node: Any, prefix: tuple = ()) -> list[tuple]:
    """Every mapping in a protocol (where an extra key can be added)."""
    out = [prefix] if isinstance(node, dict) else []
    items = (
        node.items()
        if isinstance(node, dict)
        else enumerate(node)
        if isinstance(node, list)
        else []
    )
    for key, value in items:
        out += _containers(value, (*prefix, key))
    return out


def _get(data: Any, path: tuple) -> Any:
    for key in path:
        data = data[key]
    return data


HUGE = st.sampled_from([2**63, -(2**63), 10**30, 10**300, 1e308, -1e308, 5e-324, 1e-300])
NON_FINITE = st.sampled_from([math.nan, math.inf, -math.inf])
TEXT = st.text(max_size=40)  # any unicode, control characters and right-to-left marks included
NESTED = st.recursive(
    st.none() | st.integers() | TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=12,
)
HOSTILE = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    HUGE,
    NON_FINITE,
    st.floats(),
    TEXT,
    st.just([]),
    st.just({}),
    st.just(""),
    NESTED,
    st.builds(lambda depth: _deep_list(depth), st.integers(20, 60)),
)


def _deep_list(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


@st.composite
def mutated(draw, base: str) -> tuple[dict, str]:
    """A protocol with one hostile change, and a description of it."""
    data = copy.deepcopy(BASES[base])
    kind = draw(st.sampled_from(["replace", "replace", "remove", "add"]))
    if kind == "add":
        where = draw(st.sampled_from(_containers(data)))
        key = draw(TEXT.filter(lambda k: k not in _get(data, where)))
        _get(data, where)[key] = draw(HOSTILE)
        return data, f"add {(*where, key)}"
    path = draw(st.sampled_from(_paths(data)))
    parent = _get(data, path[:-1])
    if kind == "remove":
        del parent[path[-1]]
    else:
        parent[path[-1]] = draw(HOSTILE)
    return data, f"{kind} {path}"


def _write(data: dict, folder: Path) -> Path:
    path = folder / "protocol.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


@pytest.mark.parametrize("base", ["valid", "small"])
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_a_mutated_protocol_is_valid_or_a_clear_error(base, data):
    protocol, change = data.draw(mutated(base), label="mutation")
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(protocol, Path(tmp))
        result = invoke("validate", path)
    assert_clean(result, path, codes=(2,))
    if result.exit_code == 2:
        assert "is invalid" in result.output or "eligible" in result.output, change


NUMERIC_LEAVES = [
    ("design", "sample_size"),
    ("design", "alpha"),
    ("design", "accrual", "patients_per_month"),
    ("simulation", "n_sims"),
    ("simulation", "seed"),
    ("simulation", "chunk_size"),
    ("endpoints", "primary", "horizon_days"),
    ("arms", 0, "allocation"),
]


@settings(max_examples=40, deadline=None)
@given(
    path=st.sampled_from(NUMERIC_LEAVES),
    value=st.one_of(
        NON_FINITE,
        TEXT.filter(lambda t: t.strip() != ""),
        st.just([]),
        st.just({}),
        NESTED.filter(lambda v: not isinstance(v, int | type(None))),
    ),
)
def test_a_number_of_the_wrong_kind_is_always_an_error(path, value):
    protocol = copy.deepcopy(BASES["valid"])
    _get(protocol, path[:-1])[path[-1]] = value
    with tempfile.TemporaryDirectory() as tmp:
        file = _write(protocol, Path(tmp))
        result = invoke("validate", file)
    assert_clean(result, file, codes=(2,))
    assert result.exit_code == 2
    shown = ".".join(str(p) for p in path if not isinstance(p, int))
    assert shown.split(".")[-1] in result.output


REQUIRED = [("name",), ("population",), ("arms",), ("endpoints",), ("design",),
            ("design", "sample_size"), ("design", "alpha"), ("endpoints", "primary"),
            ("arms", 0, "name"), ("endpoints", "primary", "type")]  # fmt: skip


@pytest.mark.parametrize("path", REQUIRED, ids=lambda p: ".".join(map(str, p)))
def test_a_missing_required_field_is_named(path, tmp_path):
    protocol = copy.deepcopy(BASES["valid"])
    del _get(protocol, path[:-1])[path[-1]]
    file = _write(protocol, tmp_path)
    result = invoke("validate", file)
    assert_clean(result, file, codes=(2,))
    assert result.exit_code == 2
    assert str(path[-1]) in result.output


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_a_mutated_protocol_runs_or_fails_cleanly(data):
    protocol, change = data.draw(mutated("small"), label="mutation")
    with tempfile.TemporaryDirectory() as tmp:
        path = _write(protocol, Path(tmp))
        out = Path(tmp) / "run"
        result = invoke("run", path, "--n-sims", 2, "--jobs", 1, "--out", out, "--json")
        assert_clean(result, path)
        if result.exit_code != 0:
            assert not (out / "trials.parquet").exists(), change


# --------------------------------------------------------------------------- from the schema itself

LEAVES = schema_leaves(Protocol)
ACCEPTED = schema_leaves(Protocol, valid=True)  # values each field accepts: they reach the engine
RUNNABLE = st.one_of(
    schema_protocol(BASES["small"], ACCEPTED),
    schema_protocol(BASES["small"], ACCEPTED),
    schema_protocol(BASES["small"], ACCEPTED),
    schema_protocol(BASES["small"], LEAVES),
)
SCHEMA_TIME_LIMIT = 60  # seconds: a hang is anything slower
# every rejection names where the problem is: a field path, or the option
_NAMED = re.compile(
    r"(^|\s)(name|title|population|arms|endpoints|design|simulation|scenarios|grid)\b"
    r"|--[a-z]",
    re.MULTILINE,
)


def test_every_numeric_field_declares_explicit_bounds():
    """A new numeric field must say how small and how large it may be (protocol.limits)."""
    numeric = [leaf for leaf in LEAVES if leaf.kind == "number"]
    unbounded = [render(leaf.path) for leaf in numeric if leaf.bounds is None]
    assert unbounded == [], f"numeric fields without explicit bounds: {unbounded}"
    assert len(numeric) >= 15  # the walk does reach the numbers (sample_size, alpha, looks ...)
    effect_numbers = [
        leaf
        for model in ("RiskRatio", "Il6Mediated", "Pkpd")
        for leaf in schema_leaves(getattr(cstrial.protocol, model))
        if leaf.kind == "number"
    ]
    assert effect_numbers and all(leaf.bounds is not None for leaf in effect_numbers)
    ranges = schema_leaves(cstrial.protocol.Range)
    assert ranges and all(leaf.bounds is not None for leaf in ranges)


def assert_handled(result, path: Path, change, codes=(0, 2)) -> None:
    """Exit 0 or 2, no traceback, a message naming the field, nothing raw on the terminal."""
    crash = result.exception if not isinstance(result.exception, SystemExit) else None
    assert crash is None, f"{change}: unhandled {type(crash).__name__}: {crash}"
    assert "Traceback" not in result.output, change
    assert result.exit_code in codes, f"{change}: exit {result.exit_code}\n{result.output}"
    assert "\x1b" not in result.output, f"{change}: a raw escape reached the terminal"
    assert not re.search("[\ud800-\udfff]", result.output), f"{change}: a lone surrogate"
    if result.exit_code == 2:
        assert _NAMED.search(result.output), f"{change}: no field named in\n{result.output}"
        for line in result.output.splitlines():
            if line.startswith("  • ") and not line.startswith("  • is "):  # where, then what
                assert re.match(r"  • (line \d+, )?\S+: ", line), f"{change}: {line}"


def _write_any(data: dict, folder: Path) -> Path:
    path = folder / "protocol.yaml"
    text = yaml.safe_dump(data, allow_unicode=False, sort_keys=False)  # surrogates as escapes
    path.write_text(text, encoding="utf-8")
    return path


def _check_validate(data, changes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = _write_any(data, Path(tmp))
        result = invoke("validate", path, seconds=SCHEMA_TIME_LIMIT)
    assert_handled(result, path, changes)


def _check_run(data, changes) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = _write_any(data, Path(tmp))
        out = Path(tmp) / "run"
        result = invoke(
            "run", path, "--n-sims", 20, "--jobs", 1, "--out", out, "--json",
            seconds=SCHEMA_TIME_LIMIT,
        )  # fmt: skip
        assert_handled(result, path, changes)
        if result.exit_code != 0:
            assert not (out / "trials.parquet").exists(), changes
            return
    # a run that succeeds has numbers: no NaN or inf power, a trial of some patients
    text = result.output[result.output.index("{") :]
    for row in json.loads(text)["summary"]:
        assert row["power"] is not None and 0 <= row["power"] <= 1, (changes, row)
        assert row["expected_n"] is not None and row["expected_n"] > 0, (changes, row)


SCHEMA_SETTINGS = {
    "deadline": None,
    # each example is a CLI call of up to seconds: report the example found, do not shrink it
    "phases": [Phase.explicit, Phase.reuse, Phase.generate],
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}


@settings(max_examples=25, **SCHEMA_SETTINGS)
@given(drawn=schema_protocol(BASES["small"], LEAVES))
def test_a_protocol_drawn_from_the_schema_validates_or_names_the_field(drawn):
    _check_validate(*drawn)


@pytest.mark.slow
@settings(max_examples=1000, **SCHEMA_SETTINGS)
@given(drawn=schema_protocol(BASES["small"], LEAVES))
def test_a_thousand_protocols_drawn_from_the_schema_validate_or_name_the_field(drawn):
    _check_validate(*drawn)


@settings(max_examples=4, **SCHEMA_SETTINGS)
@given(drawn=RUNNABLE)
def test_a_protocol_drawn_from_the_schema_runs_or_is_refused(drawn):
    _check_run(*drawn)


@pytest.mark.slow
@settings(max_examples=200, **SCHEMA_SETTINGS)
@given(drawn=RUNNABLE)
def test_two_hundred_protocols_drawn_from_the_schema_run_or_are_refused(drawn):
    _check_run(*drawn)


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"simulation.seed": 2**1100}, "simulation.seed"),
        ({"design.sample_size": 2**1100}, "design.sample_size"),
        ({"arms.0.allocation": 2**64}, "arms[0].allocation"),
        ({"arms.0.allocation": 10**9}, "arms[0].allocation"),
        ({"title": "ab\ud800cd"}, "title"),
        ({"design.alpha": 1e-300}, "design.alpha"),
        ({"design.power": 1e-300}, "design.power"),
        ({"design.dropout.rate_per_year": 1e308}, "design.dropout.rate_per_year"),
        ({"design.accrual.ramp_up_months": 1e308}, "design.accrual.ramp_up_months"),
        ({"design.accrual.patients_per_month": 5e-324}, "design.accrual.patients_per_month"),
        ({"design.accrual.patients_per_month": 0.05}, "design.accrual.patients_per_month"),
        ({"endpoints.primary.horizon_days": 5e-324}, "endpoints.primary.horizon_days"),
        (
            {"design.efficacy": {"spending": "hwang-shih-decani", "parameter": -1000}},
            "design.efficacy.parameter",
        ),
        ({"design.looks": [0.999999999, 1.0]}, "design.looks"),
        ({"design.looks": [0.005, 1.0]}, "design.looks"),
        # a first look at 3 of 100 patients: fewer than 2 per arm
        ({"design.looks": [0.03, 1.0], "design.sample_size": 100}, "design.looks"),
        ({"name": "a" * 300}, "name"),
        ({"simulation.chunk_size": 10**250}, "simulation.chunk_size"),
        (
            {
                "simulation.chunk_size": 100_000,
                "simulation.n_sims": 100_000,
                "design.sample_size": 1000,
            },
            "simulation.chunk_size",
        ),
        ({"population.inclusion": {"age": {"min": 200}}}, "population.inclusion"),
        ({"population.inclusion": {"age": {"min": 1e300}}}, "population.inclusion.age.min"),
    ],
)
def test_each_hostile_value_found_is_refused_by_validate_naming_the_field(
    overrides, field, write_protocol
):
    path = write_protocol(overrides)
    result = invoke("validate", path, seconds=SCHEMA_TIME_LIMIT)
    assert_handled(result, path, overrides, codes=(2,))
    assert field in result.output


def test_escape_sequences_in_an_unknown_key_are_shown_escaped(write_protocol):
    path = write_protocol({"design.\x1b[31mred\x1b[0m": 1, "arms.0.\u202ename": 2})
    result = invoke("validate", path)
    assert_handled(result, path, "escapes", codes=(2,))
    assert "design.\\x1b[31mred\\x1b[0m: unknown field" in result.output
    assert "\\u202e" in result.output


def test_a_protocol_whose_arms_cannot_differ_warns_that_power_is_the_type_one_error(
    write_protocol,
):
    path = write_protocol({"arms.1.effect.value": 1.0})
    result = invoke("validate", path)
    assert result.exit_code == 0
    assert "warning: no active arm differs from the control arm" in result.output
    assert "power is the type I error" in result.output


# --------------------------------------------------------------------------- hostile YAML text

SMALL = (ASSETS / "small.yaml").read_text()


def _laughs(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels + 1):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + f"\nname: *a{levels}\n"


def _merge_bomb(levels: int = 40) -> str:
    lines = ["m0: &m0 {k: 1}"]
    for i in range(1, levels + 1):
        lines.append(f"m{i}: &m{i} {{<<: [*m{i - 1}, *m{i - 1}]}}")
    return "\n".join(lines) + "\n"


HOSTILE_YAML = {
    # name: (text, a phrase the error must hold)
    "billion-laughs": (_laughs(), "invalid"),
    "merge-key-bomb": (_merge_bomb(), "invalid"),
    "deeply-nested-list": (SMALL + "title: " + "[" * 5000 + "]" * 5000 + "\n", "invalid"),
    "deeply-nested-map": (
        SMALL + "".join("  " * i + f"k{i}:\n" for i in range(600)) + "  " * 600 + "x: 1\n",
        "invalid",
    ),
    "nested-scenario-value": (
        SMALL.replace(
            "{arms.active.effect.value: 1.0}",
            "{arms.active.effect.value: " + "[" * 900 + "]" * 900 + "}",
        ),
        "invalid",
    ),
    "nul-character": (SMALL.replace("name: small", "name: sm\x00all"), "invalid"),
    "integer-of-5000-digits": (
        SMALL.replace("sample_size: 400", "sample_size: " + "9" * 5000),
        "sample_size",
    ),
    "huge-file": (SMALL + "# " + "x" * 2_000_000 + "\n", "invalid"),
    "python-object-tag": (
        "name: !!python/object/apply:os.system ['echo pwned']\n",
        "python/object",
    ),
    "python-name-tag": (
        SMALL.replace("name: small", "name: !!python/name:os.system"),
        "python/name",
    ),
    "alias-cycle": ("a: &x [*x]\n", "cycle"),
    "binary-junk": (b"\x00\x01\x02\xff\xfe\x80 junk", "UTF-8"),
    "empty-file": ("", "empty"),
    "only-comments": ("# nothing here\n", "empty"),
    "two-documents": (SMALL + "---\n" + SMALL, "one document"),
    "tab-indentation": (SMALL.replace("  model: default", "\tmodel: default"), "tabs"),
    "top-level-list": ("- name: small\n", "mapping"),
    "top-level-scalar": ("just text\n", "mapping"),
    "non-text-keys": (SMALL + "? [a, b]\n: 1\n1: 2\nnull: 3\n", "keys must be text"),
    "unicode-key": (SMALL + "nämé😀\u202e: 1\n", "unknown field"),
    "float-overflow": (SMALL.replace("alpha: 0.025", "alpha: 1.0e999"), "alpha"),
    "yaml-date": (SMALL.replace("alpha: 0.025", "alpha: 2024-01-01"), "alpha"),
    "binary-tag": (SMALL.replace("name: small", "name: !!binary aGVsbG8="), "name"),
    "set-tag": (SMALL.replace("name: small", "name: !!set {a, b}"), "name"),
}


@pytest.mark.parametrize(
    "name",
    [name for name in HOSTILE_YAML],
)
def test_hostile_yaml_is_a_clear_error_in_seconds(name, tmp_path):
    text, phrase = HOSTILE_YAML[name]
    path = tmp_path / "protocol.yaml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    result = invoke("validate", path, seconds=5)
    assert_clean(result, path, codes=(2,))
    assert result.exit_code == 2
    assert phrase in result.output


def test_yaml_is_only_loaded_safely():
    """No python/* tag is ever constructed, whatever loader a module uses."""
    sources = Path(cstrial.__file__).parent.rglob("*.py")
    unsafe = (
        "yaml.load(",
        "yaml.unsafe_load",
        "yaml.full_load",
        "yaml.Loader",
        "UnsafeLoader",
        "FullLoader",
    )
    for source in sources:
        text = source.read_text()
        for call in unsafe:
            assert call not in text, f"{source.name} uses {call}"


# --------------------------------------------------------------------------- run guards


@pytest.mark.parametrize(
    ("overrides", "options", "phrase"),
    [
        ({"design.sample_size": 10**9}, ("--n-sims", 1), "design.sample_size: must be a whole"),
        ({"design.sample_size": 10**100}, ("--n-sims", 1), "design.sample_size: must be a whole"),
        (
            {"design.sample_size": 900_000, "simulation.chunk_size": 100},
            ("--n-sims", 1000),
            "simulation.chunk_size: a chunk of 100 trials of 900,000 patients holds 90,000,000",
        ),
        # the protocol's chunk fits, but --n-sims does not shrink it: refused before any work
        (
            {
                "design.sample_size": 900_000,
                "design.accrual.patients_per_month": 10_000,
                "simulation.chunk_size": 30,
                "simulation.n_sims": 5,
            },
            ("--n-sims", 1000),
            "Lower simulation.chunk_size",
        ),
        (
            {"simulation.chunk_size": 10**9, "design.sample_size": 100_000},
            ("--n-sims", 10**6),
            "chunk",
        ),
        ({"simulation.n_sims": 10**18}, (), "simulation.n_sims: must be a whole number"),
        ({}, ("--n-sims", 10**9), "--n-sims must be between"),
        ({}, ("--n-sims", 0), "--n-sims must be between"),
        ({}, ("--seed", -1), "--seed"),
        ({}, ("--seed", 10**23), "--seed must be a whole number from 0 to"),
    ],
)
def test_a_run_too_large_or_impossible_is_a_clear_error(
    overrides, options, phrase, write_protocol, tmp_path
):
    protocol = write_protocol(overrides)
    result = invoke("run", protocol, *options, "--jobs", 1, "--out", tmp_path / "run")
    assert_clean(result)
    assert result.exit_code == 2, result.output  # invalid input, refused before any work
    assert phrase in result.output
    assert not (tmp_path / "run" / "trials.parquet").exists()


# --------------------------------------------------------------------------- unwritable out, full disk


def _leftovers(folder: Path) -> list[str]:
    """Files that look whole, or temporaries, anywhere under `folder`."""
    if not folder.exists():
        return []
    names = ("trials.parquet", "summary.parquet", "patients.parquet", "manifest.json")
    return sorted(
        str(p.relative_to(folder))
        for p in folder.rglob("*")
        if p.name in names or ".tmp-" in p.name
    )


def test_an_out_inside_a_file_is_a_clear_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = invoke(
        "run", ASSETS / "small.yaml", "--n-sims", 5, "--jobs", 1, "--out", blocker / "run"
    )
    assert_clean(result)
    assert result.exit_code == 1
    assert "cannot write results to" in result.output and str(blocker / "run") in result.output


def _full_disk(monkeypatch, pattern: str) -> None:
    """Every write of a file whose name contains `pattern` fails as on a full disk."""
    real_writer = pq.ParquetWriter
    real_write_text = Path.write_text
    real_write_bytes = Path.write_bytes

    class FullDiskWriter(real_writer):
        def write_table(self, table, *args, **kwargs):
            if pattern in self._cstrial_where:
                raise OSError(errno.ENOSPC, "No space left on device")
            return super().write_table(table, *args, **kwargs)

        def __init__(self, where, *args, **kwargs):
            self._cstrial_where = str(where)
            super().__init__(where, *args, **kwargs)

    def write_text(self, *args, **kwargs):
        if pattern in self.name:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write_text(self, *args, **kwargs)

    def write_bytes(self, *args, **kwargs):
        if pattern in self.name:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write_bytes(self, *args, **kwargs)

    monkeypatch.setattr(pq, "ParquetWriter", FullDiskWriter)
    monkeypatch.setattr(Path, "write_text", write_text)
    monkeypatch.setattr(Path, "write_bytes", write_bytes)


@pytest.mark.parametrize(
    "failing",
    ["s0-c1.parquet", "s0-c0.json", "trials.parquet", "summary.parquet", "manifest.json"],
)
def test_a_full_disk_is_a_clear_error_leaving_nothing_half_written(
    failing, write_protocol, tmp_path, monkeypatch
):
    protocol = write_protocol({"simulation.chunk_size": 50, "design.sample_size": 100})
    out = tmp_path / "run"
    _full_disk(monkeypatch, failing)
    with pytest.raises(
        CstrialError, match=r"cannot write .*No space left on device\. Free some disk space"
    ):
        run(protocol, n_sims=100, jobs=1, out=out)
    assert _leftovers(out) == []
    monkeypatch.undo()
    # the chunks finished before the disk filled are kept: --resume completes the run
    resumed = run(protocol, n_sims=100, jobs=1, out=out, resume=True)
    straight = run(protocol, n_sims=100, jobs=1, out=tmp_path / "straight")
    assert (resumed.out / "trials.parquet").read_bytes() == (
        straight.out / "trials.parquet"
    ).read_bytes()


def test_a_full_disk_through_the_cli_names_the_path(write_protocol, tmp_path, monkeypatch):
    protocol = write_protocol({"simulation.chunk_size": 50, "design.sample_size": 100})
    _full_disk(monkeypatch, "trials.parquet")
    result = invoke("run", protocol, "--n-sims", 100, "--jobs", 1, "--out", tmp_path / "run")
    assert_clean(result)
    assert result.exit_code == 1
    assert (
        # written in the run's staging folder, committed whole (docs/run-folder.md)
        f"cannot write {tmp_path / 'run' / '.cstrial-new' / 'trials.parquet'}: No space left"
        in result.output
    )
    assert _leftovers(tmp_path / "run") == []


def test_an_unsupported_feature_is_refused_naming_the_field_and_what_is_supported():
    """A first user's protocol asking for response-adaptive randomisation (first-hours review)."""
    path = ASSETS / "unsupported" / "response-adaptive.yaml"
    result = invoke("validate", path)
    assert_handled(result, path, "allocation: adaptive", codes=(2,))
    assert "arms[1].allocation: must be a whole number ≥ 1 and ≤ 100" in result.output
    assert "response-adaptive allocation is not available" in result.output


@pytest.mark.parametrize(
    ("grid", "phrase"),
    [
        (
            {"design.sample_size": list(range(100, 600)), "design.alpha": [0.01, 0.02, 0.025]},
            "grid: has 500 × 3 = 1500 points, more than 1000",
        ),
        (
            {"design.sample_size": list(range(100, 10_100)), "design.alpha": [0.01, 0.025]},
            "= 20000 points, more than 1000",
        ),
        (
            {"population.inclusion.il6_pg_ml": [{"min": m} for m in range(0, 200, 2)]},
            "the scenarios have 101 different populations",
        ),
    ],
)
def test_a_grid_too_large_to_compute_is_refused_in_seconds(grid, phrase, write_protocol):
    path = write_protocol({"grid": grid})
    result = invoke("validate", path, seconds=30)
    assert_handled(result, path, "grid", codes=(2,))
    assert phrase in result.output
