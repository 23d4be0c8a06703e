"""The execution-input contract (pipeline/contract/execution_input.py) rendered as Step Functions states.

The states check an execution's input before anything starts, in the very order of
`execution_input.validate`, so that a client and the state machine refuse the same
input with the same message. JSONPath only (Choice rules, intrinsic functions): no
Lambda, no cost, and runnable by moto in the tests.
"""

from __future__ import annotations

from pipeline.contract.execution_input import (
    ARGUMENT_ORDER,
    BY_NAME,
    COMMANDS,
    ERROR,
    FIELD_NAMES,
    FIELDS,
    LIST_SEPARATOR,
    MODEL_FLAG,
    REFUSED_FIELDS,
    Field,
    Places,
    defaults,
    refused_field,
    unknown_field,
)
from pipeline.contract.execution_input_rules import Rule


def _fail(cause: str) -> dict:
    return {"Type": "Fail", "Error": ERROR, "Cause": cause}


def _present(variable: str) -> dict:
    return {"Variable": variable, "IsPresent": True}


def _given(name: str) -> dict:
    return _present(f"$.given.{name}")


def _command_is(command: str) -> dict:
    return {"Variable": "$.args.command", "StringEquals": command}


def _and(*conditions: dict) -> dict:
    return conditions[0] if len(conditions) == 1 else {"And": list(conditions)}


class _Refusals:
    """Choice rules, each leading to its own Fail state, in the order of `_problems`."""

    def __init__(self) -> None:
        self.states: dict[str, dict] = {}

    def choice(self, name: str, condition: dict, cause: str) -> dict:
        state = f"Refuse{name}"
        assert state not in self.states, state
        self.states[state] = _fail(cause)
        return {**condition, "Next": state}


def _derived_key(field: Field, rule: Rule) -> str:
    return f"{field.name}{rule.name}"


def _field_choices(fields: list[Field], refusals: _Refusals, places: Places, *, derived: bool) -> list[dict]:
    choices = []
    for field in fields:
        for rule in field.rules:
            if rule.in_state_machine and (rule.derived is not None) is derived:
                variable = f"$.derived.{_derived_key(field, rule)}" if derived else f"$.args.{field.name}"
                condition = rule.condition(variable, places)
                choices.append(refusals.choice(f"{field.state_name}{rule.name}", condition, field.broken(rule, places)))
    return choices


def _optional_field_states(refusals: _Refusals, places: Places, next_state: str) -> tuple[str, dict[str, dict]]:
    """A field that may be absent is compared only once known present: a comparison on a
    missing path is a runtime error in Step Functions, whatever an `And` around it says."""
    states: dict[str, dict] = {}
    for field in reversed([f for f in FIELDS if f.optional]):
        states[f"Check{field.state_name}"] = {
            "Type": "Choice",
            "Choices": _field_choices([field], refusals, places, derived=False),
            "Default": next_state,
        }
        states[f"Given{field.state_name}"] = {
            "Type": "Choice",
            "Choices": [{**_present(f"$.args.{field.name}"), "Next": f"Check{field.state_name}"}],
            "Default": next_state,
        }
        next_state = f"Given{field.state_name}"
    return next_state, states


def _input_choices(refusals: _Refusals, places: Places) -> list[dict]:
    choices = [
        refusals.choice(f"{name.capitalize()}Field", _given(name), refused_field(name)) for name in REFUSED_FIELDS
    ]
    choices.append(
        refusals.choice(
            "UnknownField",
            {"Not": {"Variable": "$.fields", "StringEqualsPath": "$.known"}},
            unknown_field(),
        )
    )
    command = BY_NAME["command"]
    for rule in command.rules:
        condition = rule.condition("$.args.command", places)
        choices.append(refusals.choice(f"Command{rule.name}", condition, command.broken(rule, places)))
    for field in FIELDS:
        for command in COMMANDS:
            if command not in field.commands:
                choices.append(
                    refusals.choice(
                        f"{field.state_name}For{command.capitalize()}",
                        _and(_given(field.name), _command_is(command)),
                        field.not_for_command(),
                    )
                )
            if command in field.required_for:
                choices.append(
                    refusals.choice(
                        f"Missing{field.state_name}",
                        _and(_command_is(command), {"Not": _given(field.name)}),
                        field.missing(command),
                    )
                )
    present = [f for f in FIELDS[1:] if not f.optional]
    return choices + _field_choices(present, refusals, places, derived=False)


def _list_states(field: Field, refusals: _Refusals, places: Places, next_state: str) -> tuple[str, dict[str, dict]]:
    """Check each item of a comma-separated field, one at a time (StringSplit drops empty items)."""
    name = field.state_name
    cursor = {"items.$": "$.list.items", "count.$": "$.list.count"}
    states = {
        f"Has{name}": {
            "Type": "Choice",
            "Choices": [{**_present(f"$.args.{field.name}"), "Next": f"Split{name}"}],
            "Default": next_state,
        },
        f"Split{name}": {
            "Type": "Pass",
            "Parameters": {"items.$": f"States.StringSplit($.args.{field.name}, '{LIST_SEPARATOR}')", "index": 0},
            "ResultPath": "$.list",
            "Next": f"Count{name}",
        },
        f"Count{name}": {
            "Type": "Pass",
            "Parameters": {"items.$": "$.list.items", "count.$": "States.ArrayLength($.list.items)", "index": 0},
            "ResultPath": "$.list",
            "Next": f"Check{name}Count",
        },
        f"Check{name}Count": {
            "Type": "Choice",
            "Choices": [
                refusals.choice(
                    f"{name}Count",
                    {"Variable": "$.list.count", "NumericEquals": 0},
                    field.no_items(),
                )
            ],
            "Default": f"Next{name}Item",
        },
        f"Next{name}Item": {
            "Type": "Pass",
            "Parameters": {
                **cursor,
                "index.$": "$.list.index",
                "item.$": "States.ArrayGetItem($.list.items, $.list.index)",
            },
            "ResultPath": "$.list",
            "Next": f"Check{name}Item",
        },
        f"Check{name}Item": {
            "Type": "Choice",
            "Choices": [
                refusals.choice(
                    f"{name}Item{rule.name}",
                    rule.condition("$.list.item", places),
                    field.broken_item(rule, places),
                )
                for rule in field.item_rules
                if rule.in_state_machine
            ],
            "Default": f"Count{name}Item",
        },
        f"Count{name}Item": {
            "Type": "Pass",
            "Parameters": {**cursor, "index.$": "States.MathAdd($.list.index, 1)"},
            "ResultPath": "$.list",
            "Next": f"More{name}Items",
        },
        f"More{name}Items": {
            "Type": "Choice",
            "Choices": [{"Variable": "$.list.index", "NumericLessThanPath": "$.list.count", "Next": f"Next{name}Item"}],
            "Default": next_state,
        },
    }
    return f"Has{name}", states


def _argument(name: str, places: Places) -> str:
    if name == MODEL_FLAG:
        return f"States.Format('{MODEL_FLAG}={{}}', $.model)"
    field = BY_NAME[name]
    prefix = "" if field.names_in is None else places.root(field.names_in)
    suffix = "" if field.names_in is None else "/"
    return f"States.Format('{field.flag}={prefix}{{}}{suffix}', $.args.{name})"


def _subsets(names: list[str]) -> list[list[str]]:
    """Every subset of `names`, the larger first: the first whose fields are all present is the one given."""
    subsets = [[n for i, n in enumerate(names) if mask >> i & 1] for mask in range(2 ** len(names))]
    return sorted(subsets, key=len, reverse=True)


def _argument_states(next_state: str, places: Places) -> tuple[str, dict[str, dict]]:
    """One Pass per shape of the argument list: an absent optional field adds no item, never an empty one.

    Each keeps only what later states read: `args`, the job's fields rebuilt one by one (no
    raw input, no ignored field), and `job`, what StartJobRun sends (its result replaces it).
    """
    states: dict[str, dict] = {}
    choices = []
    for command, order in ARGUMENT_ORDER.items():
        optional = [n for n in order if n in BY_NAME and BY_NAME[n].optional and command not in BY_NAME[n].required_for]
        assert len(optional) <= 2, "one Pass per subset of optional fields: keep them few"
        for present in _subsets(optional):
            included = [n for n in order if n not in optional or n in present]
            state = f"{command.capitalize()}Arguments" + "".join(f"With{BY_NAME[n].state_name}" for n in present)
            items = ", ".join([f"'{command}'", *(_argument(n, places) for n in included)])
            states[state] = {
                "Type": "Pass",
                "Parameters": {
                    "args": {"command": command, **{f"{n}.$": f"$.args.{n}" for n in included if n in BY_NAME}},
                    "job": {
                        "arguments.$": f"States.Array({items})",
                        # One idempotency token per execution: a retried StartJobRun never starts a second run.
                        "token.$": "States.UUID()",
                    },
                },
                "Next": next_state,
            }
            condition = _command_is(command)
            if present:
                condition = _and(condition, *(_present(f"$.args.{name}") for name in present))
            choices.append({**condition, "Next": state})
    states["ChooseArguments"] = {"Type": "Choice", "Choices": choices[:-1], "Default": choices[-1]["Next"]}
    return "ChooseArguments", states


# The input with every known field set to 0: equal to `known` unless a field is unknown.
_RESET_KNOWN = "States.JsonMerge($.given, $.known, false)"


def render_states(
    places: Places, *, image_size: int, variance: float, model_uri: str, next_state: str
) -> tuple[str, dict[str, dict]]:
    """(first state, states): check the execution input, then leave `args` and `job` (`arguments`, `token`).

    Every refusal is its own Fail state (error `InvalidExecutionInput`, the cause naming
    the field and the rule), reached before `next_state`: nothing starts. Only JSONPath
    Choice rules and intrinsic functions, no Lambda: the checks cost no compute.
    """
    refusals = _Refusals()
    arguments_start, argument_states = _argument_states(next_state, places)
    after_numbers = arguments_start
    list_states: dict[str, dict] = {}
    for field in reversed(FIELDS):
        if field.item_rules:
            after_numbers, states = _list_states(field, refusals, places, after_numbers)
            list_states.update(states)
    derived_fields = [f for f in FIELDS if any(r.derived for r in f.rules)]
    assert not any(f.optional for f in derived_fields), "an intrinsic needs the field: give such fields a default"
    optional_start, optional_states = _optional_field_states(refusals, places, "DeriveValues")
    states = {
        "ReadInput": {
            "Type": "Pass",
            "Comment": "The execution input beside the defaults and the names of the known fields.",
            "Parameters": {
                "given.$": "$",
                "defaults": {
                    **defaults(places, image_size=image_size, variance=variance),
                    "run_id.$": "$$.Execution.Name",
                },
                "known": {name: 0 for name in FIELD_NAMES},
                "model": model_uri,
            },
            "Next": "MergeDefaults",
        },
        "MergeDefaults": {
            "Type": "Pass",
            "Comment": (
                "args: the input over the defaults. fields equals known unless the input has a field "
                "that is not known (known fields are reset to 0, unknown ones keep their value)."
            ),
            "Parameters": {
                "given.$": "$.given",
                "args.$": "States.JsonMerge($.defaults, $.given, false)",
                "model.$": "$.model",
                "fields.$": f"States.JsonToString(States.JsonMerge($.known, {_RESET_KNOWN}, false))",
                "known.$": "States.JsonToString($.known)",
            },
            "Next": "CheckInput",
        },
        "CheckInput": {
            "Type": "Choice",
            "Choices": _input_choices(refusals, places),
            "Default": optional_start,
        },
        **optional_states,
        "DeriveValues": {
            "Type": "Pass",
            "Comment": "What some rules look at, out of JSONPath's reach: a number's text, a run id's odd characters.",
            "Parameters": {
                "args.$": "$.args",
                "model.$": "$.model",
                "derived": {
                    f"{_derived_key(f, r)}.$": r.derived(f"$.args.{f.name}")
                    for f in derived_fields
                    for r in f.rules
                    if r.derived
                },
            },
            "Next": "CheckDerivedValues",
        },
        "CheckDerivedValues": {
            "Type": "Choice",
            "Choices": _field_choices(derived_fields, refusals, places, derived=True),
            "Default": after_numbers,
        },
        **list_states,
        **argument_states,
        **refusals.states,
    }
    return "ReadInput", states
