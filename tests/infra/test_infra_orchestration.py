"""Orchestration: the state machine's definition, name, role, trust and logs."""

import json
import re
import subprocess

import botocore.session
import pytest
from aws_cdk import App, Stack
from aws_cdk.assertions import Template
from infra_asl import ACCOUNT, logical_id, render, stand_in_names, state_machine
from test_infra_nag_per_construct import with_orchestration

from infra import orchestration
from infra.config import REPO_ROOT, AppConfig
from infra.orchestration import (
    DEFINITION_FILE,
    MARKER,
    OPTIMIZED_EMR_PARAMETERS,
    render_definition,
    state_machine_name,
)

OPTIMIZED = "arn:aws:states:::emr-serverless:"
ASL_VALIDATOR = REPO_ROOT / "node_modules" / ".bin" / "asl-validator"
EMR_TASKS = {
    "StartApplication": "arn:aws:states:::emr-serverless:startApplication.sync",
    "StartJobRun": "arn:aws:states:::aws-sdk:emrserverless:startJobRun",
    "GetJobRun": "arn:aws:states:::aws-sdk:emrserverless:getJobRun",
    "CancelJobRun": "arn:aws:states:::emr-serverless:cancelJobRun",
    "GetCancelledJobRun": "arn:aws:states:::aws-sdk:emrserverless:getJobRun",
    "ReadJobRunRecord": "arn:aws:states:::aws-sdk:emrserverless:getJobRun",
    "StopApplicationAfterFailure": "arn:aws:states:::emr-serverless:stopApplication.sync",
    "StopApplication": "arn:aws:states:::emr-serverless:stopApplication.sync",
}


@pytest.fixture(scope="module")
def definition(synthesized) -> dict:
    names = stand_in_names(synthesized, "00fakeapplication", f"arn:aws:iam::{ACCOUNT}:role/job-role")
    return render(synthesized, names)


def successors(state: dict) -> list[str]:
    nexts = [state.get("Next"), state.get("Default")]
    nexts += [choice["Next"] for choice in state.get("Choices", [])]
    nexts += [catch["Next"] for catch in state.get("Catch", [])]
    return [name for name in nexts if name]


def reachable(definition: dict, start: str, stop: set[str]) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        if name in seen or name in stop:
            continue
        seen.add(name)
        todo += successors(definition["States"][name])
    return seen


def test_definition_is_the_asl_file_with_every_placeholder_substituted(synthesized) -> None:
    props = state_machine(synthesized)
    assert isinstance(props["DefinitionString"], str)
    assert MARKER not in props["DefinitionString"]
    placeholders = set(re.findall(r"\$\{(\w+)\}", props["DefinitionString"]))
    assert placeholders == set(props["DefinitionSubstitutions"])
    assert set(re.findall(r"\$\{(\w+)\}", DEFINITION_FILE.read_text())) <= placeholders


def test_the_input_is_checked_before_anything_starts(definition) -> None:
    before = reachable(definition, definition["StartAt"], stop={"StartApplication"})
    assert {"SplitOutput", "KeepRecordKey"} <= before
    kinds = {definition["States"][name]["Type"] for name in before}
    assert kinds == {"Pass", "Choice", "Fail"}, "no Task (no call, no cost) before StartApplication"
    refusals = [definition["States"][n] for n in before if definition["States"][n]["Type"] == "Fail"]
    assert len(refusals) > 20
    assert all(r["Error"] == "InvalidExecutionInput" and ": " in r["Cause"] for r in refusals)


def compared_variables(rule: dict) -> set[str]:
    """Variables a rule compares (IsPresent is no comparison: it is safe on a missing path)."""
    found = {rule["Variable"]} if "Variable" in rule and "IsPresent" not in rule else set()
    for operand in rule.get("And", []) + rule.get("Or", []) + ([rule["Not"]] if "Not" in rule else []):
        found |= compared_variables(operand)
    return found


def test_no_rule_compares_a_path_an_and_only_guards(definition) -> None:
    """Step Functions fails a comparison on a missing path; `And` is not promised to short-circuit."""

    def walk(rule: dict) -> None:
        if "And" in rule:
            guarded = {op["Variable"] for op in rule["And"] if "IsPresent" in op}
            assert not guarded & set().union(*(compared_variables(op) for op in rule["And"])), rule
        for operand in rule.get("And", []) + rule.get("Or", []) + ([rule["Not"]] if "Not" in rule else []):
            walk(operand)

    for state in definition["States"].values():
        for rule in state.get("Choices", []):
            walk(rule)


def test_success_path(definition) -> None:
    states = definition["States"]
    path, name = [], "StartApplication"
    while "Next" in states[name]:
        path.append(name)
        name = states[name]["Next"]
    assert [*path, name] == ["StartApplication", "StartJobRun", "WaitForJobRun", "GetJobRun", "CheckJobRun"]
    (success,) = [c for c in states["CheckJobRun"]["Choices"] if c.get("StringEquals") == "SUCCESS"]
    assert reachable(definition, success["Next"], stop=set()) >= {"RecordJobRun", "StopApplication", "Succeeded"}
    # A refused stop (another run's job still busy) does not fail a finished job.
    (catch,) = states["StopApplication"]["Catch"]
    assert (catch["Next"], catch["ResultPath"]) == ("Succeeded", "$.stopError")


def test_every_failure_after_the_job_starts_cancels_it_then_stops(definition) -> None:
    states = definition["States"]
    # From the moment the job run id is known, no way to Failed avoids the stop.
    after_start = reachable(definition, "WaitForJobRun", stop={"StopApplicationAfterFailure", "ReadJobRunRecord"})
    assert "Failed" not in after_start
    assert states["GetJobRun"]["Catch"][0]["Next"] == "CancelJobRun"
    assert states["JobRunTimedOut"]["Next"] == "CancelJobRun"
    assert states["CancelJobRun"]["Catch"][0]["Next"] == "WaitForCancellation"
    stop = states["StopApplicationAfterFailure"]
    assert stop["Next"] == "Failed" and stop["Catch"][0]["Next"] == "Failed"
    assert stop["Catch"][0]["ResultPath"] != "$.error", "keep the first cause"
    assert stop["Retry"][0]["ErrorEquals"] == ["States.ALL"] and stop["Retry"][0]["MaxAttempts"] >= 5
    assert states["Failed"] == {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}


def test_an_application_that_did_not_start_is_not_stopped(definition) -> None:
    states = definition["States"]
    (catch,) = states["StartApplication"]["Catch"]
    assert states[catch["Next"]] == {"Type": "Fail", "ErrorPath": "$.error.Error", "CausePath": "$.error.Cause"}


def test_emr_calls_and_their_integrations(definition) -> None:
    tasks = {name: state["Resource"] for name, state in definition["States"].items() if state["Type"] == "Task"}
    assert {k: v for k, v in tasks.items() if "s3:" not in v} == EMR_TASKS
    for name in EMR_TASKS:
        assert definition["States"][name]["Parameters"]["ApplicationId"] == "00fakeapplication"
        retries = definition["States"][name]["Retry"]
        assert any(
            (
                {"EMRServerless.ThrottlingException", "EmrServerless.ThrottlingException"} & set(r["ErrorEquals"])
                or r["ErrorEquals"] == ["States.ALL"]
            )
            and r["BackoffRate"] > 1
            and r["MaxAttempts"] >= 3
            for r in retries
        ), name


def test_limits_nest_job_inside_polling_inside_execution(definition) -> None:
    states = definition["States"]
    job_seconds = states["StartJobRun"]["Parameters"]["ExecutionTimeoutMinutes"] * 60
    assert job_seconds == AppConfig().job_timeout_minutes * 60
    (limit,) = [c for c in states["CheckJobRun"]["Choices"] if "NumericGreaterThanEquals" in c]
    polling_seconds = limit["NumericGreaterThanEquals"] * states["WaitForJobRun"]["Seconds"]
    assert job_seconds < polling_seconds < definition["TimeoutSeconds"]
    assert states["WaitForJobRun"]["Seconds"] == states["WaitForCancellation"]["Seconds"] == orchestration.POLL_SECONDS


def test_job_run_parameters(definition) -> None:
    parameters = definition["States"]["StartJobRun"]["Parameters"]
    assert parameters["ExecutionRoleArn"] == f"arn:aws:iam::{ACCOUNT}:role/job-role"
    assert parameters["ClientToken.$"] == "$.job.token"
    assert parameters["Name.$"] == "$$.Execution.Name"
    driver = parameters["JobDriver"]["SparkSubmit"]
    assert re.fullmatch(r"s3://[a-z0-9-]+/job/[0-9a-f]{64}/entrypoint\.py", driver["EntryPoint"])
    assert "spark.archives=s3://" in driver["SparkSubmitParameters"]
    assert driver["EntryPointArguments.$"] == "$.job.arguments"
    monitoring = parameters["ConfigurationOverrides"]["MonitoringConfiguration"]
    assert monitoring["S3MonitoringConfiguration"]["LogUri"].endswith("/emr-serverless/")
    assert monitoring["ManagedPersistenceMonitoringConfiguration"] == {"Enabled": False}


SDK = "arn:aws:states:::aws-sdk:emrserverless:"
EMR_SERVERLESS = botocore.session.get_session().get_service_model("emr-serverless")


def sdk_member(shape, key: str):
    """The botocore member an AWS SDK integration key names: its PascalCase (`Name.$`: a path to it)."""
    name = key.removesuffix(".$")
    members = {member[0].upper() + member[1:]: value for member, value in shape.members.items()}
    assert name in members, f"{key} is not a member of {shape.name}: {sorted(members)}"
    return members[name]


def check_against_shape(value, shape, where: str) -> None:
    """Every nested key is a member of the API's input shape, every literal of its type."""
    if shape.type_name == "structure":
        assert isinstance(value, dict), where
        for key, item in value.items():
            member = sdk_member(shape, key)
            if not key.endswith(".$"):
                check_against_shape(item, member, f"{where}.{key}")
        return
    expected = {"string": str, "long": int, "integer": int, "boolean": bool, "list": list, "map": dict}
    assert isinstance(value, expected[shape.type_name]), f"{where}: {value!r} is no {shape.type_name}"
    if shape.type_name in {"long", "integer"}:
        assert not isinstance(value, bool), where


@pytest.mark.parametrize("persistence", [False, True])
def test_start_job_run_sends_only_members_of_the_apis_request(persistence, synthesized) -> None:
    """The AWS SDK integration takes the API's own request (botocore's model, offline), keys in PascalCase."""
    states = json.loads(render_definition(AppConfig(emr_managed_persistence=persistence)))["States"]
    tasks = {name: state for name, state in states.items() if state.get("Resource", "").startswith(SDK)}
    assert {name: state["Resource"].removeprefix(SDK) for name, state in tasks.items()} == {
        "StartJobRun": "startJobRun",
        "GetJobRun": "getJobRun",
        "GetCancelledJobRun": "getJobRun",
        "ReadJobRunRecord": "getJobRun",
    }
    for name, state in tasks.items():
        action = state["Resource"].removeprefix(SDK)
        operation = EMR_SERVERLESS.operation_model(action[0].upper() + action[1:])
        check_against_shape(state["Parameters"], operation.input_shape, name)
        required = {m[0].upper() + m[1:] for m in operation.input_shape.required_members}
        assert required <= {key.removesuffix(".$") for key in state["Parameters"]}, name


def test_optimized_emr_tasks_carry_only_what_their_page_shows(definition) -> None:
    """Step Functions refuses, at creation, a field its optimized integration's model lacks."""
    optimized = [s for s in definition["States"].values() if s.get("Resource", "").startswith(OPTIMIZED)]
    assert {s["Resource"] for s in optimized} == set(OPTIMIZED_EMR_PARAMETERS)
    for state in optimized:
        keys = {key.removesuffix(".$") for key in state["Parameters"]}
        assert keys <= set(OPTIMIZED_EMR_PARAMETERS[state["Resource"]]), state


# `ServiceName.ExceptionName`, both in PascalCase (AWS SDK service integrations page): EmrServerless by that
# rule; the page's own spelling of this service could not be read offline, so EMRServerless is listed too.
SDK_ERROR_PREFIXES = ("EmrServerless.", "EMRServerless.")


def test_sdk_task_errors_are_named_after_the_service_and_the_apis_exceptions(definition) -> None:
    """The exceptions are the API's, plus the throttling every API may answer, each under both spellings."""
    for name, state in definition["States"].items():
        if not state.get("Resource", "").startswith(SDK):
            continue
        action = state["Resource"].removeprefix(SDK)
        operation = EMR_SERVERLESS.operation_model(action[0].upper() + action[1:])
        exceptions = {error.name for error in operation.error_shapes} | {"ThrottlingException"}
        for handler in state.get("Retry", []) + state.get("Catch", []):
            named = {e for e in handler["ErrorEquals"] if not e.startswith("States.")}
            bare = {e.split(".", 1)[1] for e in named}
            assert bare <= exceptions, (name, named)
            assert named == {prefix + e for prefix in SDK_ERROR_PREFIXES for e in bare}, (name, named)


def test_job_run_looks_keep_only_bounded_fields_of_emrs_record(definition) -> None:
    """Polls keep State and StateDetails (required in every JobRun); the final record adds ids, times,
    billed resources and the log location, none of which carries the input (the job's arguments)."""
    job_run = EMR_SERVERLESS.shape_for("JobRun")
    required = {m[0].upper() + m[1:] for m in job_run.required_members}
    for name in ("GetJobRun", "GetCancelledJobRun"):
        selector = definition["States"][name]["ResultSelector"]
        assert selector == {"State.$": "$.JobRun.State", "StateDetails.$": "$.JobRun.StateDetails"}
        assert {"State", "StateDetails"} <= required
    record = definition["States"]["ReadJobRunRecord"]["ResultSelector"]
    for key, path in record.items():
        if key.endswith(".$"):
            assert path == f"$.JobRun.{key.removesuffix('.$')}"
            sdk_member(job_run, key)
    assert not {"JobDriver.$", "Name.$", "Tags.$", "NetworkConfiguration.$"} & set(record)
    log_uri = record["ConfigurationOverrides"]["MonitoringConfiguration"]["S3MonitoringConfiguration"]["LogUri.$"]
    assert log_uri == "$.JobRun.ConfigurationOverrides.MonitoringConfiguration.S3MonitoringConfiguration.LogUri"


def test_managed_persistence_is_a_setting() -> None:
    on = json.loads(render_definition(AppConfig(emr_managed_persistence=True)))
    monitoring = on["States"]["StartJobRun"]["Parameters"]["ConfigurationOverrides"]["MonitoringConfiguration"]
    assert monitoring["ManagedPersistenceMonitoringConfiguration"] == {"Enabled": True}


def test_defaults_come_from_the_context(definition) -> None:
    defaults = definition["States"]["ReadInput"]["Parameters"]["defaults"]
    assert defaults["input"].endswith("/train/")
    assert defaults["output"].endswith("/runs/")
    assert (defaults["command"], defaults["image_size"], defaults["variance"]) == ("run", 224, 0.95)
    assert defaults["run_id.$"] == "$$.Execution.Name"
    model = definition["States"]["ReadInput"]["Parameters"]["model"]
    assert re.fullmatch(r"s3://[a-z0-9-]+/model/[0-9a-f]{64}/mobilenet_v2_imagenet\.tflite", model)


def test_execution_logs_leave_out_execution_data_by_default(synthesized, variant_stack) -> None:
    props = state_machine(synthesized)
    assert props["LoggingConfiguration"]["Level"] == "ALL"
    assert props["LoggingConfiguration"]["IncludeExecutionData"] is False
    assert props["TracingConfiguration"] == {"Enabled": True}
    log_group = synthesized.resources[logical_id(synthesized, "AWS::Logs::LogGroup", "OrchestrationExecutionLogs")]
    assert log_group["Properties"]["RetentionInDays"] == 30
    assert log_group["DeletionPolicy"] == "Delete"


def test_execution_data_in_the_logs_is_a_setting(variant_stack) -> None:
    stack, config = variant_stack(log_execution_data="true")
    with_orchestration(stack, config)
    (machine,) = Template.from_stack(stack).find_resources("AWS::StepFunctions::StateMachine").values()
    assert machine["Properties"]["LoggingConfiguration"]["IncludeExecutionData"] is True


def test_the_name_comes_from_the_stack(synthesized) -> None:
    assert state_machine(synthesized)["StateMachineName"] == "FruitsPipeline-run"
    with pytest.raises(ValueError, match="too long"):
        state_machine_name(Stack(App(), "S" * 77))


def state_machine_role(synthesized) -> dict:
    return synthesized.resources[logical_id(synthesized, "AWS::IAM::Role", "OrchestrationStateMachineRole")]


def test_the_role_is_trusted_by_this_state_machine_only(synthesized) -> None:
    (statement,) = state_machine_role(synthesized)["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert statement["Principal"] == {"Service": "states.amazonaws.com"}
    assert statement["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}
    source = json.dumps(statement["Condition"]["ArnEquals"]["aws:SourceArn"])
    assert ":stateMachine:FruitsPipeline-run" in source
    assert "*" not in source


def state_machine_policy(synthesized) -> list[dict]:
    policy = synthesized.resources[logical_id(synthesized, "AWS::IAM::Policy", "OrchestrationStateMachineRole")]
    return policy["Properties"]["PolicyDocument"]["Statement"]


def test_role_calls_exactly_the_states_apis_on_this_application(synthesized) -> None:
    statements = {s.get("Sid"): s for s in state_machine_policy(synthesized)}
    application_arn = {"Fn::GetAtt": [logical_id(synthesized, "AWS::EMRServerless::Application", "Compute"), "Arn"]}
    assert statements["ManageApplication"]["Action"] == [
        "emr-serverless:GetApplication",
        "emr-serverless:StartApplication",
        "emr-serverless:StartJobRun",
        "emr-serverless:StopApplication",
    ]
    assert statements["ManageApplication"]["Resource"] == application_arn
    assert statements["WatchJobRuns"]["Action"] == ["emr-serverless:CancelJobRun", "emr-serverless:GetJobRun"]
    assert statements["WatchJobRuns"]["Resource"] == {"Fn::Join": ["", [application_arn, "/jobruns/*"]]}
    rule = json.dumps(statements["SyncIntegrationRule"]["Resource"])
    assert "rule/StepFunctionsGetEventsForEMRServerlessApplicationRule" in rule and "*" not in rule
    results_arn = {"Fn::GetAtt": [logical_id(synthesized, "AWS::S3::Bucket", "StorageResultsBucket"), "Arn"]}
    assert statements["RecordJobRun"]["Action"] == "s3:PutObject"
    assert statements["RecordJobRun"]["Resource"] == {"Fn::Join": ["", [results_arn, "/runs/*/job_run.json"]]}


def test_role_passes_exactly_the_job_role_to_emr_serverless(synthesized) -> None:
    (statement,) = [s for s in state_machine_policy(synthesized) if "iam:PassRole" in s["Action"]]
    assert statement["Action"] == "iam:PassRole"
    assert statement["Resource"] == {"Fn::GetAtt": [logical_id(synthesized, "AWS::IAM::Role", "ComputeJobRole"), "Arn"]}
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


def test_role_allows_the_api_of_every_task(synthesized, definition) -> None:
    """AWS SDK integrations need the API's own action; the optimized .sync ones also GetApplication
    (and their EventBridge rule); StartJobRun also passes the job role."""
    allowed = set()
    for statement in state_machine_policy(synthesized):
        actions = statement["Action"]
        allowed |= {actions} if isinstance(actions, str) else set(actions)
    needed = {"iam:PassRole"}
    for state in definition["States"].values():
        resource = state.get("Resource", "")
        if resource.startswith(SDK):
            action = resource.removeprefix(SDK)
            needed.add(f"emr-serverless:{action[0].upper()}{action[1:]}")
        elif resource.startswith(OPTIMIZED):
            action = resource.removeprefix(OPTIMIZED).removesuffix(".sync")
            needed.add(f"emr-serverless:{action[0].upper()}{action[1:]}")
            if resource.endswith(".sync"):
                needed |= {"emr-serverless:GetApplication", "events:PutRule", "events:PutTargets"}
                needed.add("events:DescribeRule")
        elif resource:
            assert resource == "arn:aws:states:::aws-sdk:s3:putObject"
            needed.add("s3:PutObject")
    assert needed <= allowed, needed - allowed
    assert "emr-serverless:StartJobRun" in needed


@pytest.mark.parametrize("encryption", ["s3", "kms"])
def test_job_logs_carry_the_data_key_wherever_their_place_is_named(encryption: str) -> None:
    """The job repeats the application's LogUri; with a data key it repeats the key too, so the logs
    stay encrypted whether EMR Serverless merges the two settings field by field or not."""
    states = json.loads(render_definition(AppConfig(encryption=encryption)))["States"]
    logs = states["StartJobRun"]["Parameters"]["ConfigurationOverrides"]["MonitoringConfiguration"]
    expected = {"LogUri": "${LogUri}"} | ({"EncryptionKeyArn": "${LogKeyArn}"} if encryption == "kms" else {})
    assert logs["S3MonitoringConfiguration"] == expected
