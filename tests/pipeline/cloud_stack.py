"""The deployed stack stood up in moto's server (127.0.0.1, a free port) for the cloud client's tests.

Names come from the synthesized template: its four buckets, under the physical names
CloudFormation would give them (<stack>-<logical id>-<suffix>, lower case), are created by
a CloudFormation stack in moto whose outputs are the template's outputs, so the client
finds everything through describe_stacks as it does on AWS. The state machine is the
synthesized definition with only its EMR Serverless tasks swapped for SDK integrations
that moto runs (the infra tests' `sdk_stand_ins`). The Spark job itself is a stand-in
hooked into moto's StartJobRun: it copies a finished local run to where the job's
arguments say, writes the driver's logs and the billed resources, or fails with a cause.
"""

from __future__ import annotations

import gzip
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import boto3
import pytest
import requests
from moto.emrserverless.exceptions import ValidationException
from moto.emrserverless.models import EMRServerlessBackend
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import state_task_service_aws_sdk

from pipeline.deployment import STACK_NAME
from pipeline.versions import EMR_RELEASE

REGION = "eu-west-3"
BILLED = {"vCPUHour": 1.5, "memoryGBHour": 6.0, "storageGBHour": 0.0}
FAILURE = "Job failed, please check complete logs in configured logging destination. ExitCode: 2."
DRIVER_ERROR = "error: PCA needs at least 2 readable photos in s3://input/train/"


@pytest.fixture(scope="session")
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)  # port 0: a free one
    server.start()
    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no access log line per request
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


def api_stand_ins():
    """The infra tests' swap of the EMR tasks and the camelCase step moto's SDK integration lacks."""
    from test_infra_state_machine_run import normalise_parameters, sdk_stand_ins

    return sdk_stand_ins, normalise_parameters


@dataclass
class JobStandIn:
    """What the Spark job does when the state machine starts it: succeed with `run_folder`'s files, or fail."""

    endpoint: str
    run_folder: Path | None = None  # None: a run with only _SUCCESS
    fail: bool = False
    started: list[list[str]] = field(default_factory=list)

    def __call__(self, job_run) -> None:
        arguments = job_run.job_driver["sparkSubmit"]["entryPointArguments"]
        self.started.append(list(arguments))
        s3 = boto3.client("s3", region_name=REGION, endpoint_url=self.endpoint)
        log_uri = job_run.configuration_overrides["monitoringConfiguration"]["s3MonitoringConfiguration"]["logUri"]
        logs_bucket, logs_prefix = log_uri.removeprefix("s3://").split("/", 1)
        folder = f"{logs_prefix.rstrip('/')}/applications/{job_run.application_id}/jobs/{job_run.id}/"
        stderr = "\n".join([f"line {i}" for i in range(50)] + ([DRIVER_ERROR] if self.fail else ["done"]))
        for key, body in (
            (folder + "SPARK_DRIVER/stderr.gz", gzip.compress(stderr.encode())),
            (folder + "SPARK_DRIVER/stdout.gz", gzip.compress(b"")),
            (folder + "SPARK_EXECUTOR/1/stderr.gz", gzip.compress(b"executor")),
        ):
            s3.put_object(Bucket=logs_bucket, Key=key, Body=body)
        job_run.billed_resource_utilization = dict(BILLED)
        job_run.total_execution_duration_seconds = 240
        if self.fail:
            job_run.state, job_run.state_details = "FAILED", FAILURE
            raise ValidationException(FAILURE)
        job_run.state = "SUCCESS"
        bucket, prefix = run_folder_of(arguments, job_run.name)
        for path in sorted(self.run_folder.rglob("*")) if self.run_folder else []:
            if path.is_file() and not path.name.endswith(".crc"):
                s3.upload_file(str(path), bucket, prefix + path.relative_to(self.run_folder).as_posix())
        s3.put_object(Bucket=bucket, Key=prefix + "_SUCCESS", Body=b"")
        # job_run.json as the state machine records it: GetJobRun's record through an SDK integration,
        # which capitalises every name.
        usage = {name[0].upper() + name[1:]: value for name, value in BILLED.items()}
        record = {"Arn": job_run.arn, "BilledResourceUtilization": usage, "State": "SUCCESS"}
        s3.put_object(Bucket=bucket, Key=prefix + "job_run.json", Body=json.dumps(record).encode())


def job_options(arguments: list[str]) -> dict[str, str]:
    """{flag: value} of the job's arguments, given as `--flag value` or `--flag=value`."""
    found = {}
    for i, item in enumerate(arguments):
        if item.startswith("--") and "=" in item:
            flag, _, found[flag] = item.partition("=")
        elif item.startswith("--") and i + 1 < len(arguments):
            found[item] = arguments[i + 1]
    return found


def run_folder_of(arguments: list[str], job_name: str) -> tuple[str, str]:
    """(bucket, prefix) of <--output>/<--run-id>/ in the job's arguments, whatever their order and form."""
    value = job_options(arguments)
    output = value["--output"].removeprefix("s3://").rstrip("/")
    bucket, _, prefix = output.partition("/")
    return bucket, f"{prefix}/{value.get('--run-id', job_name)}/".lstrip("/")


@dataclass
class Deployed:
    endpoint: str
    buckets: dict[str, str]  # output name -> bucket name
    application_id: str
    state_machine_arn: str
    job: JobStandIn

    def client(self, service: str):
        return boto3.client(service, region_name=REGION, endpoint_url=self.endpoint)


def deploy(endpoint: str, synthesized, monkeypatch: pytest.MonkeyPatch, suffix: str = "a1b2c3") -> Deployed:
    """A fresh moto with the stack's resources, and the environment pointing boto3 at it."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("MOTO_PORT", endpoint.rsplit(":", 1)[1])  # where moto's state machines call back
    requests.post(f"{endpoint}/moto-api/reset", timeout=30)
    requests.post(f"{endpoint}/moto-api/config", json={"stepfunctions": {"execute_state_machine": True}}, timeout=30)
    sdk_stand_ins, normalise_parameters = api_stand_ins()
    monkeypatch.setattr(
        state_task_service_aws_sdk.StateTaskServiceAwsSdk, "_normalise_parameters", normalise_parameters
    )
    job = JobStandIn(endpoint)
    _hook_job(monkeypatch, job)

    from infra_asl import ACCOUNT, render, resolve, stand_in_names

    template = synthesized.template.to_json()
    outputs = template["Outputs"]
    bucket_ids = {o["Value"]["Ref"] for name, o in outputs.items() if name.endswith("BucketName")}
    names = {logical: f"{STACK_NAME}-{logical}-{suffix}".lower() for logical in bucket_ids}
    emr = boto3.client("emr-serverless", region_name=REGION, endpoint_url=endpoint)
    application_id = emr.create_application(
        name="pipeline", releaseLabel=EMR_RELEASE, type="SPARK", clientToken="t", architecture="X86_64"
    )["applicationId"]
    names.update(stand_in_names(synthesized, application_id, f"arn:aws:iam::{ACCOUNT}:role/job-role"))
    iam = boto3.client("iam", region_name=REGION, endpoint_url=endpoint)
    role = iam.create_role(RoleName="sfn", AssumeRolePolicyDocument=json.dumps({"Statement": []}))["Role"]["Arn"]
    (machine_id,) = synthesized.template.find_resources("AWS::StepFunctions::StateMachine")
    sfn = boto3.client("stepfunctions", region_name=REGION, endpoint_url=endpoint)
    machine_arn = sfn.create_state_machine(
        name=f"{machine_id}-{suffix}", definition=json.dumps(sdk_stand_ins(render(synthesized, names))), roleArn=role
    )["stateMachineArn"]
    names[machine_id] = machine_arn
    stack_template = {
        "Resources": {
            logical: {"Type": "AWS::S3::Bucket", "Properties": {"BucketName": names[logical]}} for logical in bucket_ids
        },
        "Outputs": {
            name: {"Value": output["Value"] if name.endswith("BucketName") else resolve(output["Value"], names)}
            for name, output in outputs.items()
        },
    }
    boto3.client("cloudformation", region_name=REGION, endpoint_url=endpoint).create_stack(
        StackName=STACK_NAME, TemplateBody=json.dumps(stack_template)
    )
    buckets = {name: names[o["Value"]["Ref"]] for name, o in outputs.items() if name.endswith("BucketName")}
    return Deployed(endpoint, buckets, application_id, machine_arn, job)


def _hook_job(monkeypatch: pytest.MonkeyPatch, job: Callable[[Any], None]) -> None:
    original = EMRServerlessBackend.start_job_run

    def start_job_run(self, *args, **kwargs):
        job_run = original(self, *args, **kwargs)
        job(job_run)
        return job_run

    monkeypatch.setattr(EMRServerlessBackend, "start_job_run", start_job_run)
