"""Executions of the synthesized state machine (moto, in-process; see sfn_moto for the stand-ins)."""

from __future__ import annotations

import json
import re

import pytest
from infra_asl import bucket_name, model_uri, places
from sfn_moto import MAX_PAYLOAD, payload_sizes

from infra import orchestration
from infra.config import AppConfig
from pipeline.contract.execution_input import (
    ERROR,
    MAX_COMMENT,
    MAX_PATH,
    MAX_PREFIXES,
    MAX_RUN_ID,
    ExecutionInputError,
    defaults,
    job_arguments,
    validate,
)

OTHER_ACCOUNT = "210987654321"
# AWS's API reference (some versions) for each entryPointArguments item.
ARGUMENT_PATTERN = re.compile(r".*\S.*")


def expected_arguments(synthesized, execution_input: dict, name: str = "run-42") -> list[str]:
    """What the Python side of the contract says the job gets for this input."""
    where = places(synthesized)
    config = AppConfig()
    args = validate(
        execution_input,
        where,
        {**defaults(where, image_size=config.image_size, variance=config.variance), "run_id": name},
    )
    return job_arguments(args, model_uri(synthesized))


def emr_calls(result, *names: str) -> list[tuple[str, str]]:
    return [call for call in result.jobs.calls if call[0] in names]


def record(result, key: str) -> dict:
    body = result.s3.get_object(Bucket=places_results(result), Key=key)["Body"].read()
    return json.loads(body)


def places_results(result) -> str:
    (bucket,) = [b["Name"] for b in result.s3.list_buckets()["Buckets"]]
    return bucket


def test_defaults_submit_no_empty_argument(step_functions, synthesized) -> None:
    result = step_functions.run(synthesized, {})
    assert result.execution["status"] == "SUCCEEDED", result.execution
    arguments = result.job_arguments()
    assert arguments == expected_arguments(synthesized, {})
    assert all(ARGUMENT_PATTERN.fullmatch(argument) for argument in arguments), arguments
    assert not any(argument.startswith("--apply") for argument in arguments)
    assert result.entered[-3:] == ["RecordJobRun", "StopApplication", "Succeeded"]
    assert result.application["state"] == "STOPPED"
    # Polled every POLL_SECONDS (recorded, not slept).
    assert set(result.waited["wait"]) == {orchestration.POLL_SECONDS}


def test_full_input_submits_each_field_once_as_flag_equals_value(step_functions, synthesized) -> None:
    where = places(synthesized)
    execution_input = {
        "input": where.root("input") + "photos/train/",
        "apply": f"{where.root('input')}photos/validation/,{where.root('input')}photos/test/",
        "output": where.root("runs") + "experiments/",
        "image_size": 160,
        "variance": 0.9,
        "run_id": "mobilenet-160",
    }
    result = step_functions.run(synthesized, execution_input)
    assert result.execution["status"] == "SUCCEEDED", result.execution
    arguments = result.job_arguments()
    assert arguments == expected_arguments(synthesized, execution_input)
    assert arguments[0] == "run"
    flags = [argument.split("=", 1)[0] for argument in arguments[1:]]
    assert (
        sorted(flags)
        == sorted(set(flags))
        == sorted(["--input", "--apply", "--output", "--weights", "--image-size", "--variance", "--run-id"])
    )
    assert f"--apply={execution_input['apply']}" in arguments
    assert all(ARGUMENT_PATTERN.fullmatch(argument) for argument in arguments)


def test_transform_projects_with_a_finished_run(step_functions, synthesized) -> None:
    where = places(synthesized)
    execution_input = {
        "command": "transform",
        "run": where.root("runs") + "run-1/",
        "input": where.root("input") + "new/",
    }
    result = step_functions.run(synthesized, execution_input)
    assert result.execution["status"] == "SUCCEEDED", result.execution
    assert result.job_arguments() == [
        "transform",
        f"--run={where.root('runs')}run-1/",
        f"--input={where.root('input')}new/",
        f"--output={where.root('runs')}",
        "--run-id=run-42",
    ]


def test_the_job_run_record_lands_in_the_run_folder(step_functions, synthesized) -> None:
    where = places(synthesized)
    result = step_functions.run(synthesized, {"output": where.root("runs") + "team/a/", "run_id": "r7"})
    assert result.execution["status"] == "SUCCEEDED", result.execution
    job_run = record(result, "runs/team/a/r7/job_run.json")
    assert job_run["JobRunId"] == result.job_run.id
    assert job_run["State"] == "SUCCESS"
    assert "BilledResourceUtilization" in job_run
    assert "recordError" not in result.output


# Each a function of (places, artifacts bucket): the bucket names are the synthesized stack's.
HOSTILE = {
    "foreign bucket": lambda p, a: {"input": "s3://someone-elses-bucket/train/"},
    "look-alike bucket": lambda p, a: {"input": f"s3://{p.input_bucket}-evil/train/"},
    "look-alike bucket in apply": lambda p, a: {"apply": f"{p.root('input')}val/,s3://{p.input_bucket}-evil/x/"},
    "artifacts as output": lambda p, a: {"output": f"s3://{a}/job/"},
    "results outside runs/": lambda p, a: {"output": f"s3://{p.results_bucket}/"},
    ".. in run id": lambda p, a: {"run_id": "a..b"},
    ".. in a path": lambda p, a: {"output": f"{p.root('runs')}../../job/"},
    "run id with a slash": lambda p, a: {"run_id": "runs/x"},
    "flag-like run id": lambda p, a: {"run_id": "--components=5"},
    "flag-like input": lambda p, a: {"input": "--components=5"},
    "flag-like apply": lambda p, a: {"apply": "--components=5"},
    "non-numeric size": lambda p, a: {"image_size": "224"},
    "fractional size": lambda p, a: {"image_size": 224.5},
    "size out of range": lambda p, a: {"image_size": 4096},
    "variance zero": lambda p, a: {"variance": 0},
    "variance as text": lambda p, a: {"variance": "0.9"},
    "weights": lambda p, a: {"weights": f"s3://{a}/weights/other.weights.h5"},
    "unknown field": lambda p, a: {"components": 5},
    "unknown command": lambda p, a: {"command": "delete"},
    "transform without run": lambda p, a: {"command": "transform"},
    "run given to run": lambda p, a: {"run": f"{p.root('runs')}r1/"},
    "apply given to transform": lambda p, a: {
        "command": "transform",
        "run": f"{p.root('runs')}r1/",
        "apply": f"{p.root('input')}x/",
    },
    "empty apply": lambda p, a: {"apply": ""},
    "apply of commas": lambda p, a: {"apply": ",,"},
    "run given as a number": lambda p, a: {"command": "transform", "run": 7},
    "two inputs": lambda p, a: {"input": f"{p.root('input')}a/,{p.root('input')}b/"},
    "empty folder": lambda p, a: {"output": f"{p.root('runs')}x//"},
    "comment not a string": lambda p, a: {"Comment": 5},
    "unknown field beside a comment": lambda p, a: {"Comment": "Insert your JSON here", "components": 5},
    "run id with a space": lambda p, a: {"run_id": "run 1"},
    "run id with a right-to-left override": lambda p, a: {"run_id": "run\u202egpj.exe"},
    "run id not ASCII": lambda p, a: {"run_id": "\u00e9t\u00e9"},
    "run id as a wildcard": lambda p, a: {"run_id": "*"},
    "output as a wildcard": lambda p, a: {"output": f"{p.root('runs')}*/"},
    "run as a wildcard": lambda p, a: {"command": "transform", "run": f"{p.root('runs')}run-?/"},
    "input with a character class": lambda p, a: {"input": f"{p.root('input')}[a-z]/"},
    "apply with braces": lambda p, a: {"apply": f"{p.root('input')}val/,{p.root('input')}{{a}}/"},
    "input with a newline": lambda p, a: {"input": f"{p.root('input')}train\n/"},
    "output with a bidi control": lambda p, a: {"output": f"{p.root('runs')}x\u202e/"},
    "apply with a control character": lambda p, a: {"apply": f"{p.root('input')}a\u0007/"},
}


@pytest.mark.parametrize("label", HOSTILE)
def test_hostile_input_fails_before_anything_starts(label, step_functions, synthesized) -> None:
    execution_input = HOSTILE[label](places(synthesized), bucket_name(synthesized, "StorageArtifactsBucket"))
    with pytest.raises(ExecutionInputError) as refused:
        expected_arguments(synthesized, execution_input)
    result = step_functions.run(synthesized, execution_input)
    execution = result.execution
    assert execution["status"] == "FAILED"
    assert (execution["error"], execution["cause"]) == (ERROR, str(refused.value))
    assert "StartApplication" not in result.entered
    assert result.jobs.calls == []
    assert result.application["state"] == "STOPPED"


def test_an_execution_name_that_is_no_plain_name_is_refused_as_run_id(step_functions, synthesized) -> None:
    result = step_functions.run(synthesized, {}, name="_hidden")
    assert result.execution["status"] == "FAILED"
    assert result.execution["cause"] == "run_id: must not start with '-' or '.' or '_'"


def test_the_consoles_prefilled_comment_runs_with_the_defaults(step_functions, synthesized) -> None:
    execution_input = {"Comment": "Insert your JSON here"}
    result = step_functions.run(synthesized, execution_input)
    assert result.execution["status"] == "SUCCEEDED", result.execution
    expected = expected_arguments(synthesized, {})
    assert result.job_arguments() == expected == expected_arguments(synthesized, execution_input)
    assert "Comment" not in result.output["args"]


@pytest.mark.parametrize("name", ["\u00e9t\u00e9", "run\u202egpj", "run(1)"])
def test_an_execution_name_that_is_no_plain_ascii_name_is_refused_as_run_id(name, step_functions, synthesized):
    """Step Functions lets an execution name hold non-ASCII and bidi characters: the default run id is checked."""
    result = step_functions.run(synthesized, {}, name=name)
    assert result.execution["status"] == "FAILED"
    assert result.execution["cause"] == "run_id: must contain only ASCII letters, digits, '-', '_' and '.'"
    assert result.jobs.calls == []


def test_a_failed_job_stops_the_application_and_fails_with_its_cause(step_functions, synthesized) -> None:
    step_functions.jobs.script = ["RUNNING", ("FAILED", "Job failed, ExitCode: 2. error: no photos under s3://x/")]
    result = step_functions.run(synthesized, {})
    execution = result.execution
    assert execution["status"] == "FAILED"
    job_run_id = result.job_run.id
    assert execution["error"] == "JobRunFailed"
    assert (
        execution["cause"]
        == f"job run {job_run_id} ended FAILED: Job failed, ExitCode: 2. error: no photos under s3://x/"
    )
    # Ended by itself: nothing to cancel, one stop.
    assert emr_calls(result, "CancelJobRun", "StopApplication") == [("StopApplication", "stopped")]
    assert result.entered[-2:] == ["StopApplicationAfterFailure", "Failed"]
    assert result.application["state"] == "STOPPED"


def test_a_refused_job_run_stops_the_application_and_fails_with_the_cause(step_functions, synthesized) -> None:
    result = step_functions.run(synthesized, {}, job_role_account=OTHER_ACCOUNT)
    execution = result.execution
    assert execution["status"] == "FAILED"
    assert result.entered[-3:] == ["StartJobRun", "StopApplicationAfterFailure", "Failed"]
    assert "Cross-account pass role is not allowed" in execution["cause"]
    assert result.application["state"] == "STOPPED"


def test_an_application_that_cannot_start_fails_at_once_with_the_cause(step_functions, synthesized) -> None:
    step_functions.jobs.start_application_error = "Maximum vCPU quota exceeded for this account"
    result = step_functions.run(synthesized, {})
    execution = result.execution
    assert execution["status"] == "FAILED"
    assert "Maximum vCPU quota exceeded" in execution["cause"]
    assert result.entered[-2:] == ["StartApplication", "StartFailed"]
    assert emr_calls(result, "StartJobRun", "StopApplication") == []
    assert result.waited["retry"] == []


def test_a_refused_stop_after_success_keeps_the_run_successful(step_functions, synthesized) -> None:
    """Another run's job still busy: the application stops itself once idle."""
    step_functions.jobs.other_run_busy = True
    result = step_functions.run(synthesized, {})
    assert result.execution["status"] == "SUCCEEDED"
    assert "stopError" in result.output
    assert len(emr_calls(result, "StopApplication")) == 6  # the call and its 5 retries


def short_polling(monkeypatch) -> str:
    """The same definition with polls of 5 minutes (recorded, not slept): 4 polls before the run is given up."""
    monkeypatch.setattr(orchestration, "POLL_SECONDS", 300)
    return orchestration.render_definition(AppConfig(job_timeout_minutes=5))


def test_a_job_still_running_at_the_limit_is_cancelled_before_the_stop(step_functions, synthesized, monkeypatch):
    step_functions.jobs.script = ["RUNNING"]
    step_functions.jobs.cancelling_polls = 2
    result = step_functions.run(synthesized, {}, definition=short_polling(monkeypatch))
    execution = result.execution
    job_run_id = result.job_run.id
    assert execution["status"] == "FAILED"
    assert execution["error"] == "JobRunTimeout"
    assert execution["cause"] == f"job run {job_run_id} was still RUNNING after 20 minutes: cancelled"
    assert emr_calls(result, "CancelJobRun", "StopApplication") == [
        ("CancelJobRun", "RUNNING"),
        ("StopApplication", "stopped"),
    ]
    # The stop comes once the run has ended: after polls that saw it CANCELLING, then CANCELLED.
    polls = [state for call, state in result.jobs.calls if call == "GetJobRun"]
    assert polls[-3:] == ["CANCELLING", "CANCELLING", "CANCELLED"]
    assert result.application["state"] == "STOPPED"
    assert result.entered[-2:] == ["StopApplicationAfterFailure", "Failed"]


def test_a_job_still_cancelling_when_the_stop_is_first_tried_is_stopped_by_the_retries(
    step_functions, synthesized, monkeypatch
) -> None:
    step_functions.jobs.script = ["RUNNING"]
    # Longer than the state machine waits for the cancellation (CANCEL_POLLS looks).
    step_functions.jobs.cancelling_polls = orchestration.CANCEL_POLLS + 3
    result = step_functions.run(synthesized, {}, definition=short_polling(monkeypatch))
    execution = result.execution
    assert execution["status"] == "FAILED"
    assert execution["error"] == "JobRunTimeout"
    stops = emr_calls(result, "StopApplication")
    assert stops[0] == ("StopApplication", "refused: CANCELLING")
    assert stops[-1] == ("StopApplication", "stopped")
    assert 1 < len(stops) <= 1 + 8  # the first try and at most the 8 retries
    assert result.waited["retry"], "the refused stops were retried after an interval"
    assert result.application["state"] == "STOPPED"
    assert execution["cause"].startswith(f"job run {result.job_run.id} was still RUNNING")


def test_losing_sight_of_the_job_cancels_it_and_stops(step_functions, synthesized) -> None:
    """GetJobRun failing for good (after its retries) is handled like a timeout: the id is known."""
    step_functions.jobs.script = ["RUNNING"]
    step_functions.jobs.lost_looks = 6  # the first GetJobRun and its 5 retries
    result = step_functions.run(synthesized, {})
    assert result.execution["status"] == "FAILED"
    assert emr_calls(result, "CancelJobRun", "StopApplication") == [
        ("CancelJobRun", "SUBMITTED"),
        ("StopApplication", "stopped"),
    ]
    assert result.application["state"] == "STOPPED"


def filled(execution_input: dict, field: str, total: int, unit: str = "x") -> dict:
    """`execution_input` with `field` padded (with `unit`) to make the JSON input `total` UTF-8 bytes."""
    padding = (total - len(json.dumps(execution_input).encode())) // len(unit.encode())
    return {**execution_input, field: execution_input[field] + unit * padding}


# Inputs StartExecution accepts (at most 256 KiB), hostile in size only: each passes the state
# machine's checks or fails them, but nothing may exceed the quota once the application is started.
LARGE = {
    "largest Comment": lambda p: filled({"Comment": ""}, "Comment", MAX_PAYLOAD),
    "Comment of 88 kB": lambda p: filled({"Comment": ""}, "Comment", 88_000),
    "output of 88 kB": lambda p: filled({"output": p.root("runs")}, "output", 88_000),
    "output of 120 kB": lambda p: filled({"output": p.root("runs")}, "output", 120_000),
    "largest output": lambda p: filled({"output": p.root("runs")}, "output", MAX_PAYLOAD),
    "apply of 88 kB": lambda p: filled({"apply": p.root("input")}, "apply", 88_000, f"{'a' * 4000}/,{p.root('input')}"),
}


@pytest.mark.parametrize("label", LARGE)
def test_a_large_input_fails_before_the_start_or_runs_to_the_end(label, step_functions, synthesized) -> None:
    """States.DataLimitExceeded after StartApplication would leave the application started and the job running.
    moto fails a state whose output or a task whose result exceeds the quota; every input, parameters and
    result in the history is measured too, and may exceed it only before the start."""
    execution_input = LARGE[label](places(synthesized))
    assert len(json.dumps(execution_input).encode()) <= MAX_PAYLOAD
    result = step_functions.run(synthesized, execution_input)
    sizes = payload_sizes(result.history)
    start = next((i for i, (state, _, _) in enumerate(sizes) if state == "StartApplication"), len(sizes))
    assert all(size <= MAX_PAYLOAD for _, _, size in sizes[start:]), sizes[start:]
    if result.execution["status"] == "FAILED" and result.execution["error"] == "States.DataLimitExceeded":
        assert "StartApplication" not in result.entered, result.entered
        assert result.jobs.calls == []
    else:
        assert result.execution["status"] == "SUCCEEDED", result.execution
        assert all(size <= MAX_PAYLOAD for _, _, size in sizes)
        assert result.application["state"] == "STOPPED"


def test_the_largest_input_the_client_accepts_stays_far_under_the_quota(step_functions, synthesized) -> None:
    where = places(synthesized)
    execution_input = {
        "Comment": "c" * MAX_COMMENT,
        "input": filled({"input": where.root("input")}, "input", MAX_PATH)["input"][:MAX_PATH],
        "apply": ",".join(
            (f"{where.root('input')}{n:02d}" + "a" * MAX_PATH)[: MAX_PATH - 1] + "/" for n in range(MAX_PREFIXES)
        ),
        "output": (where.root("runs") + "o" * MAX_PATH)[: MAX_PATH - 1] + "/",
        "run_id": "r" * MAX_RUN_ID,
    }
    expected_arguments(synthesized, execution_input)  # the client accepts it
    result = step_functions.run(synthesized, execution_input)
    assert result.execution["status"] == "SUCCEEDED", result.execution
    largest = max(size for _, _, size in payload_sizes(result.history))
    assert largest < MAX_PAYLOAD / 2, largest
