"""Plain sentences for protocol problems: how values are shown, suggestions, bounds.

Every message a user reads about a bad protocol is worded here or beside the
rule it reports, never by pydantic: "must be ..., found ...", with a
did-you-mean when a name is close to a valid one.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from typing import Any

_MAX_SHOWN = 60


def show(value: Any) -> str:
    """Show a value the way it would be written in YAML (true, null, nan, 'text')."""
    text = _show(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 3] + "..."


def _show(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # nan, inf, -inf
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, Mapping):
        inner = ", ".join(f"{_key(k)}: {_show(v)}" for k, v in value.items())
        return "{" + inner + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    return str(value)


def _key(key: Any) -> str:
    return key if isinstance(key, str) else _show(key)


def did_you_mean(word: Any, options: Iterable[str]) -> str:
    """'; did you mean 'x'?' for the option closest to `word`, or '' if none is close.

    Case is ignored ('ami' finds 'AMI') and a prefix or part of a name counts
    ('il6' finds 'il6_pg_ml'), which plain edit distance would miss.
    """
    if not isinstance(word, str) or not word:
        return ""
    by_lower = {option.lower(): option for option in options}
    close = difflib.get_close_matches(word.lower(), list(by_lower), n=1, cutoff=0.6)
    if not close and len(word) >= 3:
        close = [o for o in by_lower if word.lower() in o or o in word.lower()][:1]
    return f"; did you mean {by_lower[close[0]]!r}?" if close else ""


def listing(options: Iterable[Any]) -> str:
    """Options as a comma-separated list, as a user would type them."""
    return ", ".join(o if isinstance(o, str) else show(o) for o in options)


def unknown_name(what: str, word: Any, options: Iterable[str]) -> str:
    """'unknown <what> 'x'; did you mean 'y'? (valid: a, b, c)'."""
    options = list(options)
    return f"unknown {what} {show(word)}{did_you_mean(word, options)} (valid: {listing(options)})"


def unknown_field(word: Any, allowed: Iterable[str]) -> str:
    """The message for a key the schema does not have at this place."""
    allowed = list(allowed)
    message = (
        f"unknown field {show(word)}{did_you_mean(word, allowed)} (allowed: {listing(allowed)})"
    )
    hint = next((h for part, h in _ELSEWHERE if isinstance(word, str) and part in word), "")
    return f"{message}; {hint}" if hint else message


# Words of keys written for a feature that lives under another field: where it lives.
_BAYESIAN = (
    "posterior-probability rules are written under design.decision: {type: bayesian, "
    "prior: {beta: [1, 1]}, efficacy: {probability: 0.99}} (docs/bayesian.md)"
)
_ELSEWHERE = (("posterior", _BAYESIAN), ("bayes", _BAYESIAN))


def bounds_phrase(
    *,
    gt: float | None = None,
    ge: float | None = None,
    lt: float | None = None,
    le: float | None = None,
) -> str:
    """Describe an interval in words: 'strictly between 0 and 0.5', '> 0 and ≤ 30', '≥ 1'."""
    if gt is not None and lt is not None:
        return f"strictly between {_number(gt)} and {_number(lt)}"
    if ge is not None and le is not None:
        return f"between {_number(ge)} and {_number(le)}"
    low = f"> {_number(gt)}" if gt is not None else f"≥ {_number(ge)}" if ge is not None else ""
    high = f"< {_number(lt)}" if lt is not None else f"≤ {_number(le)}" if le is not None else ""
    return " and ".join(part for part in (low, high) if part)


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else repr(float(x))


def text_hint(value: Any) -> str:
    """A hint when a number was given as text, e.g. '600' in quotes or YAML's 1e-3."""
    if not isinstance(value, str):
        return ""
    try:
        float(value)
    except ValueError:
        return ""
    if "e" in value.lower() and "." not in value:
        return f" (YAML reads {value} as text: write it with a decimal point, e.g. 1.0e-3)"
    return " (this is text: remove the quotes)"


def found(value: Any) -> str:
    """', found <value>' with a hint when the value is a number written as text."""
    return f", found {show(value)}{text_hint(value)}"


# Pydantic error types that cstrial's own validators do not pre-empt, in plain words.
_STRUCTURE = {
    "missing": "required field missing",
    "model_type": "must be a mapping of fields (key: value)",
    "model_attributes_type": "must be a mapping of fields (key: value)",
    "dict_type": "must be a mapping (key: value)",
    "list_type": "must be a list, such as [a, b]",
    "tuple_type": "must be a list, such as [a, b]",
    "string_type": "must be text",
    "bool_type": "must be true or false",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "int_parsing": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
}


def translate(error: Mapping[str, Any]) -> str:
    """Turn one pydantic error (from `ValidationError.errors()`) into a plain sentence."""
    kind = error["type"]
    ctx = error.get("ctx") or {}
    if kind == "cstrial":
        return ctx["message"]
    if kind == "missing":
        return _STRUCTURE[kind]
    if kind in _STRUCTURE:
        return _STRUCTURE[kind] + found(error.get("input"))
    if kind == "extra_forbidden":
        return f"unknown field {show(error['loc'][-1]) if error['loc'] else ''}".strip()
    if kind == "literal_error":
        return f"must be one of {ctx.get('expected', '')}" + found(error.get("input"))
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        keys = {"greater_than": "gt", "greater_than_equal": "ge"}
        keys |= {"less_than": "lt", "less_than_equal": "le"}
        bound = {keys[kind]: float(ctx[keys[kind]])}
        return f"must be {bounds_phrase(**bound)}" + found(error.get("input"))
    if kind == "too_short":
        return f"needs at least {ctx.get('min_length')} item(s)" + found(error.get("input"))
    if kind == "too_long":
        return f"allows at most {ctx.get('max_length')} item(s)" + found(error.get("input"))
    message = str(error.get("msg", "is invalid")).replace("Input should be", "must be", 1)
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    return message + found(error.get("input"))


def render_path(loc: Iterable[str | int]) -> str:
    """A location as a user reads it: ('arms', 1, 'allocation') → 'arms[1].allocation'."""
    text = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in loc)
    return text.removeprefix(".")
