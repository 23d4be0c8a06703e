"""Starting runs and finding them again: the execution input, executions, outcomes and causes.

A run is one execution of the stack's state machine; its name is the run id (the
client always sends both), so `RUN` on the command line is a run id, an execution
ARN, or nothing for the latest run.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pipeline.cloud.errors import CloudError, Exit, bad_parameters
from pipeline.cloud.stack import Stack, s3_uri, split_s3_uri

# The execution input the state machine accepts. Its contract is pipeline/execution_input.py
# (written on the orchestration branch at the same time as this client); until the branches
# merge, the field names and defaults the client uses are named here and only here.
COMMAND = "command"  # "run" (default) or "transform"
INPUT = "input"  # s3 folder of photos in the input bucket (default: train/)
APPLY = "apply"  # run only: comma-separated folders in the input bucket
OUTPUT = "output"  # folder of run folders in the results bucket (default: runs/)
RUN = "run"  # transform only: a finished run's s3 folder
IMAGE_SIZE = "image_size"
VARIANCE = "variance"
RUN_ID = "run_id"  # default: the execution's name
DEFAULT_INPUT_PREFIX = "train/"
RUNS_PREFIX = "runs/"

EXECUTION_NAME = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
FINISHED = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
OUTCOME_CODES = {"FAILED": Exit.RUN_FAILED, "ABORTED": Exit.RUN_FAILED, "TIMED_OUT": Exit.TIMED_OUT}
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


def new_run_id() -> str:
    """A UTC timestamp, like the job's own default run id."""
    return datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")


def folder_in(bucket: str, location: str, what: str) -> str:
    """`location` as s3://bucket/prefix/: a prefix of `bucket`, or an s3:// URI inside it."""
    if location.startswith("s3://"):
        found, key = split_s3_uri(location)
        if found != bucket:
            raise bad_parameters(f"{what} {location} is not in the stack's bucket {bucket}: the job reads only there")
    else:
        key = location.lstrip("/")
    key = key.strip("/")
    if not key:
        raise bad_parameters(f"{what} must name a folder of s3://{bucket}/, e.g. train/")
    return s3_uri(bucket, key + "/")


def execution_input(stack: Stack, request: RunRequest, run_id: str) -> dict[str, Any]:
    """The state machine's input for `request`, checked before anything starts."""
    _check_values(request, run_id)
    if request.transform is not None:
        if request.apply or request.image_size is not None or request.variance is not None:
            raise bad_parameters("--transform reuses the run's model and PCA: drop --apply, --image-size, --variance")
        if request.input is None:
            raise bad_parameters("--transform needs --input: the photos to project")
        run = request.transform if request.transform.startswith("s3://") else RUNS_PREFIX + request.transform
        body = {
            COMMAND: "transform",
            RUN: folder_in(stack.results_bucket, run, "--transform"),
            INPUT: folder_in(stack.input_bucket, request.input, "--input"),
        }
    else:
        body = {COMMAND: "run", INPUT: folder_in(stack.input_bucket, request.input or DEFAULT_INPUT_PREFIX, "--input")}
        if request.apply:
            body[APPLY] = ",".join(folder_in(stack.input_bucket, a, "--apply") for a in request.apply)
        if request.image_size is not None:
            body[IMAGE_SIZE] = request.image_size
        if request.variance is not None:
            body[VARIANCE] = request.variance
    body[RUN_ID] = run_id
    return body


def _check_values(request: RunRequest, run_id: str) -> None:
    """The job's own rules (pipeline/job.py), so that a bad value fails here, not minutes later on EMR."""
    from pipeline.job import RunConfig, validate

    given = {"image_size": request.image_size, "variance": request.variance}
    try:
        validate(RunConfig(input="-", output="-", run_id=run_id, **{k: v for k, v in given.items() if v is not None}))
    except ValueError as error:
        raise bad_parameters(str(error)) from None
    if not EXECUTION_NAME.match(run_id):
        raise bad_parameters(f"--run-id {run_id!r} may use letters, digits, - and _ only (it also names the execution)")


def check_inputs(stack: Stack, body: dict[str, Any]) -> None:
    """Every photo folder has photos, a transform's run has finished, and the run's folder is free."""
    s3 = stack.client("s3")
    folders = [body[INPUT]] + [a for a in body.get(APPLY, "").split(",") if a]
    for folder in folders:
        bucket, prefix = split_s3_uri(folder)
        if not _has_photo(s3, bucket, prefix):
            raise bad_parameters(
                f"no photos (.jpg, .jpeg, .png) under {folder}: upload some first (python -m pipeline cloud upload DIR)"
            )
    if body[COMMAND] == "transform":
        bucket, prefix = split_s3_uri(body[RUN])
        if not _exists(s3, bucket, prefix + "_SUCCESS"):
            raise bad_parameters(f"{body[RUN]} is not a finished run (no _SUCCESS)")
    folder = run_folder(stack, body)
    bucket, prefix = split_s3_uri(folder)
    if _exists(s3, bucket, prefix):
        raise bad_parameters(f"run {folder} already exists: a run is never overwritten, choose another --run-id")


def _has_photo(s3, bucket: str, prefix: str) -> bool:
    from pipeline.images import is_photo

    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        if any(is_photo(item["Key"]) for item in page.get("Contents", [])):
            return True
    return False


def _exists(s3, bucket: str, key: str) -> bool:
    return bool(s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("KeyCount", 0))


def start(stack: Stack, request: RunRequest) -> dict[str, Any]:
    """Start one execution named after the run id; returns describe_execution's answer."""
    run_id = request.run_id or new_run_id()
    body = execution_input(stack, request, run_id)
    check_inputs(stack, body)
    sfn = stack.client("stepfunctions")
    try:
        started = sfn.start_execution(stateMachineArn=stack.state_machine_arn, name=run_id, input=json.dumps(body))
    except sfn.exceptions.ExecutionAlreadyExists:
        raise bad_parameters(
            f"a run named {run_id} was already started (names stay taken for 90 days): choose another --run-id"
        ) from None
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


def execution_input_of(execution: dict[str, Any]) -> dict[str, Any]:
    try:
        body = json.loads(execution.get("input") or "{}")
    except json.JSONDecodeError:
        return {}
    return body if isinstance(body, dict) else {}


def run_folder(stack: Stack, body: dict[str, Any], execution_name: str | None = None) -> str:
    """Where the run writes: <output>/<run_id>/, with the state machine's defaults."""
    output = body.get(OUTPUT) or s3_uri(stack.results_bucket, RUNS_PREFIX)
    return f"{output.rstrip('/')}/{body.get(RUN_ID) or execution_name}/"


def outcome_code(status: str) -> Exit:
    """The exit code for an execution status: 0 for running or succeeded."""
    return OUTCOME_CODES.get(status, Exit.OK)


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
