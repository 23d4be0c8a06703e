"""Compute: the EMR Serverless application, its Python environment and the job role."""

import json
import re

import pytest
from aws_cdk.assertions import Template

from infra.artifact_uploads import ArtifactUploads
from infra.compute import Compute, RequireDocker, _python_env_bundling, docker_problem, python_env_fingerprint
from infra.config import AppConfig
from infra.storage import Storage
from pipeline.contract.versions import EMR_RELEASE


def only(template: Template, resource_type: str) -> tuple[str, dict]:
    ((name, resource),) = template.find_resources(resource_type).items()
    return name, resource


def job_role(synthesized) -> tuple[str, dict]:
    (name,) = [n for n in synthesized.template.find_resources("AWS::IAM::Role") if n.startswith("ComputeJobRole")]
    return name, synthesized.resources[name]


def test_application_is_spark_on_the_pinned_release_and_idles_for_free(
    synthesized,
) -> None:
    _, application = only(synthesized.template, "AWS::EMRServerless::Application")
    props = application["Properties"]
    assert props["Type"] == "SPARK"
    assert props["ReleaseLabel"] == EMR_RELEASE
    assert props["Architecture"] == "X86_64"
    assert props["MaximumCapacity"] == {
        "Cpu": "16 vCPU",
        "Memory": "64 GB",
        "Disk": "500 GB",
    }
    assert props["AutoStartConfiguration"] == {"Enabled": True}
    assert props["AutoStopConfiguration"] == {"Enabled": True, "IdleTimeoutMinutes": 5}
    assert "InitialCapacity" not in props
    assert "NetworkConfiguration" not in props
    assert "ImageConfiguration" not in props


def test_job_role_is_trusted_only_by_this_application(synthesized) -> None:
    application_id, _ = only(synthesized.template, "AWS::EMRServerless::Application")
    _, role = job_role(synthesized)
    assert role["Properties"]["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"Service": "emr-serverless.amazonaws.com"},
            "Condition": {
                "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
                "ArnLike": {
                    "aws:SourceArn": [
                        {"Fn::GetAtt": [application_id, "Arn"]},
                        {
                            "Fn::Join": [
                                "",
                                [{"Fn::GetAtt": [application_id, "Arn"]}, "/jobruns/*"],
                            ]
                        },
                    ]
                },
            },
        }
    ]
    assert "ManagedPolicyArns" not in role["Properties"]


def bucket_id(synthesized, prefix: str) -> str:
    (name,) = [n for n in synthesized.template.find_resources("AWS::S3::Bucket") if n.startswith(prefix)]
    return name


def job_role_statements(template: Template) -> dict[str, dict]:
    (role_id,) = [n for n in template.find_resources("AWS::IAM::Role") if n.startswith("ComputeJobRole")]
    (policy,) = [
        p
        for p in template.find_resources("AWS::IAM::Policy").values()
        if p["Properties"]["Roles"] == [{"Ref": role_id}]
    ]
    return {s["Sid"]: s for s in policy["Properties"]["PolicyDocument"]["Statement"]}


def test_job_role_reads_input_and_artifacts_writes_only_runs_and_its_own_logs(synthesized) -> None:
    def arn(prefix: str) -> dict:
        return {"Fn::GetAtt": [bucket_id(synthesized, prefix), "Arn"]}

    def objects(prefix: str, *keys: object) -> dict:
        return {"Fn::Join": ["", [arn(prefix), *keys]]}

    application_id, _ = only(synthesized.template, "AWS::EMRServerless::Application")
    assert job_role_statements(synthesized.template) == {
        "ReadInput": {
            "Sid": "ReadInput",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:ListBucket"],
            "Resource": [arn("StorageInputBucket"), objects("StorageInputBucket", "/*")],
        },
        "ReadArtifacts": {
            "Sid": "ReadArtifacts",
            "Effect": "Allow",
            "Action": ["s3:GetObject", "s3:ListBucket"],
            "Resource": [arn("StorageArtifactsBucket"), objects("StorageArtifactsBucket", "/*")],
        },
        # Listing only of runs and under runs/: the rest of the results bucket is not even named.
        "ListRuns": {
            "Sid": "ListRuns",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": arn("StorageResultsBucket"),
            "Condition": {"StringLike": {"s3:prefix": ["runs", "runs/*"]}},
        },
        # The parent key itself, which S3A probes: a 404 needs GetObject on it as well as ListBucket.
        "ProbeRunsFolder": {
            "Sid": "ProbeRunsFolder",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": objects("StorageResultsBucket", "/runs"),
        },
        "WriteRuns": {
            "Sid": "WriteRuns",
            "Effect": "Allow",
            "Action": ["s3:AbortMultipartUpload", "s3:DeleteObject", "s3:GetObject", "s3:PutObject"],
            "Resource": objects("StorageResultsBucket", "/runs/*"),
        },
        # EMR Serverless writes <LogUri>/applications/<application id>/jobs/<job run id>/...
        "WriteJobLogs": {
            "Sid": "WriteJobLogs",
            "Effect": "Allow",
            "Action": "s3:PutObject",
            "Resource": objects(
                "StorageLogsBucket",
                "/emr-serverless/applications/",
                {"Fn::GetAtt": [application_id, "ApplicationId"]},
                "/*",
            ),
        },
    }


def iam_string_like(pattern: str, value: str) -> bool:
    """IAM's StringLike: `*` matches any run of characters, none included, `?` any one character.

    https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_String
    """
    return re.fullmatch(re.escape(pattern).replace(r"\*", ".*").replace(r"\?", "."), value) is not None


@pytest.mark.parametrize(
    ("prefix", "listed"),
    [
        ("runs", True),  # HEAD runs: S3 answers 404 rather than 403 only with ListBucket
        ("runs/", True),  # S3A lists a directory with its key and a slash
        ("runs/2026-12-06-a/", True),
        ("runs/2026-12-06-a/features/_temporary/0/", True),
        ("", False),
        ("run", False),
        ("runs2/", False),
        ("other/runs/", False),
    ],
)
def test_job_role_lists_runs_and_everything_under_it_only(synthesized, prefix: str, listed: bool) -> None:
    condition = job_role_statements(synthesized.template)["ListRuns"]["Condition"]
    assert set(condition) == {"StringLike"}
    assert any(iam_string_like(pattern, prefix) for pattern in condition["StringLike"]["s3:prefix"]) is listed


def kms_compute_template(variant_stack) -> Template:
    """Storage and compute alone, with `encryption=kms`."""
    stack, config = variant_stack(encryption="kms")
    storage = Storage(stack, "Storage", config=config)
    uploads = ArtifactUploads(stack, "Uploads", bucket=storage.artifacts_bucket, log_retention_days=30)
    Compute(stack, "Compute", config=config, storage=storage, uploads=uploads)
    return Template.from_stack(stack)


def test_job_role_uses_the_data_key_only_through_s3_and_emr_serverless(variant_stack) -> None:
    template = kms_compute_template(variant_stack)
    (key_id,) = template.find_resources("AWS::KMS::Key")
    statements = job_role_statements(template)
    assert statements["UseDataKeyThroughS3AndEmr"] == {
        "Sid": "UseDataKeyThroughS3AndEmr",
        "Effect": "Allow",
        "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
        "Resource": {"Fn::GetAtt": [key_id, "Arn"]},
        "Condition": {
            "StringEquals": {"kms:ViaService": ["s3.eu-west-3.amazonaws.com", "emr-serverless.eu-west-3.amazonaws.com"]}
        },
    }
    # Nothing else of the role mentions KMS.
    others = [s for sid, s in statements.items() if sid != "UseDataKeyThroughS3AndEmr"]
    assert not any(str(s["Action"]).count("kms:") for s in others)


def logs_bucket_uri(template: Template) -> dict:
    (logs_id,) = [n for n in template.find_resources("AWS::S3::Bucket") if n.startswith("StorageLogsBucket")]
    return {"Fn::Join": ["", ["s3://", {"Ref": logs_id}, "/emr-serverless/"]]}


def test_with_kms_job_logs_are_encrypted_with_the_data_key_in_the_sse_s3_logs_bucket(variant_stack) -> None:
    template = kms_compute_template(variant_stack)
    (key_id,) = template.find_resources("AWS::KMS::Key")
    _, application = only(template, "AWS::EMRServerless::Application")
    assert application["Properties"]["MonitoringConfiguration"] == {
        "S3MonitoringConfiguration": {
            "LogUri": logs_bucket_uri(template),
            "EncryptionKeyArn": {"Fn::GetAtt": [key_id, "Arn"]},
        }
    }
    # The bucket stays SSE-S3 (S3 delivers server access logs only there): each log object carries the key.
    (logs,) = [r for n, r in template.find_resources("AWS::S3::Bucket").items() if n.startswith("StorageLogsBucket")]
    (rule,) = logs["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"]
    assert rule["ServerSideEncryptionByDefault"] == {"SSEAlgorithm": "AES256"}
    # EMR Serverless itself may use the key for the applications of this account, and nothing else.
    key_policy = template.find_resources("AWS::KMS::Key")[key_id]["Properties"]["KeyPolicy"]["Statement"]
    (emr,) = [s for s in key_policy if s.get("Principal") == {"Service": "emr-serverless.amazonaws.com"}]
    assert emr["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    assert emr["Condition"] == {
        "StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}},
        "ArnLike": {
            "aws:SourceArn": {
                "Fn::Join": ["", ["arn:aws:emr-serverless:eu-west-3:", {"Ref": "AWS::AccountId"}, ":/applications/*"]]
            }
        },
    }


def test_without_kms_job_logs_go_to_the_logs_bucket_unencrypted_by_a_key(synthesized) -> None:
    _, application = only(synthesized.template, "AWS::EMRServerless::Application")
    assert application["Properties"]["MonitoringConfiguration"] == {
        "S3MonitoringConfiguration": {"LogUri": logs_bucket_uri(synthesized.template)}
    }


def test_python_environment_is_uploaded_under_its_build_fingerprint(synthesized) -> None:
    """A change of build script, requirements, Python or architecture uploads under a new key."""
    config = AppConfig()
    uri = json.dumps(synthesized.stack.resolve(synthesized.stack.compute.python_env_uri))
    assert uri.endswith(f'/env/{python_env_fingerprint(config)}/pyspark_env.tar.gz"]]}}')
    assert python_env_fingerprint(config) != python_env_fingerprint(AppConfig(architecture="ARM64"))


def test_spark_uses_the_packed_environment_and_sizes_driver_and_executors(
    synthesized,
) -> None:
    params = synthesized.stack.compute.spark_submit_parameters("s3://bucket/job/pipeline.zip")
    rendered = synthesized.stack.resolve(params)
    text = json.dumps(rendered)
    assert re.search(r"/env/[0-9a-f]{64}/pyspark_env\.tar\.gz#environment", text)
    for option in (
        "spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON=./environment/bin/python",
        "spark.emr-serverless.driverEnv.PYSPARK_PYTHON=./environment/bin/python",
        "spark.executorEnv.PYSPARK_PYTHON=./environment/bin/python",
        "spark.submit.pyFiles=s3://bucket/job/pipeline.zip",
        "spark.driver.cores=2",
        "spark.driver.memory=6g",
        "spark.driver.memoryOverhead=2g",
        "spark.executor.cores=4",
        "spark.executor.memory=8g",
        "spark.executor.memoryOverhead=4g",
        "spark.dynamicAllocation.maxExecutors=3",
        "spark.sql.catalogImplementation=in-memory",
        # The stack's region reaches the job's boto3 clients on the driver and the executors.
        f"spark.emr-serverless.driverEnv.AWS_REGION={synthesized.stack.region}",
        f"spark.executorEnv.AWS_REGION={synthesized.stack.region}",
    ):
        assert f"--conf {option}" in text
    assert synthesized.stack.region == "eu-west-3"


def test_the_synthesized_job_run_carries_the_stack_region(synthesized) -> None:
    """What the template hands StartJobRun: the region for the driver's and the executors' environment."""
    _, machine = only(synthesized.template, "AWS::StepFunctions::StateMachine")
    parameters = json.dumps(machine["Properties"]["DefinitionSubstitutions"]["SparkSubmitParameters"])
    for option in ("spark.emr-serverless.driverEnv.AWS_REGION=eu-west-3", "spark.executorEnv.AWS_REGION=eu-west-3"):
        assert f"--conf {option}" in parameters


@pytest.fixture(scope="module")
def arm_template(variant_stack) -> Template:
    stack, config = variant_stack(architecture="ARM64", max_vcpu="8", max_executors="1", idle_timeout_minutes="2")
    storage = Storage(stack, "Storage", config=config)
    uploads = ArtifactUploads(stack, "Uploads", bucket=storage.artifacts_bucket, log_retention_days=30)
    Compute(stack, "Compute", config=config, storage=storage, uploads=uploads)
    return Template.from_stack(stack)


def test_arm64_and_capacity_come_from_context(arm_template) -> None:
    _, application = only(arm_template, "AWS::EMRServerless::Application")
    props = application["Properties"]
    assert props["Architecture"] == "ARM64"
    assert props["MaximumCapacity"]["Cpu"] == "8 vCPU"
    assert props["AutoStopConfiguration"]["IdleTimeoutMinutes"] == 2


def fake_docker(tmp_path, exit_code: int, said: str = "") -> str:
    docker = tmp_path / "docker"
    docker.write_text(f"#!/bin/sh\necho '{said}' >&2\nexit {exit_code}\n")
    docker.chmod(0o755)
    return str(docker)


def test_docker_problem_names_what_is_missing(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CDK_DOCKER", str(tmp_path / "absent"))
    assert docker_problem() == f"`{tmp_path / 'absent'}` is not installed"
    monkeypatch.setenv("CDK_DOCKER", fake_docker(tmp_path, 1, "Cannot connect to the Docker daemon"))
    assert docker_problem() == "its daemon does not answer (Cannot connect to the Docker daemon)"


def test_with_docker_answering_cdk_runs_the_build_container(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("CDK_DOCKER", fake_docker(tmp_path, 0))
    assert docker_problem() is None
    assert RequireDocker().try_bundle(str(tmp_path)) is False  # declines local bundling: CDK runs Docker


def test_without_docker_bundling_stops_with_one_line(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("CDK_DOCKER", str(tmp_path / "absent"))
    with pytest.raises(SystemExit) as stopped:
        RequireDocker().try_bundle(str(tmp_path))
    assert stopped.value.code == 2
    assert capsys.readouterr().err == (
        f"error: Docker is needed to build the job's Python environment for `cdk deploy`, but `{tmp_path / 'absent'}` "
        "is not installed: start Docker, or add -c skip_bundling=true if you only want to synthesize\n"
    )


@pytest.mark.parametrize("machine", ["arm64", "aarch64", "x86_64", "AMD64"])
def test_the_deploying_machine_changes_neither_architecture_nor_build_platform(machine, monkeypatch) -> None:
    """An Apple-silicon laptop and an x86_64 PC deploy the same stack: only -c architecture=... changes it."""
    monkeypatch.setattr("platform.machine", lambda: machine)
    assert AppConfig().architecture == "X86_64"
    assert _python_env_bundling(AppConfig()).platform == "linux/amd64"
    assert _python_env_bundling(AppConfig(architecture="ARM64")).platform == "linux/arm64"
