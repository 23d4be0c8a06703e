"""The state machine's execution input, written once: its fields, defaults and rules.

Three readers must never disagree about what a run may ask for, so all three come from
here: the CDK app renders the Step Functions states that check an execution's input
before anything starts (`execution_input_asl.render_states`), a client checks the same rules before it
sends (`validate`, `job_arguments`), and the table in docs/aws-runs.md is `markdown_table()`
(a test compares them). Plain Python, no CDK: the job package ships it too.

Paths must stay inside this stack's buckets (each match includes the bucket's
trailing slash, so `s3://<bucket>-evil/` fails), no value may look like a flag, and
every job argument is submitted as `--flag=value`, never as an empty item.

Lengths are the client's to check (JSONPath cannot measure a string): a rule without an
ASL condition is checked by `validate` only, and the state machine keeps its state small
whatever the input instead (execution_input_asl).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Mapping

from pipeline.contract.execution_input_rules import LIST_SEPARATOR as LIST_SEPARATOR
from pipeline.contract.execution_input_rules import RUNS_PREFIX as RUNS_PREFIX
from pipeline.contract.execution_input_rules import (
    Places,
    Rule,
    at_most,
    at_most_items,
    between,
    finite,
    no_empty_folder,
    not_empty,
    not_starting_with,
    number,
    one_of,
    only,
    plain_path,
    string,
    under,
    whole_number,
    without,
)

ERROR = "InvalidExecutionInput"
COMMANDS = ("run", "transform")
IMAGE_SIZE_RANGE = (32, 1024)
"""Pixels per side a run may ask for; pipeline/model/embedder.py takes the job's own range from here."""
DEFAULT_INPUT_PREFIX = "train/"
MODEL_FLAG = "--weights"
"""The job argument naming the deployed model; its value is not the execution's to choose."""
REFUSED_FIELDS = {
    "weights": (
        "is no longer accepted: every run uses the model deployed with the stack "
        "(redeploy with -c weights=FILE to change it)"
    ),
}
UNKNOWN_FIELD = "execution input: a field is not one of {fields}"
MAX_PATH = 1024
"""Characters of a path (S3 keys are at most 1024 bytes)."""
MAX_PREFIXES = 32
"""Prefixes of a comma-separated list."""
MAX_RUN_ID = 80
"""Characters of a run id: an execution name's limit, the default run id being the execution name."""
MAX_COMMENT = 1024
RUN_ID_CHARACTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
"""A run id is a plain ASCII folder name: these characters only (and no leading '.' or '_')."""


def new_run_id(command: str = "run") -> str:
    """A run id when none is given: a UTC timestamp, a transform's prefixed `transform-` so that it
    stands apart from runs in a listing. The job's default and the cloud client's, alike."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    return stamp if command == "run" else f"{command}-{stamp}"


class ExecutionInputError(ValueError):
    """An execution input the state machine refuses; the message names the field and the rule."""


def _prefix_rules(root: str) -> tuple[Rule, ...]:
    return (at_most(MAX_PATH), under(root), no_empty_folder(), without("..", "Dots"), plain_path())


def _folder_name_rules() -> tuple[Rule, ...]:
    """What every run id is: one folder name under runs/, never a way up."""
    return (string(), not_empty(), at_most(MAX_RUN_ID), not_starting_with("-._"), without("..", "Dots"))


def _run_id_rules() -> tuple[Rule, ...]:
    """A run's id: its folder's name under runs/ and its execution's name."""
    return (*_folder_name_rules(), only(RUN_ID_CHARACTERS, "ASCII letters, digits, '-', '_' and '.'"))


def _reuse_rules() -> tuple[Rule, ...]:
    """A run id as a folder name under runs/: without a rule on a derived value, which an optional
    field cannot have (the state machine derives it from the field, absent or not)."""
    return (*_folder_name_rules(), without("/", "Slash"), plain_path())


@dataclass(frozen=True)
class Field:
    name: str
    about: str  # for the docs' table
    default: str  # for the docs' table
    flag: str | None  # the job argument; None: the command itself
    rules: tuple[Rule, ...]
    commands: tuple[str, ...] = COMMANDS  # where the field may be given
    required_for: tuple[str, ...] = ()
    item_rules: tuple[Rule, ...] = ()  # rules of each item of a comma-separated list
    optional: bool = False  # no default: absent unless given (then no job argument either)
    ignored: bool = False  # accepted, checked, never passed on to the job
    names_in: str | None = None  # the value is a folder's name in this `Places` root; the argument, its URI

    @property
    def state_name(self) -> str:
        return "".join(part.capitalize() for part in self.name.split("_"))

    # The refusals, worded once for Python and for the Fail states.
    def broken(self, rule: Rule, places: Places) -> str:
        return f"{self.name}: {rule.message(places)}"

    def broken_item(self, rule: Rule, places: Places) -> str:
        return f"{self.name}: every prefix {rule.message(places)}"

    def no_items(self) -> str:
        return f"{self.name}: must name at least one prefix"

    def not_for_command(self) -> str:
        return f"{self.name}: only with command {' or '.join(self.commands)}"

    def missing(self, command: str) -> str:
        return f"{self.name}: required with command {command}"


FIELDS = (
    Field(
        "command",
        "`run` fits the PCA; `transform` projects new photos with a finished run's model and PCA, no refit",
        "`run`",
        None,
        (string(), one_of(COMMANDS)),
    ),
    Field(
        "input",
        "the photos (`<Label>/<photo>.jpg` below it): `run` fits on them, `transform` projects them",
        "`s3://<InputBucketName>/train/`",
        "--input",
        (string(), *_prefix_rules("input"), without(LIST_SEPARATOR, "Comma")),
    ),
    Field(
        "apply",
        "more photo prefixes, comma-separated, projected with the PCA fitted on `input`",
        "none (no `--apply` argument)",
        "--apply",
        (string(), not_empty(), at_most_items(MAX_PREFIXES)),
        commands=("run",),
        item_rules=_prefix_rules("input"),
        optional=True,
    ),
    Field(
        "output",
        "the run folder is `<output>/<run_id>/`",
        "`s3://<ResultsBucketName>/runs/`",
        "--output",
        (string(), *_prefix_rules("runs"), without(LIST_SEPARATOR, "Comma")),
    ),
    Field(
        "run",
        "the finished run whose model and PCA `transform` uses",
        "none: required for `transform`",
        "--run",
        (string(), *_prefix_rules("runs"), without(LIST_SEPARATOR, "Comma")),
        commands=("transform",),
        required_for=("transform",),
        optional=True,
    ),
    Field(
        "reuse",
        "a finished run's id under `runs/` (the client resolves `latest`): photos unchanged since it "
        "take its features, unread",
        "none (no `--reuse` argument)",
        "--reuse",
        _reuse_rules(),
        commands=("run",),
        optional=True,
        names_in="runs",
    ),
    Field(
        "image_size",
        "pixels per side fed to the model",
        "`224` (`-c image_size`)",
        "--image-size",
        (number(), finite(), between(*IMAGE_SIZE_RANGE), whole_number()),
        commands=("run",),
    ),
    Field(
        "variance",
        "the PCA keeps the fewest components explaining this share",
        "`0.95` (`-c variance`)",
        "--variance",
        (number(), finite(), between(0, 1, low_open=True)),
        commands=("run",),
    ),
    Field(
        "run_id",
        "the run folder's name",
        "the execution name",
        "--run-id",
        _run_id_rules(),
    ),
    Field(
        "Comment",
        "ignored (the Step Functions console pre-fills it)",
        "none",
        None,
        (string(), at_most(MAX_COMMENT)),
        optional=True,
        ignored=True,
    ),
)
FIELD_NAMES = tuple(f.name for f in FIELDS)
BY_NAME = {f.name: f for f in FIELDS}
ARGUMENT_ORDER = {
    "run": ("input", "output", MODEL_FLAG, "image_size", "variance", "run_id", "apply", "reuse"),
    "transform": ("run", "input", "output", "run_id"),
}


def defaults(places: Places, *, image_size: int | None = None, variance: float | None = None) -> dict[str, Any]:
    """What a field is when the execution input leaves it out (`run_id`: the execution name).

    `image_size` and `variance` default to the stack's CDK context: a client that does not
    know it leaves them out (None), and the state machine fills them in.
    """
    known = {"image_size": image_size, "variance": variance}
    return {
        "command": COMMANDS[0],
        "input": places.root("input") + DEFAULT_INPUT_PREFIX,
        "output": places.root("runs"),
        **{name: value for name, value in known.items() if value is not None},
    }


def refused_field(name: str) -> str:
    return f"{name}: {REFUSED_FIELDS[name]}"


def unknown_field() -> str:
    return UNKNOWN_FIELD.format(fields=", ".join(FIELD_NAMES))


def _first_problem(given: Mapping[str, Any], args: Mapping[str, Any], places: Places) -> str | None:
    """The refusal the state machine reports: its checks run in exactly this order."""
    for name in REFUSED_FIELDS:
        if name in given:
            return refused_field(name)
    if set(given) - set(FIELD_NAMES):
        return unknown_field()
    command = BY_NAME["command"]
    for rule in command.rules:
        if rule.broken(args["command"], places):
            return command.broken(rule, places)
    for field in FIELDS:
        if field.name in given and args["command"] not in field.commands:
            return field.not_for_command()
        if args["command"] in field.required_for and field.name not in given:
            return field.missing(args["command"])
    # Fields with a default, then those given without one, then the rules on a derived value.
    stages = [(False, False), (False, True), (True, False)]
    for derived, optional in stages:
        for field in FIELDS[1:]:
            for rule in field.rules:
                if field.optional is optional and (rule.derived is not None) is derived and field.name in args:
                    if rule.broken(args[field.name], places):
                        return field.broken(rule, places)
    for field in FIELDS:
        if field.item_rules and field.name in args:
            items = [item for item in args[field.name].split(LIST_SEPARATOR) if item]
            if not items:
                return field.no_items()
            for item in items:
                for rule in field.item_rules:
                    if rule.broken(item, places):
                        return field.broken_item(rule, places)
    return None


def validate(
    execution_input: Mapping[str, Any], places: Places, field_defaults: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The job's arguments for this execution input, or ExecutionInputError with the state machine's message.

    `field_defaults`: `defaults(...)` plus `run_id` (the execution name) when known; a
    client that knows neither checks what it sends and leaves the rest to the state machine.
    """
    if not isinstance(execution_input, Mapping):
        raise ExecutionInputError("execution input: must be a JSON object")
    args = {"command": COMMANDS[0], **(field_defaults or {}), **execution_input}
    problem = _first_problem(execution_input, args, places)
    if problem:
        raise ExecutionInputError(problem)
    return args


def job_arguments(args: Mapping[str, Any], model_uri: str, places: Places | None = None) -> list[str]:
    """The entry point arguments the state machine submits for validated `args`: no empty item.

    `places` is needed only for a field that names a folder (`reuse`): its argument is the folder's URI.
    """
    arguments = [args["command"]]
    for name in ARGUMENT_ORDER[args["command"]]:
        if name == MODEL_FLAG:
            arguments.append(f"{MODEL_FLAG}={model_uri}")
        elif name in args:
            arguments.append(f"{BY_NAME[name].flag}={argument_value(BY_NAME[name], args[name], places)}")
    return arguments


def argument_value(field: Field, value: Any, places: Places | None) -> str:
    """The job argument's value for a field: the value itself, or the URI of the folder it names."""
    if field.names_in is None:
        return str(value)
    if places is None:
        raise ValueError(f"{field.name} names a folder under {field.names_in}: give the places")
    return f"{places.root(field.names_in)}{value}/"


def _documented(rule: Rule, text: str) -> str:
    """A rule's words for the docs' table, marked when only the client checks it."""
    return text if rule.in_state_machine else f"{text} (client)"


def markdown_table() -> str:
    """The execution input's table in docs/aws-runs.md (with the docs' bucket names)."""
    places = Places("<InputBucketName>", "<ResultsBucketName>")
    rows = [
        "| field | with | default | what | job argument | rules (else refused) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for field in FIELDS:
        rules = [_documented(rule, rule.message(places)) for rule in field.rules]
        rules += [_documented(rule, field.broken_item(rule, places).split(": ", 1)[1]) for rule in field.item_rules]
        argument = (
            "none"
            if field.ignored
            else "the first one"
            if field.flag is None
            else f"`{field.flag}={argument_value(field, 'VALUE', places)}`"
        )
        rows.append(
            f"| `{field.name}` | {' or '.join(f'`{c}`' for c in field.commands)} | {field.default} | "
            f"{field.about} | {argument} | {'; '.join(rules)} |"
        )
    return "\n".join(rows)
