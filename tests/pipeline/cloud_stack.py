"""The deployed stack stood up in moto's server (127.0.0.1, a free port) for the cloud client's tests.

Names come from the synthesized template: its buckets, under the physical names
CloudFormation would give them (<stack>-<logical id>-<suffix>, lower case), are created by
a CloudFormation stack in moto whose outputs are the template's outputs, so the client
finds everything through describe_stacks as it does on AWS. The state machine is the
synthesized definition under its synthesized name, executed by moto with the infra
tests' harness (tests/infra/sfn_moto.py: the EMR tasks as SDK calls, Step Functions'
casing, job runs whose state changes from one GetJobRun to the next, waits recorded
instead of slept). The Spark job itself is a stand-in: when the state machine starts
it, it writes the driver's logs and the billed resources and, for a job that will
succeed, a finished local run where the job's arguments say; a failing one ends FAILED
with EMR's words. job_run.json is the state machine's own.
"""

from __future__ import annotations

import gzip
import json
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import boto3
import pytest
import requests
from infra_asl import ACCOUNT, render, resolve, stand_in_names, state_machine
from sfn_moto import EmrJobs, patch_moto, sdk_stand_ins

from pipeline.contract.deployment import STACK_NAME
from pipeline.contract.versions import EMR_RELEASE

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


def deployed_stack(endpoint: str, synthesized, monkeypatch: pytest.MonkeyPatch) -> Iterator[Deployed]:
    """A test module's `deployed` fixture: `yield from deployed_stack(moto_endpoint, synthesized, monkeypatch)`."""
    stack = deploy(endpoint, synthesized, monkeypatch)
    yield stack
    stack.settle()


def cloud(capsys, *args: str) -> tuple[int, str, str]:
    """`python -m pipeline cloud ARGS` in-process: (exit code, stdout, stderr)."""
    from pipeline.cli import main

    code = main(["cloud", *args])
    out, err = capsys.readouterr()
    return code, out, err


def keys(deployed: Deployed, output: str, prefix: str = "") -> dict[str, dict]:
    s3 = deployed.client("s3")
    listed = s3.list_objects_v2(Bucket=deployed.buckets[output], Prefix=prefix).get("Contents", [])
    return {item["Key"]: item for item in listed}


@dataclass
class JobStandIn(EmrJobs):
    """EMR Serverless's job runs over time (EmrJobs), and what the Spark job leaves in S3 when started:
    `run_folder`'s files (None: only _SUCCESS), or a failure."""

    endpoint: str = ""
    run_folder: Path | None = None
    fail: bool = False
    started: list[list[str]] = field(default_factory=list)

    def start_job_run(self, original, backend, *args, **kwargs):
        self.script = ["RUNNING", ("FAILED", FAILURE) if self.fail else "SUCCESS"]
        job_run = super().start_job_run(original, backend, *args, **kwargs)
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
        if not self.fail:
            bucket, prefix = run_folder_of(arguments, job_run.name)
            for path in sorted(self.run_folder.rglob("*")) if self.run_folder else []:
                if path.is_file() and not path.name.endswith(".crc"):
                    s3.upload_file(str(path), bucket, prefix + path.relative_to(self.run_folder).as_posix())
            s3.put_object(Bucket=bucket, Key=prefix + "_SUCCESS", Body=b"")
        return job_run


def job_options(arguments: list[str]) -> dict[str, str]:
    """{flag: value} of the job's arguments, given as `--flag=value` (the state machine's form)."""
    return dict(item.split("=", 1) for item in arguments if item.startswith("--"))


def run_folder_of(arguments: list[str], job_name: str) -> tuple[str, str]:
    """(bucket, prefix) of <--output>/<--run-id>/ in the job's arguments."""
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
    waited: dict[str, list]  # the state machine's waits and retry intervals (recorded, not slept)

    def client(self, service: str):
        return boto3.client(service, region_name=REGION, endpoint_url=self.endpoint)

    def settle(self, seconds: float = 60) -> None:
        """Wait until no execution runs: none may outlive its test (its stand-ins are undone after it)."""
        sfn, deadline = self.client("stepfunctions"), time.monotonic() + seconds
        while sfn.list_executions(stateMachineArn=self.state_machine_arn, statusFilter="RUNNING")["executions"]:
            assert time.monotonic() < deadline, f"executions still running after {seconds} s"
            time.sleep(0.05)


def quiet_while_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    """No "waiting for AWS" line in a test's output however loaded the machine (its own test sets it to 0)."""
    monkeypatch.setattr("pipeline.cloud.stack.PATIENCE_SECONDS", 3600.0)


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
    quiet_while_waiting(monkeypatch)
    requests.post(f"{endpoint}/moto-api/reset", timeout=30)
    requests.post(f"{endpoint}/moto-api/config", json={"stepfunctions": {"execute_state_machine": True}}, timeout=30)
    waited = patch_moto(monkeypatch)
    job = JobStandIn(endpoint=endpoint)
    job.install(monkeypatch)

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
        name=state_machine(synthesized)["StateMachineName"],
        definition=json.dumps(sdk_stand_ins(render(synthesized, names))),
        roleArn=role,
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
    return Deployed(endpoint, buckets, application_id, machine_arn, job, waited)
