"""The job-run side of the client with botocore's Stubber: moto models neither the job run's states nor
its billed resources, and the Stubber checks every request and response against the real API model."""

from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.stub import Stubber

from pipeline.cloud import command, jobs, runs
from pipeline.cloud.errors import Exit
from pipeline.cloud.stack import Stack
from pipeline.prices import billed

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


SUBMITTED = event(
    5,
    "TaskSubmitted",
    taskSubmittedEventDetails={
        "resourceType": "emr-serverless",
        "resource": "startJobRun.sync",
        "output": json.dumps({"ApplicationId": APP, "JobRunId": JOB, "Arn": f"arn:aws:emr-serverless:{REGION}:1:x"}),
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


def expect_job_run(stubs, state: str, **extra) -> None:
    stubs["emr-serverless"].add_response(
        "get_job_run", job_run(state, **extra), {"applicationId": APP, "jobRunId": JOB}
    )


def test_wait_shows_each_job_state_then_the_billed_price(capsys) -> None:
    stack, stubs = stubbed_stack()
    # 1st poll: the job is not submitted yet (not in the history, no job run of that name).
    expect_history(stubs, event(1, "ExecutionStarted"))
    stubs["emr-serverless"].add_response("list_job_runs", {"jobRuns": []}, {"applicationId": APP})
    stubs["stepfunctions"].add_response("describe_execution", execution("RUNNING"), {"executionArn": EXECUTION})
    # 2nd poll: submitted and scheduled, then running; 3rd: done.
    expect_history(stubs, event(1, "ExecutionStarted"), SUBMITTED)
    expect_job_run(stubs, "SCHEDULED")
    stubs["stepfunctions"].add_response("describe_execution", execution("RUNNING"), {"executionArn": EXECUTION})
    expect_job_run(stubs, "RUNNING")
    stubs["stepfunctions"].add_response("describe_execution", execution("SUCCEEDED"), {"executionArn": EXECUTION})
    expect_job_run(stubs, "SUCCESS", billedResourceUtilization=BILLED)
    live = io.StringIO()
    final = command.wait(stack, execution("RUNNING", stopDate=None), poll_seconds=0, stream=live, sleep=lambda _: None)
    assert [line.split(", ")[:2] for line in live.getvalue().splitlines()] == [
        ["r9: execution RUNNING", "job not started"],
        ["r9: execution RUNNING", "job SCHEDULED"],
        ["r9: execution RUNNING", "job RUNNING"],
        ["r9: execution SUCCEEDED", "job SUCCESS"],
    ]
    # The summary: the job run once more, and the application's architecture for the price.
    expect_history(stubs, SUBMITTED)
    expect_job_run(stubs, "SUCCESS", billedResourceUtilization=BILLED, totalExecutionDurationSeconds=240)
    stubs["emr-serverless"].add_response("get_application", application("ARM64"), {"applicationId": APP})
    assert command._report(stack, final) == Exit.OK
    out = capsys.readouterr().out
    assert "run r9: SUCCEEDED (took 4m12s)" in out and "results: s3://results/runs/r9/" in out
    # ARM at 0.8 x the eu-west-3 x86 rates: 1.5 x 0.050544 + 6 x 0.005512 = $0.109
    assert "billed: 1.500 vCPU-hours, 6.000 GB-hours: about $0.11 at eu-west-3 ARM64 prices" in out
    for stub in stubs.values():
        stub.assert_no_pending_responses()


def test_a_timed_out_run_has_its_own_exit_code_cause_and_logs(capsys) -> None:
    stack, stubs = stubbed_stack()
    timed_out = event(
        9,
        "ExecutionTimedOut",
        executionTimedOutEventDetails={"error": "States.Timeout", "cause": "The execution timed out"},
    )
    expect_history(stubs, SUBMITTED, timed_out)
    expect_job_run(stubs, "CANCELLED", billedResourceUtilization=BILLED, stateDetails="Job run timed out")
    expect_history(stubs, SUBMITTED, timed_out)
    folder = f"emr-serverless/applications/{APP}/jobs/{JOB}/"
    stubs["s3"].add_response(
        "list_objects_v2",
        {"Contents": [{"Key": folder + "SPARK_DRIVER/stdout.gz", "Size": 20}], "KeyCount": 1},
        {"Bucket": "logs", "Prefix": folder},
    )
    stubs["emr-serverless"].add_response("get_application", application("X86_64"), {"applicationId": APP})
    assert command._report(stack, execution("TIMED_OUT")) == Exit.TIMED_OUT == 4
    out = capsys.readouterr().out
    assert "job run 00fjobrun0000001: CANCELLED (Job run timed out)" in out
    assert "cause: States.Timeout: The execution timed out" in out and f"logs: s3://logs/{folder}" in out
    assert "about $0.14 at eu-west-3 X86_64 prices" in out


def test_the_job_run_is_found_by_name_when_the_history_does_not_name_it() -> None:
    stack, stubs = stubbed_stack()
    expect_history(stubs, event(1, "ExecutionStarted"))
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
    "status,code",
    [("RUNNING", Exit.OK), ("SUCCEEDED", Exit.OK), ("FAILED", 1), ("ABORTED", 1), ("TIMED_OUT", 4)],
)
def test_each_outcome_has_its_exit_code(status, code) -> None:
    assert runs.outcome_code(status) == code


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
