"""Execute the synthesized state machine in moto (in-process, no network).

moto cannot run the optimized `emr-serverless:*.sync` integrations, so only the
Resource of the four EMR Serverless tasks is swapped for the equivalent AWS SDK
integration, which moto runs against its EMR Serverless mock with the very
Parameters the definition builds. Everything else (defaults, merge, intrinsics,
retries, catches, the Fail state) is the generated definition.

moto's port of the ASL interpreter leaves out one step of the real aws-sdk
integrations: turning the PascalCase parameter names of ASL into the API's
camelCase members. `api_cased` puts that step back for these tests.
"""

from __future__ import annotations

import json
import time

import boto3
import pytest
from infra_asl import ACCOUNT, REGION, render, stand_in_names
from moto import mock_aws
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service_aws_sdk,
)

OTHER_ACCOUNT = "210987654321"


def sdk_stand_ins(definition: dict) -> dict:
    for state in definition["States"].values():
        resource = state.get("Resource", "")
        if resource.startswith("arn:aws:states:::emr-serverless:"):
            api = resource.removeprefix("arn:aws:states:::emr-serverless:").removesuffix(".sync")
            # moto names the SDK service as boto3 does (Step Functions says emrserverless).
            state["Resource"] = f"arn:aws:states:::aws-sdk:emr-serverless:{api}"
    return definition


def api_cased(value: object) -> object:
    """{"JobDriver": {"SparkSubmit": ...}} -> {"jobDriver": {"sparkSubmit": ...}}, keys only."""
    if isinstance(value, dict):
        return {key[0].lower() + key[1:]: api_cased(item) for key, item in value.items()}
    return value


def normalise_parameters(_service, parameters: dict, *_args, **_kwargs) -> None:
    cased = api_cased(parameters)
    parameters.clear()
    parameters.update(cased)


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setattr(
        state_task_service_aws_sdk.StateTaskServiceAwsSdk,
        "_normalise_parameters",
        normalise_parameters,
    )
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield {name: boto3.client(name, region_name=REGION) for name in ("stepfunctions", "emr-serverless", "iam")}


def run(aws, synthesized, job_role_account: str, execution_input: dict) -> dict:
    emr = aws["emr-serverless"]
    application_id = emr.create_application(name="pipeline", releaseLabel="emr-7.10.0", type="SPARK", clientToken="t")[
        "applicationId"
    ]
    role_arn = aws["iam"].create_role(
        RoleName="sfn",
        AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
    )["Role"]["Arn"]
    names = stand_in_names(synthesized, application_id, f"arn:aws:iam::{job_role_account}:role/job-role")
    definition = sdk_stand_ins(render(synthesized, names))
    machine_arn = aws["stepfunctions"].create_state_machine(
        name="run", definition=json.dumps(definition), roleArn=role_arn
    )["stateMachineArn"]
    execution_arn = aws["stepfunctions"].start_execution(
        stateMachineArn=machine_arn, name="run-42", input=json.dumps(execution_input)
    )["executionArn"]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        execution = aws["stepfunctions"].describe_execution(executionArn=execution_arn)
        if execution["status"] != "RUNNING":
            break
        time.sleep(0.2)
    history = aws["stepfunctions"].get_execution_history(executionArn=execution_arn)["events"]
    entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
    return {
        "execution": execution,
        "entered": entered,
        "application": emr.get_application(applicationId=application_id)["application"],
        "emr": emr,
    }


def job_arguments(result: dict) -> dict[str, str]:
    """The entry point arguments of the one job run, as {flag: value} after "run"."""
    emr = result["emr"]
    (job_run,) = emr.list_job_runs(applicationId=result["application"]["applicationId"])["jobRuns"]
    arguments = emr.get_job_run(applicationId=job_run["applicationId"], jobRunId=job_run["id"])["jobRun"]["jobDriver"][
        "sparkSubmit"
    ]["entryPointArguments"]
    assert arguments[0] == "run"
    return dict(zip(arguments[1::2], arguments[2::2], strict=True))


def test_defaults_only_run_submits_the_job_and_stops_the_application(aws, synthesized) -> None:
    result = run(aws, synthesized, ACCOUNT, {})
    assert result["execution"]["status"] == "SUCCEEDED", result["execution"]
    assert result["entered"][-3:] == ["RunJob", "StopApplication", "Succeeded"]
    assert result["application"]["state"] == "STOPPED"
    options = job_arguments(result)
    assert options["--input"].endswith("/train/")
    assert options["--output"].endswith("/runs/")
    assert options["--weights"].endswith("/mobilenet_v2_imagenet.tflite")
    assert (options["--image-size"], options["--variance"]) == ("224", "0.95")
    assert (options["--run-id"], options["--apply"]) == ("run-42", "")


def test_execution_input_overrides_defaults_and_adds_apply_sets(aws, synthesized) -> None:
    result = run(
        aws,
        synthesized,
        ACCOUNT,
        {
            "input": "s3://photos/train/",
            "image_size": 160,
            "variance": 0.9,
            "apply": "s3://photos/validation/,s3://photos/test/",
        },
    )
    assert result["execution"]["status"] == "SUCCEEDED", result["execution"]
    options = job_arguments(result)
    assert options["--input"] == "s3://photos/train/"
    assert (options["--image-size"], options["--variance"]) == ("160", "0.9")
    assert options["--apply"] == "s3://photos/validation/,s3://photos/test/"
    assert options["--output"].endswith("/runs/")


def test_a_refused_job_stops_the_application_and_fails_with_the_cause(aws, synthesized) -> None:
    result = run(aws, synthesized, OTHER_ACCOUNT, {})
    execution = result["execution"]
    assert execution["status"] == "FAILED"
    assert result["entered"][-3:] == ["RunJob", "StopApplicationAfterFailure", "Failed"]
    assert result["application"]["state"] == "STOPPED"
    # The Fail state reports the job's own error and cause, not the stop's.
    assert execution["error"]
    assert "Cross-account pass role is not allowed" in execution["cause"]
