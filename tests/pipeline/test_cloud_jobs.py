"""The job-run side of the client with botocore's Stubber: moto models neither the job run's states nor
its billed resources, and the Stubber checks every request and response against the real API model."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.stub import Stubber

from pipeline.cloud import command, follow, jobs, runs
from pipeline.cloud.errors import Exit
from pipeline.cloud.stack import Stack
from pipeline.contract.execution_input import job_arguments
from pipeline.contract.prices import billed

REGION = "eu-west-3"
APP = "00fabcdefghij012"
JOB = "00fjobrun0000001"
MACHINE = f"arn:aws:states:{REGION}:123456789012:stateMachine:Pipeline"
EXECUTION = f"arn:aws:states:{REGION}:123456789012:execution:Pipeline:r9"
STARTED = datetime(2026, 11, 25, 14, 0, tzinfo=timezone.utc)
BILLED = {"vCPUHour": 1.5, "memoryGBHour": 6.0, "storageGBHour": 0.0}
OUTPUTS = {
    "InputBucketName": "photos",
    "ResultsBucketName": "results",
    "LogsBucketName": "logs",
    "ApplicationId": APP,
    "StateMachineArn": MACHINE,
}


def stubbed_stack() -> tuple[Stack, dict[str, Stubber]]:
    credentials = {"aws_access_key_id": "x", "aws_secret_access_key": "x", "region_name": REGION}
    clients = {name: boto3.client(name, **credentials) for name in ("stepfunctions", "emr-serverless", "s3")}
    stubs = {name: Stubber(client) for name, client in clients.items()}
    for stub in stubs.values():
        stub.activate()
    return Stack("Pipeline", REGION, dict(OUTPUTS), session=None, _clients=clients), stubs


def execution(status: str, **extra) -> dict:
    found = {
        "executionArn": EXECUTION,
        "stateMachineArn": MACHINE,
        "name": "r9",
        "status": status,
        "startDate": STARTED,
        "input": json.dumps({"command": "run", "input": "s3://photos/train/", "run_id": "r9"}),
    }
    if status not in ("RUNNING",):
        found["stopDate"] = STARTED + timedelta(minutes=4, seconds=12)
    return {**found, **extra}


def event(number: int, kind: str, **details) -> dict:
    return {"timestamp": STARTED, "type": kind, "id": number, **details}


# The state machine keeps the job run's id in its state as job.id from StartJobRun on.
JOB_STARTED = event(
    21,
    "TaskStateExited",
    stateExitedEventDetails={
        "name": "StartJobRun",
        "output": json.dumps({"args": {"run_id": "r9"}, "job": {"id": JOB, "polls": 0, "cancelPolls": 0}}),
    },
)


def job_run(state: str, **extra) -> dict:
    record = {
        "applicationId": APP,
        "jobRunId": JOB,
        "arn": f"arn:aws:emr-serverless:{REGION}:123456789012:/applications/{APP}/jobruns/{JOB}",
        "createdBy": "arn:aws:sts::123456789012:assumed-role/sfn/x",
        "createdAt": STARTED,
        "updatedAt": STARTED,
        "executionRole": "arn:aws:iam::123456789012:role/job",
        "state": state,
        "stateDetails": f"job run {state.lower()}",
        "releaseLabel": "emr-7.10.0",
        "jobDriver": {"sparkSubmit": {"entryPoint": "s3://artifacts/job/entrypoint.py"}},
        "configurationOverrides": {
            "monitoringConfiguration": {"s3MonitoringConfiguration": {"logUri": "s3://logs/emr-serverless/"}}
        },
    }
    return {"jobRun": {**record, **extra}}


def application(architecture: str) -> dict:
    return {
        "application": {
            "applicationId": APP,
            "arn": f"arn:aws:emr-serverless:{REGION}:123456789012:/applications/{APP}",
            "releaseLabel": "emr-7.10.0",
            "type": "SPARK",
            "state": "STOPPED",
            "createdAt": STARTED,
            "updatedAt": STARTED,
            "architecture": architecture,
        }
    }


def expect_history(stubs, *events) -> None:
    stubs["stepfunctions"].add_response("get_execution_history", {"events": list(events)}, {"executionArn": EXECUTION})


def expect_job_lookup(stubs, *events) -> None:
    """The history read newest first, as the job run's id is looked up."""
    stubs["stepfunctions"].add_response(
        "get_execution_history", {"events": list(reversed(events))}, {"executionArn": EXECUTION, "reverseOrder": True}
    )


def expect_job_run(stubs, state: str, **extra) -> None:
    stubs["emr-serverless"].add_response(
        "get_job_run", job_run(state, **extra), {"applicationId": APP, "jobRunId": JOB}
    )


def test_wait_shows_each_job_state_then_the_billed_price(capsys) -> None:
    stack, stubs = stubbed_stack()
    # 1st poll: the job is not submitted yet (not in the history, no job run of that name).
    expect_job_lookup(stubs, event(1, "ExecutionStarted"))
    stubs["emr-serverless"].add_response("list_job_runs", {"jobRuns": []}, {"applicationId": APP})
    stubs["stepfunctions"].add_response("describe_execution", execution("RUNNING"), {"executionArn": EXECUTION})
    # 2nd poll: submitted and scheduled, then running; 3rd: done.
    expect_job_lookup(stubs, event(1, "ExecutionStarted"), JOB_STARTED)
    expect_job_run(stubs, "SCHEDULED")
    stubs["stepfunctions"].add_response("describe_execution", execution("RUNNING"), {"executionArn": EXECUTION})
    expect_job_run(stubs, "RUNNING")
    stubs["stepfunctions"].add_response("describe_execution", execution("SUCCEEDED"), {"executionArn": EXECUTION})
    expect_job_run(stubs, "SUCCESS", billedResourceUtilization=BILLED)
    live = io.StringIO()
    final = follow.wait(stack, execution("RUNNING", stopDate=None), poll_seconds=0, stream=live, sleep=lambda _: None)
    assert [line.split(", ")[:2] for line in live.getvalue().splitlines()] == [
        ["r9: execution RUNNING", "job not started"],
        ["r9: execution RUNNING", "job SCHEDULED"],
        ["r9: execution RUNNING", "job RUNNING"],
        ["r9: execution SUCCEEDED", "job SUCCESS"],
    ]
    # The summary: the job run once more, and the application's architecture for the price.
    expect_job_lookup(stubs, JOB_STARTED)
    expect_job_run(stubs, "SUCCESS", billedResourceUtilization=BILLED, totalExecutionDurationSeconds=240)
    stubs["emr-serverless"].add_response("get_application", application("ARM64"), {"applicationId": APP})
    assert command._report(stack, final) == Exit.OK
    out = capsys.readouterr().out
    assert "run r9: SUCCEEDED (took 4m12s)" in out and "results: s3://results/runs/r9/" in out
    # ARM at 0.8 x the eu-west-3 x86 rates: 1.5 x 0.050544 + 6 x 0.005512 = $0.109
    assert "billed: 1.500 vCPU-hours, 6.000 GB-hours: about $0.11 at eu-west-3 ARM64 prices" in out
    for stub in stubs.values():
        stub.assert_no_pending_responses()


def test_a_succeeded_run_is_read_from_the_state_machine_output_without_another_call(capsys) -> None:
    """job.id and EMR's record (poll.jobRun, in Step Functions' names) come with the execution; so do the
    errors of its last steps, which do not fail a finished run."""
    stack, stubs = stubbed_stack()
    record = {
        "ApplicationId": APP,
        "JobRunId": JOB,
        "Arn": job_run("SUCCESS")["jobRun"]["arn"],
        "State": "SUCCESS",
        "BilledResourceUtilization": {"VCpuHour": 1.5, "MemoryGbHour": 6.0, "StorageGbHour": 0.0},
    }
    output = {
        "args": {"command": "run", "output": "s3://results/runs/team/", "run_id": "r9"},
        "job": {"id": JOB, "polls": 3, "cancelPolls": 0},
        "poll": {"jobRun": record},
        "stopError": {"Error": "EMRServerless.ValidationException", "Cause": "Application has running jobs"},
    }
    stubs["emr-serverless"].add_response("get_application", application("X86_64"), {"applicationId": APP})
    assert command._report(stack, execution("SUCCEEDED", output=json.dumps(output))) == Exit.OK
    out = capsys.readouterr().out
    assert f"job run {JOB}: SUCCESS" in out and "results: s3://results/runs/team/r9/" in out
    assert "billed: 1.500 vCPU-hours, 6.000 GB-hours: about $0.14 at eu-west-3 X86_64 prices" in out
    assert "warning: the application was not stopped" in out and "Application has running jobs" in out
    for stub in stubs.values():
        stub.assert_no_pending_responses()


def test_a_job_run_given_up_on_has_the_timed_out_exit_code_cause_and_logs(capsys) -> None:
    """The state machine's own limit: it cancels the job run, stops the application and fails JobRunTimeout."""
    stack, stubs = stubbed_stack()
    cause = f"job run {JOB} was still RUNNING after 195 minutes: cancelled"
    gave_up = event(40, "ExecutionFailed", executionFailedEventDetails={"error": runs.JOB_RUN_TIMEOUT, "cause": cause})
    expect_job_lookup(stubs, JOB_STARTED, gave_up)
    expect_job_run(stubs, "CANCELLED", billedResourceUtilization=BILLED, stateDetails="Job run cancelled by user")
    expect_history(stubs, JOB_STARTED, gave_up)
    folder = f"emr-serverless/applications/{APP}/jobs/{JOB}/"
    stubs["s3"].add_response(
        "list_objects_v2",
        {"Contents": [{"Key": folder + "SPARK_DRIVER/stdout.gz", "Size": 20}], "KeyCount": 1},
        {"Bucket": "logs", "Prefix": folder},
    )
    stubs["emr-serverless"].add_response("get_application", application("X86_64"), {"applicationId": APP})
    failed = execution("FAILED", error=runs.JOB_RUN_TIMEOUT, cause=cause)
    assert command._report(stack, failed) == Exit.TIMED_OUT == 4
    out = capsys.readouterr().out
    assert "job run 00fjobrun0000001: CANCELLED (Job run cancelled by user)" in out
    assert f"cause: JobRunTimeout: {cause}" in out and f"logs: s3://logs/{folder}" in out
    assert "about $0.14 at eu-west-3 X86_64 prices" in out


def test_the_job_run_is_found_by_name_when_the_history_does_not_name_it() -> None:
    stack, stubs = stubbed_stack()
    expect_job_lookup(stubs, event(1, "ExecutionStarted"))
    record = job_run("FAILED")["jobRun"]
    other = {key: record[key] for key in ("applicationId", "arn", "createdBy")} | {"id": "00fother", "name": "r8"}
    mine = dict(other, id=JOB, name="r9")
    common = {
        "createdAt": STARTED,
        "updatedAt": STARTED,
        "executionRole": "arn:aws:iam::1:role/j",
        "state": "FAILED",
        "stateDetails": "failed",
        "releaseLabel": "emr-7.10.0",
    }
    stubs["emr-serverless"].add_response(
        "list_job_runs", {"jobRuns": [{**other, **common}, {**mine, **common}]}, {"applicationId": APP}
    )
    assert jobs.job_run_id(stack, execution("FAILED")) == JOB


@pytest.mark.parametrize(
    "status,error,code",
    [
        ("RUNNING", None, Exit.OK),
        ("SUCCEEDED", None, Exit.OK),
        ("FAILED", "JobRunFailed", 1),
        ("FAILED", "InvalidExecutionInput", 1),
        ("ABORTED", None, 1),
        ("FAILED", "JobRunTimeout", 4),  # the state machine gave up on the job run
        ("TIMED_OUT", "States.Timeout", 4),  # the execution's last-resort timeout
    ],
)
def test_each_outcome_has_its_exit_code(status, error, code) -> None:
    assert runs.outcome_code({"status": status, "error": error}) == code


def test_start_transform_maps_to_the_contracts_transform_command() -> None:
    """`--transform RUN --input new/`: command transform with the run's folder, checked by the contract."""
    stack, _ = stubbed_stack()
    request = runs.RunRequest(transform="r1", input="new/")
    body = runs.execution_input(stack, request, "t1")
    assert body == {"command": "transform", "run": "s3://results/runs/r1/", "input": "s3://photos/new/", "run_id": "t1"}
    model = "s3://artifacts/weights/model.weights.h5"
    assert job_arguments(runs.checked(stack, body), model) == [
        "transform",
        "--run=s3://results/runs/r1/",
        "--input=s3://photos/new/",
        "--output=s3://results/runs/",
        "--run-id=t1",
    ]
    assert runs.run_folder(runs.checked(stack, body)) == "s3://results/runs/t1/"


def test_billed_resources_are_priced_where_a_price_is_known() -> None:
    record = job_run("SUCCESS", billedResourceUtilization={**BILLED, "storageGBHour": 2.0})["jobRun"]
    paris = billed(record)  # the region comes from the job run's ARN
    assert paris.usd == pytest.approx(1.5 * 0.06318 + 6 * 0.00689)
    assert "2.000 storage GB-hours (not priced)" in paris.summary()
    stockholm = billed(record, region="eu-north-1")
    assert stockholm.usd is None and "no price known for eu-north-1" in stockholm.summary()
    assert billed(job_run("RUNNING")["jobRun"]) is None  # nothing billed yet
    # job_run.json as the state machine writes it: through an SDK integration, every name capitalised
    recorded = {"Arn": record["arn"], "BilledResourceUtilization": {"VCPUHour": 1.5, "MemoryGBHour": 6.0}}
    assert billed(recorded).usd == paris.usd


def test_a_json_cause_is_reduced_to_its_message() -> None:
    cause = json.dumps({"JobRunId": JOB, "StateDetails": "Job failed: ExitCode: 2. error: no photos"})
    assert runs.readable_cause(cause) == "Job failed: ExitCode: 2. error: no photos"
    assert runs.readable_cause("plain words") == "plain words"
