"""StopOnDelete: the custom resource that stops the application before CloudFormation deletes it."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import boto3
import pytest
from aws_cdk import aws_lambda as lambda_
from infra_asl import ACCOUNT, REGION, logical_id
from moto import mock_aws
from sfn_moto import APPLICATION_ID, EmrJobs, emr_backend

from infra import stop_on_delete
from infra.handlers import stop_application
from infra.handlers.stop_application import POLL_SECONDS, StillBusy, Stopper

JOB_ROLE = f"arn:aws:iam::{ACCOUNT}:role/job-role"


def resource_of(synthesized, resource_type: str, prefix: str) -> dict:
    return synthesized.resources[logical_id(synthesized, resource_type, prefix)]


def test_the_custom_resource_names_the_application_and_the_state_machine(synthesized) -> None:
    (resource,) = synthesized.template.find_resources("Custom::StopEmrServerlessApplication").values()
    properties = resource["Properties"]
    application = logical_id(synthesized, "AWS::EMRServerless::Application", "Compute")
    assert properties["ApplicationId"] == {"Fn::GetAtt": [application, "ApplicationId"]}
    assert properties["StateMachineArn"] == {"Ref": logical_id(synthesized, "AWS::StepFunctions::StateMachine", "")}
    handler = logical_id(synthesized, "AWS::Lambda::Function", "OrchestrationStopOnDeleteHandler")
    assert properties["ServiceToken"] == {"Fn::GetAtt": [handler, "Arn"]}
    assert properties["ServiceTimeout"] == "960"
    # Deleted before what it references (application, state machine, function), so it runs first.
    assert resource["DeletionPolicy"] == "Delete"


def test_the_function_runs_after_its_permissions_and_logs_exist(synthesized) -> None:
    function = resource_of(synthesized, "AWS::Lambda::Function", "OrchestrationStopOnDeleteHandler")
    policy = logical_id(synthesized, "AWS::IAM::Policy", "OrchestrationStopOnDeleteRole")
    assert policy in function["DependsOn"], "deleted after the function, so the delete-time call has its rights"
    log_group = logical_id(synthesized, "AWS::Logs::LogGroup", "OrchestrationStopOnDeleteLogs")
    assert function["Properties"]["LoggingConfig"]["LogGroup"] == {"Ref": log_group}
    assert function["Properties"]["Timeout"] == 900
    assert function["Properties"]["Handler"] == stop_on_delete.HANDLER
    logs = synthesized.resources[log_group]
    assert (logs["Properties"]["RetentionInDays"], logs["DeletionPolicy"]) == (30, "Delete")


def test_the_runtime_is_the_newest_python_of_aws_cdk_lib(synthesized) -> None:
    pythons = [getattr(lambda_.Runtime, n) for n in dir(lambda_.Runtime) if n.startswith("PYTHON_3_")]
    newest = max(pythons, key=lambda runtime: int(runtime.name.split(".")[1]))
    function = resource_of(synthesized, "AWS::Lambda::Function", "OrchestrationStopOnDeleteHandler")
    assert function["Properties"]["Runtime"] == newest.name == stop_on_delete.RUNTIME.name


def test_the_handler_may_touch_this_application_and_state_machine_only(synthesized) -> None:
    policy = resource_of(synthesized, "AWS::IAM::Policy", "OrchestrationStopOnDeleteRole")
    statements = {s.get("Sid"): s for s in policy["Properties"]["PolicyDocument"]["Statement"]}
    application = {"Fn::GetAtt": [logical_id(synthesized, "AWS::EMRServerless::Application", "Compute"), "Arn"]}
    machine = {"Ref": logical_id(synthesized, "AWS::StepFunctions::StateMachine", "")}
    assert statements["ListExecutions"]["Action"] == "states:ListExecutions"
    assert statements["ListExecutions"]["Resource"] == machine
    assert statements["StopExecutions"]["Action"] == "states:StopExecution"
    assert json.dumps(statements["StopExecutions"]["Resource"]).endswith(':execution:FruitsPipeline-run:*"]]}')
    assert statements["StopApplication"]["Action"] == [
        "emr-serverless:GetApplication",
        "emr-serverless:ListJobRuns",
        "emr-serverless:StopApplication",
    ]
    assert statements["StopApplication"]["Resource"] == application
    assert statements["CancelJobRuns"]["Action"] == "emr-serverless:CancelJobRun"
    assert statements["CancelJobRuns"]["Resource"] == {"Fn::Join": ["", [application, "/jobruns/*"]]}
    logs = [s for s in statements.values() if s["Action"][0].startswith("logs:")]
    assert len(logs) == 1 and logs[0]["Resource"] != "*"
    assert len(statements) == 5


class Clock:
    """Time that passes only when the handler sleeps."""

    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def emr(monkeypatch):
    jobs = EmrJobs(script=["RUNNING"], cancelling_polls=2)
    with mock_aws():
        jobs.install(monkeypatch)
        client = boto3.client("emr-serverless", region_name=REGION)
        client.create_application(name="pipeline", releaseLabel="emr-7.10.0", type="SPARK", clientToken="t")
        yield SimpleNamespace(client=client, jobs=jobs)


def start_job(emr) -> str:
    return emr.client.start_job_run(
        applicationId=APPLICATION_ID,
        clientToken="x",
        executionRoleArn=JOB_ROLE,
        jobDriver={"sparkSubmit": {"entryPoint": "s3://artifacts/job/entrypoint.py"}},
    )["jobRunId"]


def stopper(emr, seconds: float = 600) -> tuple[Stopper, Clock]:
    clock = Clock()
    return Stopper(emr.client, APPLICATION_ID, deadline=seconds, clock=lambda: clock.now, sleep=clock.sleep), clock


def application_state(emr) -> str:
    return emr.client.get_application(applicationId=APPLICATION_ID)["application"]["state"]


def test_a_started_application_with_a_running_job_is_stopped_after_the_job_is_cancelled(emr) -> None:
    job_run_id = start_job(emr)
    emr.client.get_job_run(applicationId=APPLICATION_ID, jobRunId=job_run_id)  # now RUNNING
    assert application_state(emr) == "STARTED"
    emr.jobs.calls.clear()
    handler, clock = stopper(emr)
    done = handler.stop()
    assert done == f"cancelled job runs {job_run_id}; application {APPLICATION_ID} is STOPPED"
    calls = [c for c in emr.jobs.calls if c[0] in ("CancelJobRun", "StopApplication")]
    assert calls == [("CancelJobRun", "RUNNING"), ("StopApplication", "stopped")]
    assert clock.now == 2 * POLL_SECONDS  # two looks still saw it CANCELLING
    assert application_state(emr) == "STOPPED"
    emr.client.delete_application(applicationId=APPLICATION_ID)  # what CloudFormation does next


def test_a_stopped_application_needs_nothing(emr) -> None:
    emr_backend().applications[APPLICATION_ID].state = "STOPPED"
    handler, clock = stopper(emr)
    assert handler.stop() == f"application {APPLICATION_ID} is STOPPED"
    assert [c for c in emr.jobs.calls if c[0] != "ListJobRuns"] == []
    assert clock.now == 0


def test_an_application_already_deleted_needs_nothing(emr) -> None:
    emr_backend().applications[APPLICATION_ID].state = "STOPPED"
    emr.client.delete_application(applicationId=APPLICATION_ID)
    handler, _ = stopper(emr)
    assert handler.stop() == f"application {APPLICATION_ID} is TERMINATED"
    gone, _ = stopper(emr)
    gone.application_id = "00doesnotexist"
    assert gone.stop() == "application 00doesnotexist does not exist: nothing to stop"


def test_a_job_still_cancelling_at_the_deadline_fails_the_delete_with_a_reason(emr) -> None:
    start_job(emr)
    emr.jobs.cancelling_polls = 1000
    handler, clock = stopper(emr, seconds=120)
    with pytest.raises(StillBusy, match="still CANCELLING; run `cdk destroy` again"):
        handler.stop()
    assert clock.now <= 120
    assert application_state(emr) == "STARTED"


class Answers:
    """The pre-signed ResponseURL: records what the handler PUTs."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []

    def urlopen(self, request, timeout):
        assert (request.method, request.full_url) == ("PUT", "https://cloudformation-response.example/signed")
        self.bodies.append(json.loads(request.data))
        return SimpleNamespace(__enter__=lambda s: s, __exit__=lambda *a: None, read=lambda: b"")


def event(request_type: str) -> dict:
    return {
        "RequestType": request_type,
        "ResponseURL": "https://cloudformation-response.example/signed",
        "StackId": "arn:aws:cloudformation:eu-west-3:123456789012:stack/FruitsPipeline/1",
        "RequestId": "request-1",
        "LogicalResourceId": "StopOnDelete",
        "ResourceProperties": {
            "ApplicationId": APPLICATION_ID,
            "StateMachineArn": f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:FruitsPipeline-run",
        },
    }


@pytest.fixture
def answers(monkeypatch) -> Answers:
    answers = Answers()

    class Response:
        def __enter__(self):
            return self

        def __exit__(self, *_):
            return None

        def read(self) -> bytes:
            return b""

    def urlopen(request, timeout):
        answers.urlopen(request, timeout)
        return Response()

    monkeypatch.setattr(stop_application.urllib.request, "urlopen", urlopen)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    return answers


def lambda_context(seconds: float = 900):
    return SimpleNamespace(get_remaining_time_in_millis=lambda: seconds * 1000)


def test_create_and_update_do_nothing_and_answer_success(emr, answers) -> None:
    for request_type in ("Create", "Update"):
        stop_application.handler(event(request_type), lambda_context())
    assert [b["Status"] for b in answers.bodies] == ["SUCCESS", "SUCCESS"]
    assert {b["PhysicalResourceId"] for b in answers.bodies} == {APPLICATION_ID}
    assert application_state(emr) == "STARTED"
    assert emr.jobs.calls == []


def test_delete_stops_executions_then_the_application_and_answers(emr, answers, monkeypatch) -> None:
    emr.jobs.script = ["SUCCESS"]
    stopped = []
    monkeypatch.setattr(stop_application, "stop_executions", lambda _sfn, arn: stopped.append(arn) or ["run-42"])
    stop_application.handler(event("Delete"), lambda_context())
    (body,) = answers.bodies
    assert body["Status"] == "SUCCESS", body
    assert body["Reason"] == f"stopped executions run-42; application {APPLICATION_ID} is STOPPED"
    assert (body["RequestId"], body["LogicalResourceId"]) == ("request-1", "StopOnDelete")
    assert stopped == [event("Delete")["ResourceProperties"]["StateMachineArn"]]
    assert application_state(emr) == "STOPPED"


def test_a_failure_is_answered_too_so_cloudformation_does_not_wait(emr, answers, monkeypatch) -> None:
    def refuse(_sfn, _arn):
        raise PermissionError("not allowed to list executions")

    monkeypatch.setattr(stop_application, "stop_executions", refuse)
    stop_application.handler(event("Delete"), lambda_context())
    (body,) = answers.bodies
    assert body["Status"] == "FAILED"
    assert body["Reason"] == "PermissionError: not allowed to list executions"


def test_running_executions_are_stopped(monkeypatch) -> None:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        sfn = boto3.client("stepfunctions", region_name=REGION)
        role = boto3.client("iam", region_name=REGION).create_role(RoleName="r", AssumeRolePolicyDocument="{}")
        definition = {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}}
        machine = sfn.create_state_machine(
            name="FruitsPipeline-run", definition=json.dumps(definition), roleArn=role["Role"]["Arn"]
        )["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=machine, name="run-42")["executionArn"]
        waiting = 0
        while not waiting:  # moto starts the execution in a thread: stop it once it waits
            events = sfn.get_execution_history(executionArn=execution)["events"]
            waiting = sum(e["type"] == "WaitStateEntered" for e in events)
        assert stop_application.stop_executions(sfn, machine) == ["run-42"]
        deadline = time.monotonic() + 10  # moto's execution thread notes the stop when it wakes up
        while (status := sfn.describe_execution(executionArn=execution)["status"]) == "RUNNING":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert status == "ABORTED"
