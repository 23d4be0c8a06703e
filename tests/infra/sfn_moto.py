"""Execute the synthesized state machine in moto, in-process, with EMR Serverless job runs that take time.

moto runs the definition's JSONPath states itself. What it lacks, these tests put back,
each as AWS documents the real service:
- the optimized `emr-serverless:*` integrations: the task's Resource becomes the
  equivalent `aws-sdk:emrserverless:*` call (same API, same Parameters);
- aws-sdk integrations take PascalCase parameters and answer in PascalCase (moto passes
  boto3's camelCase through): converted with botocore's own shapes of the API;
- Step Functions calls boto3's `emr-serverless` service `emrserverless`;
- StringMatches as the States Language specifies it (https://states-language.net/spec.html,
  "Choice Rules"): only `*` is a wildcard and `\\` escapes it; moto's fnmatch also takes
  `?` and `[...]` as wildcards;
- EMR Serverless job runs that run, fail or take time to cancel (moto's succeed at
  once): `EmrJobs` scripts what successive GetJobRun calls see, turns a cancel into
  CANCELLING for a while, and refuses StopApplication while a job run has not ended,
  as EMR Serverless does.
Wait states and retry intervals are recorded instead of slept. And what makes moto slow
is cached: the parsed definition (a pure-Python ANTLR parser, seconds for this one, at
creation and at every execution), every JSONPath expression and boto3 client.
"""

from __future__ import annotations

import functools
import json
import re
import time
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.session
import pytest
from infra_asl import ACCOUNT, REGION, render, stand_in_names
from moto.emrserverless import models as emr_models
from moto.emrserverless.exceptions import ResourceNotFoundException, ValidationException
from moto.stepfunctions.parser.asl.component.common.path import result_path
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.state.choice.comparison.operator.implementations import (
    string_operators,
)
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
    state_task_service,
    state_task_service_aws_sdk,
)
from moto.stepfunctions.parser.asl.component.state.wait.wait_function import wait_function
from moto.stepfunctions.parser.asl.parse import asl_parser
from moto.stepfunctions.parser.asl.utils import json_path

APPLICATION_ID = "00fruitspipeline"
MAX_PAYLOAD = 256 * 1024
"""Step Functions' quota on a task's, a state's or an execution's input or result (UTF-8 bytes;
https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html): above it, States.DataLimitExceeded,
which no Catch of States.ALL handles. moto does not enforce it: `payload_sizes` measures it."""
# The history events that carry a state's data, and the field that holds it.
PAYLOADS = (
    ("executionStartedEventDetails", "input"),
    ("stateEnteredEventDetails", "input"),
    ("taskScheduledEventDetails", "parameters"),
    ("taskSucceededEventDetails", "output"),
    ("stateExitedEventDetails", "output"),
)
UNFINISHED = {"SUBMITTED", "PENDING", "SCHEDULED", "RUNNING", "QUEUED", "CANCELLING"}
OPTIMIZED = "arn:aws:states:::emr-serverless:"


@dataclass
class EmrJobs:
    """What EMR Serverless does over time, as the tests script it, and every call made to it."""

    # States successive GetJobRun calls see, the last one for ever: (state, details) or state.
    script: list = field(default_factory=lambda: ["RUNNING", "SUCCESS"])
    # Looks (GetJobRun, ListJobRuns or StopApplication calls) that still see CANCELLING after CancelJobRun.
    cancelling_polls: int = 1
    # StartApplication refused with this message.
    start_application_error: str | None = None
    # Another run's job keeps the application busy: every StopApplication is refused.
    other_run_busy: bool = False
    # The first GetJobRun calls that find no such job run (lost sight of it).
    lost_looks: int = 0
    calls: list[tuple[str, str]] = field(default_factory=list)
    _left: dict[str, list] = field(default_factory=dict)

    def _set(self, job_run: Any, step: Any) -> None:
        # EMR's model requires stateDetails in every JobRun (botocore: JobRun's required members); moto leaves it out.
        job_run.state, job_run.state_details = (step, "") if isinstance(step, str) else step

    def start_job_run(self, original, backend, *args, **kwargs):
        job_run = original(backend, *args, **kwargs)
        self._left[job_run.id] = list(self.script)
        self._set(job_run, "SUBMITTED")
        self.calls.append(("StartJobRun", job_run.id))
        return job_run

    def _tick(self, backend) -> None:
        """One step of every scripted job run: what the next look at EMR Serverless sees."""
        for runs in backend.job_runs.values():
            for run in runs:
                left = self._left.get(run.id, [])
                if left:
                    self._set(run, left.pop(0) if len(left) > 1 else left[0])

    def get_job_run(self, original, backend, application_id, job_run_id):
        if self.lost_looks:
            self.lost_looks -= 1
            self.calls.append(("GetJobRun", "not found"))
            raise ResourceNotFoundException(job_run_id, "JobRun")
        self._tick(backend)
        job_run = original(backend, application_id, job_run_id)
        self.calls.append(("GetJobRun", job_run.state))
        return job_run

    def list_job_runs(self, original, backend, application_id, *args, **kwargs):
        self._tick(backend)
        if application_id in backend.applications and application_id not in backend.job_runs:
            return []  # moto says "does not exist" for an application without job runs
        return original(backend, application_id, *args, **kwargs)

    def cancel_job_run(self, original, backend, application_id, job_run_id):
        (job_run,) = [run for run in backend.job_runs.get(application_id, []) if run.id == job_run_id] or [None]
        if job_run is None:
            raise ResourceNotFoundException(job_run_id, "JobRun")
        if job_run.state not in UNFINISHED:
            self.calls.append(("CancelJobRun", f"refused: {job_run.state}"))
            raise ValidationException(f"Job run {job_run_id} is already {job_run.state}")
        self.calls.append(("CancelJobRun", job_run.state))
        self._left[job_run_id] = ["CANCELLING"] * self.cancelling_polls + ["CANCELLED"]
        self._set(job_run, "CANCELLING")
        return application_id, job_run_id

    def stop_application(self, original, backend, application_id):
        self._tick(backend)
        busy = [run.state for run in backend.job_runs.get(application_id, []) if run.state in UNFINISHED]
        busy += ["RUNNING (another run)"] if self.other_run_busy else []
        if busy:
            self.calls.append(("StopApplication", f"refused: {busy[0]}"))
            raise ValidationException(f"Application {application_id} has job runs in state {busy[0]}")
        self.calls.append(("StopApplication", "stopped"))
        return original(backend, application_id)

    def start_application(self, original, backend, application_id):
        if self.start_application_error:
            self.calls.append(("StartApplication", "refused"))
            raise ValidationException(self.start_application_error)
        self.calls.append(("StartApplication", "started"))
        return original(backend, application_id)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Put these methods in front of moto's backend ones (each gets the original to call)."""
        backend = emr_models.EMRServerlessBackend
        for name in (
            "start_application",
            "start_job_run",
            "get_job_run",
            "list_job_runs",
            "cancel_job_run",
            "stop_application",
        ):
            monkeypatch.setattr(backend, name, _in_front(getattr(self, name), getattr(backend, name)))
        monkeypatch.setattr(emr_models, "random_appplication_id", lambda: APPLICATION_ID)


def _in_front(handler, original):
    def method(backend, *args, **kwargs):
        return handler(original, backend, *args, **kwargs)

    return method


@functools.cache
def _operation(service: str, action: str):
    return botocore.session.get_session().get_service_model(service).operation_model(action[0].upper() + action[1:])


def _sdk_parameters(self, parameters: dict, *_args, **_kwargs) -> None:
    operation = _operation(self._get_boto_service_name(), self.resource.api_action)
    self._to_boto_request(parameters, operation.input_shape)


def _sdk_response(self, response: Any, *_args, **_kwargs) -> None:
    operation = _operation(self._get_boto_service_name(), self.resource.api_action)
    self._from_boto_response(response, operation.output_shape)
    # Step Functions state is JSON: timestamps arrive as text.
    text = json.dumps(response, default=str)
    response.clear()
    response.update(json.loads(text))


@functools.cache
def _wildcard_pattern(pattern: str) -> re.Pattern:
    """A StringMatches pattern as a regex: `*` any text, `\\x` the character x, every other character itself."""
    parts = re.findall(r"\\(.)|(\*)|(.)", pattern, flags=re.DOTALL)
    return re.compile(
        "".join(".*" if star else re.escape(escaped or plain) for escaped, star, plain in parts), flags=re.DOTALL
    )


def _string_matches(variable: Any, pattern: Any) -> bool:
    return isinstance(variable, str) and _wildcard_pattern(pattern).fullmatch(variable) is not None


@functools.lru_cache(maxsize=8)
def _parse(definition: str):
    """moto's parse without its error listener (the definitions here are valid): program and tree."""
    lexer = asl_parser.ASLLexer(asl_parser.InputStream(definition))
    tree = asl_parser.ASLParser(asl_parser.CommonTokenStream(lexer)).state_machine()
    return asl_parser.Preprocessor().visit(tree), tree


@functools.cache
def client(service: str):
    """One boto3 client per service for the whole session (creating one takes 0.1-0.2 s)."""
    return boto3.client(service, region_name=REGION)


def patch_moto(monkeypatch: pytest.MonkeyPatch) -> dict[str, list]:
    """The additions listed above; returns the waits and retry intervals requested."""
    waited: dict[str, list] = {"wait": [], "retry": []}
    monkeypatch.setitem(
        state_task_service.StateTaskService._SERVICE_NAME_SFN_TO_BOTO_OVERRIDES, "emrserverless", "emr-serverless"
    )
    monkeypatch.setattr(string_operators.StringMatches, "_compare", staticmethod(_string_matches))
    sdk = state_task_service_aws_sdk.StateTaskServiceAwsSdk
    monkeypatch.setattr(sdk, "_normalise_parameters", _sdk_parameters)
    monkeypatch.setattr(sdk, "_normalise_response", _sdk_response)

    def wait(_self, env, wait_seconds) -> None:
        waited["wait"].append(wait_seconds)

    monkeypatch.setattr(wait_function.WaitFunction, "_wait_interval", wait)
    monkeypatch.setattr(retrier_decl, "time", type("Clock", (), {"sleep": staticmethod(waited["retry"].append)}))
    monkeypatch.setattr(asl_parser.AmazonStateLanguageParser, "parse", staticmethod(_parse))
    # jsonpath_ng builds its parser anew for every path (about 10 ms): parse each path once.
    for module in (json_path, result_path):
        monkeypatch.setattr(module, "parse", functools.lru_cache(maxsize=None)(module.parse))
    # moto builds a new boto3 client (about 0.2 s) for every task: one per service is enough.
    new_client = state_task_service_aws_sdk.boto_client_for
    clients = functools.lru_cache(maxsize=None)(lambda region, service: new_client(region=region, service=service))
    monkeypatch.setattr(
        state_task_service_aws_sdk,
        "boto_client_for",
        lambda region, service, state_credentials=None: clients(region, service),
    )
    return waited


def sdk_stand_ins(definition: dict) -> dict:
    """Each optimized EMR Serverless task as the aws-sdk call it makes (.sync: moto's calls end at once)."""
    for state in definition["States"].values():
        resource = state.get("Resource", "")
        if resource.startswith(OPTIMIZED):
            api = resource.removeprefix(OPTIMIZED).removesuffix(".sync")
            state["Resource"] = f"arn:aws:states:::aws-sdk:emrserverless:{api}"
    return definition


def payload_sizes(history: list[dict]) -> list[tuple[str, str, int]]:
    """(state, event, UTF-8 bytes) of every input, parameters and result in an execution's history, in order."""
    sizes, state = [], ""
    for event in history:
        state = event.get("stateEnteredEventDetails", {}).get("name", state)
        for key, data in PAYLOADS:
            if data in event.get(key, {}):
                sizes.append((state, key, len(event[key][data].encode())))
    return sizes


@dataclass
class Result:
    execution: dict
    entered: list[str]
    history: list[dict]
    application: dict
    jobs: EmrJobs
    waited: dict[str, list]
    s3: Any

    @property
    def output(self) -> dict:
        return json.loads(self.execution["output"])

    @property
    def job_run(self):
        """The one job run, read from moto's backend (an API call would count as a look)."""
        (job_run,) = emr_backend().job_runs[APPLICATION_ID]
        return job_run

    def job_arguments(self) -> list[str]:
        return self.job_run.job_driver["sparkSubmit"]["entryPointArguments"]


class StepFunctions:
    """One moto account per test: create the buckets and application, run one execution of the definition."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.waited = patch_moto(monkeypatch)
        self.jobs = EmrJobs()
        self.jobs.install(monkeypatch)

    def run(
        self,
        synthesized,
        execution_input: Any,
        *,
        job_role_account: str = ACCOUNT,
        name: str = "run-42",
        definition: str | None = None,
    ) -> Result:
        clients = {n: client(n) for n in ("stepfunctions", "emr-serverless", "iam", "s3")}
        emr = clients["emr-serverless"]
        emr.create_application(name="pipeline", releaseLabel="emr-7.10.0", type="SPARK", clientToken="t")
        emr_backend().applications[APPLICATION_ID].state = "STOPPED"  # moto creates it STARTED
        role_arn = clients["iam"].create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        names = stand_in_names(synthesized, APPLICATION_ID, f"arn:aws:iam::{job_role_account}:role/job-role")
        definition = sdk_stand_ins(render(synthesized, names, definition))
        for bucket in _results_bucket(definition):
            clients["s3"].create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
        self.jobs.calls.clear()
        sfn = clients["stepfunctions"]
        machine = sfn.create_state_machine(name="run", definition=json.dumps(definition), roleArn=role_arn)
        arn = sfn.start_execution(
            stateMachineArn=machine["stateMachineArn"], name=name, input=json.dumps(execution_input)
        )["executionArn"]
        deadline, pause = time.monotonic() + 60, 0.01
        while (execution := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
            assert time.monotonic() < deadline, "execution still running after 60 s"
            time.sleep(pause)
            pause = min(2 * pause, 0.2)  # each look takes moto's lock from the execution
        pages = sfn.get_paginator("get_execution_history").paginate(executionArn=arn)
        history = [event for page in pages for event in page["events"]]
        entered = [e["stateEnteredEventDetails"]["name"] for e in history if "stateEnteredEventDetails" in e]
        return Result(
            execution=execution,
            entered=entered,
            history=history,
            application=emr.get_application(applicationId=APPLICATION_ID)["application"],
            jobs=self.jobs,
            waited=self.waited,
            s3=clients["s3"],
        )


def emr_backend():
    return emr_models.emrserverless_backends[ACCOUNT][REGION]


def _results_bucket(definition: dict) -> list[str]:
    return [s["Parameters"]["Bucket"] for s in definition["States"].values() if "s3:putObject" in s.get("Resource", "")]
