"""The rules of the execution input's fields, each as Python and as a Step Functions Choice condition.

pipeline/contract/execution_input.py puts them together into fields; execution_input_asl.py renders
their conditions. A rule's text is a format string (`{input}`, `{runs}`: the allowed prefixes).
"""

from __future__ import annotations

from dataclasses import dataclass
from math import isfinite
from typing import Any, Callable

RUNS_PREFIX = "runs/"
LIST_SEPARATOR = ","
CONTROL_CHARACTERS = "".join(map(chr, [*range(0x20), *range(0x7F, 0xA0)]))
BIDI_CONTROLS = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
GLOB_CHARACTERS = "*?[]{}"
"""Hadoop's glob characters: in a path, `runs/*/` could reach other runs."""


@dataclass(frozen=True)
class Places:
    """The buckets paths must stay in: real names, CloudFormation placeholders or the docs' names."""

    input_bucket: str
    results_bucket: str

    def root(self, name: str) -> str:
        return {"input": f"s3://{self.input_bucket}/", "runs": f"s3://{self.results_bucket}/{RUNS_PREFIX}"}[name]


@dataclass(frozen=True)
class Rule:
    """One rule, as Python (`broken`) and as an ASL Choice condition true when it is broken.

    `derived`: the condition is on this intrinsic of the value's path (its text form, its
    pieces...), computed by a Pass after every other rule. No `condition`: the client checks
    it, the state machine cannot (a length).
    """

    name: str
    text: str  # after "<field>: "; `{input}` and `{runs}` stand for the allowed prefixes
    broken: Callable[[Any, Places], bool]
    condition: Callable[[str, Places], dict] | None
    derived: Callable[[str], str] | None = None

    def message(self, places: Places) -> str:
        return self.text.format(input=places.root("input"), runs=places.root("runs"))

    @property
    def in_state_machine(self) -> bool:
        return self.condition is not None


def _matches(pattern: str) -> Callable[[str, Places], dict]:
    return lambda variable, _places: {"Variable": variable, "StringMatches": pattern}


def _literal(text: str) -> str:
    """`text` inside a StringMatches pattern (only `*` and `\\` are special there)."""
    return text.replace("\\", "\\\\").replace("*", "\\*")


def string() -> Rule:
    return Rule(
        "String",
        "must be a string",
        lambda value, _: not isinstance(value, str),
        lambda variable, _: {"Not": {"Variable": variable, "IsString": True}},
    )


def number() -> Rule:
    return Rule(
        "Number",
        "must be a number",
        lambda value, _: isinstance(value, bool) or not isinstance(value, (int, float)),
        lambda variable, _: {"Not": {"Variable": variable, "IsNumeric": True}},
    )


def not_empty() -> Rule:
    return Rule(
        "Empty",
        "must not be empty",
        lambda value, _: value == "",
        lambda variable, _: {"Variable": variable, "StringEquals": ""},
    )


def one_of(values: tuple[str, ...]) -> Rule:
    return Rule(
        "Choice",
        f"must be one of {', '.join(values)}",
        lambda value, _: value not in values,
        lambda variable, _: {"Not": {"Or": [{"Variable": variable, "StringEquals": v} for v in values]}},
    )


def not_starting_with(characters: str) -> Rule:
    return Rule(
        "Start",
        f"must not start with {' or '.join(repr(c) for c in characters)}",
        lambda value, _: value.startswith(tuple(characters)),
        lambda variable, _: {"Or": [{"Variable": variable, "StringMatches": f"{_literal(c)}*"} for c in characters]},
    )


def without(part: str, name: str) -> Rule:
    return Rule(
        name,
        f"must not contain {part!r}",
        lambda value, _: part in value,
        _matches(f"*{_literal(part)}*"),
    )


def under(root: str) -> Rule:
    """Inside `Places.root(root)`, the bucket's trailing slash included."""
    return Rule(
        "Place",
        f"must be under {{{root}}}",
        lambda value, places: not value.startswith(places.root(root)),
        lambda variable, places: {"Not": {"Variable": variable, "StringMatches": _literal(places.root(root)) + "*"}},
    )


def no_empty_folder() -> Rule:
    """`s3://b/runs//x/`: S3 would take the empty folder name literally, Hadoop would drop it."""
    return Rule(
        "EmptyFolder",
        "must not contain '//' after s3://",
        lambda value, _: value.startswith("s3://") and "//" in value[len("s3://") :],
        _matches("s3://*//*"),
    )


def between(low: float, high: float, *, low_open: bool = False) -> Rule:
    low_text = f"greater than {low}" if low_open else f"at least {low}"
    return Rule(
        "Range",
        f"must be {low_text} and at most {high}",
        lambda value, _: (value <= low if low_open else value < low) or value > high,
        lambda variable, _: {
            "Or": [
                {"Variable": variable, ("NumericLessThanEquals" if low_open else "NumericLessThan"): low},
                {"Variable": variable, "NumericGreaterThan": high},
            ]
        },
    )


def whole_number() -> Rule:
    """JSON has one number type: 224.0 arrives as a float, rendered with a '.' by Step Functions too."""
    return Rule(
        "Whole",
        "must be a whole number",
        lambda value, _: isinstance(value, float),
        _matches("*.*"),
        derived=lambda path: f"States.Format('{{}}', {path})",
    )


def finite() -> Rule:
    """NaN fails every comparison (a range check lets it through) and is no JSON: the client's to refuse."""
    return Rule("Finite", "must be a finite number", lambda value, _: not isfinite(value), None)


def at_most(limit: int) -> Rule:
    return Rule("Length", f"must be at most {limit} characters", lambda value, _: len(value) > limit, None)


def at_most_items(limit: int) -> Rule:
    return Rule(
        "Items",
        f"must name at most {limit} prefixes",
        lambda value, _: len([item for item in value.split(LIST_SEPARATOR) if item]) > limit,
        None,
    )


def only(characters: str, description: str) -> Rule:
    """Only `characters`: splitting on all of them (States.StringSplit takes each character of its
    second argument as a separator and drops empty pieces) must leave nothing."""
    assert not set(characters) & set("'{}\\"), "characters that need escaping in an intrinsic"
    return Rule(
        "Characters",
        f"must contain only {description}",
        lambda value, _: not set(value) <= set(characters),
        lambda variable, _: {"Variable": variable, "NumericGreaterThan": 0},
        derived=lambda path: f"States.ArrayLength(States.StringSplit({path}, '{characters}'))",
    )


def without_any(characters: str, description: str) -> Rule:
    """None of `characters`: one StringMatches per character (only `*` and `\\` are special there)."""
    return Rule(
        "Characters",
        f"must not contain {description}",
        lambda value, _: any(c in value for c in characters),
        lambda variable, _: {"Or": [{"Variable": variable, "StringMatches": f"*{_literal(c)}*"} for c in characters]},
    )


def plain_path() -> Rule:
    globs = " ".join(GLOB_CHARACTERS).replace("{", "{{").replace("}", "}}")  # rule texts are format strings
    return without_any(
        CONTROL_CHARACTERS + BIDI_CONTROLS + GLOB_CHARACTERS, f"control characters, bidi controls or any of {globs}"
    )
