"""Starting runs and finding them again: the execution input, executions, outcomes and causes.

A run is one execution of the stack's state machine; its name is the run id (the
client always sends both), so `RUN` on the command line is a run id, an execution
ARN, or nothing for the latest run. The execution input's fields, defaults and rules
are the state machine's own (pipeline/contract/execution_input.py): the client checks them
with the same code, so it refuses what the state machine would, with its words, and
adds only what the state machine cannot see (photos in the folders, a finished run to
transform with, a free run folder) and the limits it cannot measure (lengths).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

from pipeline.cloud.errors import CloudError, Exit, bad_parameters
from pipeline.cloud.stack import Stack, s3_uri, split_s3_uri
from pipeline.contract.execution_input import (
    LIST_SEPARATOR,
    RUNS_PREFIX,
    ExecutionInputError,
    Places,
    defaults,
    new_run_id,
    validate,
)

FINISHED = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
OUTCOME_CODES = {"FAILED": Exit.RUN_FAILED, "ABORTED": Exit.RUN_FAILED, "TIMED_OUT": Exit.TIMED_OUT}
JOB_RUN_TIMEOUT = "JobRunTimeout"
"""The error of an execution that gave up on a job run still unfinished (infra/orchestration.py)."""
LATEST = "latest"
"""`cloud start --reuse latest`: resolved here to a run id, so the state machine never sees it."""
CAUSE_KEYS = ("stateDetails", "StateDetails", "errorMessage", "ErrorMessage", "Message", "message")


@dataclass(frozen=True)
class RunRequest:
    """What `cloud start` was asked for; locations are prefixes of the stack's buckets or s3:// URIs."""

    input: str | None = None
    apply: tuple[str, ...] = ()
    image_size: int | None = None
    variance: float | None = None
    run_id: str | None = None
    transform: str | None = None  # a finished run (id or s3:// folder) that projects `input`
    reuse: str | None = None  # a finished run's id, or LATEST: unchanged photos take its features


def places(stack: Stack) -> Places:
    return Places(stack.input_bucket, stack.results_bucket)


def folder_uri(bucket: str, location: str) -> str:
    """`location` as a folder URI: an s3:// URI as given, a bare prefix (`validation/`) inside `bucket`.

    Whether the URI is inside the stack's buckets is a rule of the execution input (`checked`).
    """
    uri = location if location.startswith("s3://") else s3_uri(bucket, location.lstrip("/"))
    return uri if uri.endswith("/") else uri + "/"


def execution_input(stack: Stack, request: RunRequest, run_id: str) -> dict[str, Any]:
    """The state machine's input for `request`, unchecked: what was asked for; the state machine adds its defaults."""
    body: dict[str, Any] = {"command": "run" if request.transform is None else "transform"}
    if request.transform is not None:
        run = request.transform if request.transform.startswith("s3://") else RUNS_PREFIX + request.transform
        body["run"] = folder_uri(stack.results_bucket, run)
    if request.input is not None:
        body["input"] = folder_uri(stack.input_bucket, request.input)
    if request.apply:
        body["apply"] = LIST_SEPARATOR.join(folder_uri(stack.input_bucket, prefix) for prefix in request.apply)
    if request.image_size is not None:
        body["image_size"] = request.image_size
    if request.variance is not None:
        body["variance"] = request.variance
    if request.reuse is not None:
        body["reuse"] = request.reuse
    body["run_id"] = run_id
    return body


def checked(stack: Stack, body: dict[str, Any]) -> dict[str, Any]:
    """`body` with the state machine's defaults, checked by its rules: the refusal is the state machine's message.

    The image size and variance defaults are the stack's CDK context, unknown here: the
    state machine fills them in.
    """
    try:
        return validate(body, places(stack), defaults(places(stack)))
    except ExecutionInputError as refused:
        raise bad_parameters(str(refused)) from None


def check_inputs(stack: Stack, args: dict[str, Any]) -> None:
    """Every photo folder has photos, a transform's (or a reused) run has finished, and the run's folder is free."""
    s3 = stack.client("s3")
    folders = [args["input"]] + [item for item in args.get("apply", "").split(LIST_SEPARATOR) if item]
    for folder in folders:
        bucket, prefix = split_s3_uri(folder)
        if not _has_photo(s3, bucket, prefix):
            raise bad_parameters(
                f"no photos (.jpg, .jpeg, .png) under {folder}: upload some first (python -m pipeline cloud upload DIR)"
            )
    finished = [args["run"]] if args["command"] == "transform" else []
    if "reuse" in args:  # the run whose features a run reuses
        finished.append(runs_folder(stack, args["reuse"]))
    for earlier in finished:
        bucket, prefix = split_s3_uri(earlier)
        if not _exists(s3, bucket, prefix + "_SUCCESS"):
            raise bad_parameters(f"{earlier} is not a finished run (no _SUCCESS)")
    folder = run_folder(args)
    bucket, prefix = split_s3_uri(folder)
    if _exists(s3, bucket, prefix):
        raise bad_parameters(f"run {folder} already exists: a run is never overwritten, choose another --run-id")


def _has_photo(s3, bucket: str, prefix: str) -> bool:
    from pipeline.storage.photo_names import is_photo

    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        if any(is_photo(item["Key"]) for item in page.get("Contents", [])):
            return True
    return False


def _exists(s3, bucket: str, key: str) -> bool:
    return bool(s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("KeyCount", 0))


def runs_folder(stack: Stack, run_id: str) -> str:
    """The folder of the run `run_id` under the stack's runs/ (where `cloud start` puts every run)."""
    return f"{places(stack).root('runs')}{run_id}/"


def latest_succeeded_run(stack: Stack) -> str:
    """The id of the newest execution that succeeded as a `run` in runs/<id>/: what `--reuse latest` means."""
    sfn = stack.client("stepfunctions")
    listing = sfn.get_paginator("list_executions")
    for page in listing.paginate(stateMachineArn=stack.state_machine_arn, statusFilter="SUCCEEDED"):
        for listed in page["executions"]:
            args = execution_args(stack, sfn.describe_execution(executionArn=listed["executionArn"]))
            if args.get("command") == "run" and run_folder(args) == runs_folder(stack, args["run_id"]):
                return args["run_id"]
    raise bad_parameters("--reuse latest: no run has succeeded yet; start one without --reuse first")


def start(stack: Stack, request: RunRequest) -> dict[str, Any]:
    """Start one execution named after the run id; returns describe_execution's answer."""
    run_id = request.run_id or new_run_id("run" if request.transform is None else "transform")
    if request.reuse == LATEST:
        request = replace(request, reuse=latest_succeeded_run(stack))
    body = execution_input(stack, request, run_id)
    args = checked(stack, body)  # a valid run id is a valid execution name too
    check_inputs(stack, args)
    sfn = stack.client("stepfunctions")
    taken = bad_parameters(
        f"a run named {run_id} was already started (names stay taken for 90 days): choose another --run-id"
    )
    try:  # StartExecution would answer a running one with the same input as if it had started it
        sfn.describe_execution(executionArn=execution_arn(stack, run_id))
        raise taken
    except sfn.exceptions.ExecutionDoesNotExist:
        pass
    try:
        # allow_nan=False: never NaN or Infinity, which are no JSON (`checked` refuses them first).
        started = sfn.start_execution(
            stateMachineArn=stack.state_machine_arn, name=run_id, input=json.dumps(body, allow_nan=False)
        )
    except sfn.exceptions.ExecutionAlreadyExists:
        raise taken from None
    return sfn.describe_execution(executionArn=started["executionArn"])


def execution_arn(stack: Stack, name: str) -> str:
    """arn:...:stateMachine:M + name -> arn:...:execution:M:name (Step Functions' documented form)."""
    return stack.state_machine_arn.replace(":stateMachine:", ":execution:", 1) + ":" + name


def find_execution(stack: Stack, run: str | None) -> dict[str, Any]:
    """describe_execution of `run` (run id or execution ARN), or of the latest run when None."""
    sfn = stack.client("stepfunctions")
    if run is None:
        latest = sfn.list_executions(stateMachineArn=stack.state_machine_arn, maxResults=1).get("executions", [])
        if not latest:
            raise bad_parameters("no runs yet: start one with `python -m pipeline cloud start`")
        arn = latest[0]["executionArn"]
    else:
        arn = run if run.startswith("arn:") else execution_arn(stack, run)
    try:
        return sfn.describe_execution(executionArn=arn)
    except sfn.exceptions.ExecutionDoesNotExist:
        raise bad_parameters(
            f"no run {run} in state machine {stack.state_machine_arn.rsplit(':', 1)[-1]} "
            "(`python -m pipeline cloud runs` lists them; Step Functions keeps 90 days)"
        ) from None


def json_object(text: str | None) -> dict[str, Any]:
    try:
        found = json.loads(text or "{}")
    except json.JSONDecodeError:
        return {}
    return found if isinstance(found, dict) else {}


def execution_output(execution: dict[str, Any]) -> dict[str, Any]:
    """A succeeded execution's output: `args` (the checked fields), `job.id`, `poll.jobRun` (EMR's record,
    its bounded fields), and `recordError` or `stopError` when the record or the stop failed; {} before it
    ends or on failure."""
    return json_object(execution.get("output"))


def execution_args(stack: Stack, execution: dict[str, Any]) -> dict[str, Any]:
    """The run's fields, checked: the state machine's `args` once it has succeeded, else its raw input
    put through the same checks again. An input they refuse never names a folder: anyone allowed to
    start an execution could have sent it, `{"output": "s3://someone-elses-bucket/"}` too."""
    found = execution_output(execution).get("args")
    if isinstance(found, dict):
        return found
    try:
        return _recheck(stack, execution)
    except ExecutionInputError as refused:
        raise CloudError(
            f"run {execution['name']} was refused ({refused}): it never ran and has no results", Exit.RUN_FAILED
        ) from None


def refusal(stack: Stack, execution: dict[str, Any]) -> str | None:
    """Why the execution input's checks refuse this execution's input (None: they pass, or it succeeded)."""
    if isinstance(execution_output(execution).get("args"), dict):
        return None
    try:
        _recheck(stack, execution)
    except ExecutionInputError as refused:
        return str(refused)
    return None


def _recheck(stack: Stack, execution: dict[str, Any]) -> dict[str, Any]:
    """`validate` (pipeline/contract/execution_input.py) on the raw input, as the state machine checked it."""
    try:
        given = json.loads(execution.get("input") or "{}")
    except json.JSONDecodeError:
        given = None  # refused by validate: not a JSON object
    return validate(given, places(stack), {**defaults(places(stack)), "run_id": execution["name"]})


def run_folder(args: dict[str, Any]) -> str:
    """Where the run writes: <output>/<run_id>/."""
    return f"{str(args['output']).rstrip('/')}/{args['run_id']}/"


def outcome_code(execution: dict[str, Any]) -> Exit:
    """The exit code for an execution: 0 while running or once succeeded; a job run given up on timed out."""
    if execution["status"] == "FAILED" and execution.get("error") == JOB_RUN_TIMEOUT:
        return Exit.TIMED_OUT
    return OUTCOME_CODES.get(execution["status"], Exit.OK)


def history(stack: Stack, execution_arn: str) -> list[dict[str, Any]]:
    pages = stack.client("stepfunctions").get_paginator("get_execution_history")
    return [event for page in pages.paginate(executionArn=execution_arn) for event in page["events"]]


def failure(stack: Stack, execution: dict[str, Any]) -> tuple[str, str]:
    """(error, cause) of a run that did not succeed: the execution's own, else its last failed step's."""
    events = history(stack, execution["executionArn"])
    for event in reversed(events):
        for key in ("executionFailedEventDetails", "executionTimedOutEventDetails", "executionAbortedEventDetails"):
            details = event.get(key)
            if details and (details.get("error") or details.get("cause")):
                return details.get("error", ""), readable_cause(details.get("cause", ""))
    for event in reversed(events):
        for key, details in event.items():
            if key.endswith("FailedEventDetails") and isinstance(details, dict) and details.get("cause"):
                return details.get("error", ""), readable_cause(details["cause"])
    return execution.get("error", execution["status"]), readable_cause(execution.get("cause", ""))


def readable_cause(cause: str, limit: int = 2000) -> str:
    """A JSON cause (a job run or an API error) reduced to its message; plain text as it is."""
    try:
        parsed = json.loads(cause)
    except (json.JSONDecodeError, TypeError):
        parsed = None
    if isinstance(parsed, dict):
        for key in CAUSE_KEYS:
            if parsed.get(key):
                cause = str(parsed[key])
                break
    return cause if len(cause) <= limit else cause[:limit] + " ..."


def elapsed(execution: dict[str, Any], now: datetime | None = None) -> float:
    end = execution.get("stopDate") or now or datetime.now(timezone.utc)
    return max((end - execution["startDate"]).total_seconds(), 0.0)


def duration(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{seconds:02d}s" if hours else f"{minutes}m{seconds:02d}s"


def recent(stack: Stack, limit: int) -> list[dict[str, Any]]:
    """The latest `limit` executions, newest first (list_executions' own order)."""
    found: list[dict[str, Any]] = []
    pages = stack.client("stepfunctions").get_paginator("list_executions")
    for page in pages.paginate(stateMachineArn=stack.state_machine_arn, PaginationConfig={"MaxItems": limit}):
        found += page["executions"]
    return found[:limit]


def require_finished_results(stack: Stack, folder: str) -> None:
    bucket, prefix = split_s3_uri(folder)
    if not _exists(stack.client("s3"), bucket, prefix + "_SUCCESS"):
        raise CloudError(
            f"{folder} has no finished run (no _SUCCESS): see `python -m pipeline cloud status` for its state",
            Exit.BAD_PARAMETERS,
        )
