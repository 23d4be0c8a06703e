"""Orchestration: the run-and-stop state machine, its role, its logs, its definition."""

import json
import re
import subprocess

import pytest
from infra_asl import ACCOUNT, logical_id, render, stand_in_names, state_machine

from infra.config import REPO_ROOT
from infra.orchestration import DEFINITION_FILE

ASL_VALIDATOR = REPO_ROOT / "node_modules" / ".bin" / "asl-validator"
EMR_TASKS = {
    "StartApplication": "arn:aws:states:::emr-serverless:startApplication.sync",
    "RunJob": "arn:aws:states:::emr-serverless:startJobRun.sync",
    "StopApplication": "arn:aws:states:::emr-serverless:stopApplication.sync",
    "StopApplicationAfterFailure": "arn:aws:states:::emr-serverless:stopApplication.sync",
}


@pytest.fixture(scope="module")
def definition(synthesized) -> dict:
    names = stand_in_names(synthesized, "00fakeapplication", f"arn:aws:iam::{ACCOUNT}:role/job-role")
    return render(synthesized, names)


def test_definition_is_the_plain_asl_file_with_every_placeholder_substituted(
    synthesized,
) -> None:
    props = state_machine(synthesized)
    assert isinstance(props["DefinitionString"], str)
    placeholders = set(re.findall(r"\$\{(\w+)\}", DEFINITION_FILE.read_text()))
    assert placeholders == set(props["DefinitionSubstitutions"])


def test_run_then_stop_on_success(definition) -> None:
    states = definition["States"]
    assert definition["StartAt"] == "Defaults"
    path, name = [], "Defaults"
    while "Next" in states[name]:
        path.append(name)
        name = states[name]["Next"]
    assert [*path, name] == [
        "Defaults",
        "MergeInputOverDefaults",
        "StartApplication",
        "RunJob",
        "StopApplication",
        "Succeeded",
    ]
    assert states["Succeeded"]["Type"] == "Succeed"
    # A refused stop (another run's job still busy) must not turn a finished job into a
    # failure: the application stops itself once idle.
    (catch,) = states["StopApplication"]["Catch"]
    assert (catch["Next"], catch["ResultPath"]) == ("Succeeded", "$.stopError")


def test_any_failure_or_timeout_stops_the_application_then_fails_with_the_cause(
    definition,
) -> None:
    states = definition["States"]
    for name in ("StartApplication", "RunJob"):
        (catch,) = states[name]["Catch"]
        assert catch == {
            "ErrorEquals": ["States.ALL"],
            "ResultPath": "$.error",
            "Next": "StopApplicationAfterFailure",
        }
    stop = states["StopApplicationAfterFailure"]
    assert stop["Next"] == "Failed"
    assert stop["Catch"][0]["Next"] == "Failed"
    assert stop["Catch"][0]["ResultPath"] != "$.error", "keep the original cause"
    assert states["Failed"] == {
        "Type": "Fail",
        "ErrorPath": "$.error.Error",
        "CausePath": "$.error.Cause",
    }


def test_emr_calls_use_the_optimized_sync_integrations(definition) -> None:
    tasks = {name: state["Resource"] for name, state in definition["States"].items() if state["Type"] == "Task"}
    assert tasks == EMR_TASKS
    for name in tasks:
        assert definition["States"][name]["Parameters"]["ApplicationId"] == "00fakeapplication"


def test_throttling_is_retried_with_backoff(definition) -> None:
    for name in EMR_TASKS:
        retries = definition["States"][name]["Retry"]
        assert any(
            ("EMRServerless.ThrottlingException" in r["ErrorEquals"] or r["ErrorEquals"] == ["States.ALL"])
            and r["BackoffRate"] > 1
            and r["MaxAttempts"] >= 3
            for r in retries
        ), name


def test_timeouts_nest_job_inside_task_inside_execution(definition) -> None:
    run_job = definition["States"]["RunJob"]
    job_seconds = run_job["Parameters"]["ExecutionTimeoutMinutes"] * 60
    assert 0 < job_seconds < run_job["TimeoutSeconds"] < definition["TimeoutSeconds"]
    assert run_job["Parameters"]["ExecutionTimeoutMinutes"] == 180


def test_job_run_parameters(definition) -> None:
    parameters = definition["States"]["RunJob"]["Parameters"]
    assert parameters["ExecutionRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/job-role"
    driver = parameters["JobDriver"]["SparkSubmit"]
    assert re.fullmatch(r"s3://[a-z0-9-]+/job/[0-9a-f]{64}/entrypoint\.py", driver["EntryPoint"])
    assert "spark.archives=s3://" in driver["SparkSubmitParameters"]
    arguments = driver["EntryPointArguments.$"]
    for flag in (
        "--input",
        "--output",
        "--weights",
        "--image-size",
        "--variance",
        "--run-id",
        "--apply",
    ):
        assert f"'{flag}'" in arguments
    assert arguments.startswith("States.Array('run', ")
    log_uri = parameters["ConfigurationOverrides"]["MonitoringConfiguration"]["S3MonitoringConfiguration"]["LogUri"]
    assert log_uri.endswith("/emr-serverless/")


def test_defaults_cover_every_job_argument(definition) -> None:
    defaults = definition["States"]["Defaults"]["Parameters"]["defaults"]
    assert defaults["input"].endswith("/train/")
    assert defaults["output"].endswith("/runs/")
    assert re.fullmatch(r"s3://[a-z0-9-]+/model/[0-9a-f]{64}/mobilenet_v2_imagenet\.tflite", defaults["weights"])
    assert (defaults["image_size"], defaults["variance"], defaults["apply"]) == (
        "224",
        "0.95",
        "",
    )
    assert defaults["run_id.$"] == "$$.Execution.Name"


def test_execution_logs_and_traces(synthesized) -> None:
    props = state_machine(synthesized)
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert props["TracingConfiguration"] == {"Enabled": True}
    log_group_id = logical_id(synthesized, "AWS::Logs::LogGroup", "OrchestrationExecutionLogs")
    log_group = synthesized.resources[log_group_id]
    assert log_group["Properties"]["RetentionInDays"] == 30
    assert log_group["DeletionPolicy"] == "Delete"


def state_machine_policy(synthesized) -> list[dict]:
    policy = synthesized.resources[logical_id(synthesized, "AWS::IAM::Policy", "OrchestrationStateMachineRole")]
    return policy["Properties"]["PolicyDocument"]["Statement"]


def test_role_calls_exactly_the_integrations_on_this_application(synthesized) -> None:
    statements = {s.get("Sid"): s for s in state_machine_policy(synthesized)}
    application_id = logical_id(synthesized, "AWS::EMRServerless::Application", "Compute")
    application_arn = {"Fn::GetAtt": [application_id, "Arn"]}
    assert statements["ManageApplication"]["Action"] == [
        "emr-serverless:GetApplication",
        "emr-serverless:StartApplication",
        "emr-serverless:StartJobRun",
        "emr-serverless:StopApplication",
    ]
    assert statements["ManageApplication"]["Resource"] == application_arn
    assert statements["WatchJobRuns"]["Action"] == [
        "emr-serverless:CancelJobRun",
        "emr-serverless:GetJobRun",
    ]
    assert statements["WatchJobRuns"]["Resource"] == {"Fn::Join": ["", [application_arn, "/jobruns/*"]]}
    rules = json.dumps(statements["SyncIntegrationRules"]["Resource"])
    assert "rule/StepFunctionsGetEventsForEMRServerlessApplicationRule" in rules
    assert "rule/StepFunctionsGetEventsForEMRServerlessJobRule" in rules
    assert "*" not in rules


def test_role_passes_exactly_the_job_role_to_emr_serverless(synthesized) -> None:
    pass_role = [s for s in state_machine_policy(synthesized) if "iam:PassRole" in s["Action"]]
    (statement,) = pass_role
    assert statement["Action"] == "iam:PassRole"
    role_id = logical_id(synthesized, "AWS::IAM::Role", "ComputeJobRole")
    assert statement["Resource"] == {"Fn::GetAtt": [role_id, "Arn"]}
    assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "emr-serverless.amazonaws.com"}}


def test_only_log_delivery_and_tracing_use_a_wildcard_resource(synthesized) -> None:
    for statement in state_machine_policy(synthesized):
        if statement["Resource"] == "*":
            actions = statement["Action"]
            actions = [actions] if isinstance(actions, str) else actions
            assert all(a.startswith(("logs:", "xray:")) for a in actions), statement


def test_definition_passes_asl_validator(definition, tmp_path) -> None:
    if not ASL_VALIDATOR.exists():
        pytest.fail("node_modules/.bin/asl-validator is missing: run `npm ci` at the repo root")
    definition_file = tmp_path / "state_machine.json"
    definition_file.write_text(json.dumps(definition))
    result = subprocess.run(
        [str(ASL_VALIDATOR), "--json-path", str(definition_file)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
