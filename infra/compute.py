"""Compute: the EMR Serverless application, the job's Python environment and its role."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import Aws, BundlingOptions, DockerImage, DockerVolume, ILocalBundling, Stack
from aws_cdk import aws_emrserverless as emrs
from aws_cdk import aws_iam as iam
from constructs import Construct

from infra.artifact_uploads import ArtifactUploads
from infra.config import PYTHON_VERSION, REPO_ROOT, SKIP_BUNDLING, AppConfig, refuse
from infra.nag import acknowledge, acknowledge_role_policy
from infra.storage import EMR_LOGS_PREFIX, RUNS_PREFIX, Storage
from pipeline.contract.versions import EMR_RELEASE

EMR_SERVICE = "emr-serverless.amazonaws.com"
PYTHON_ENV_DIR = Path(__file__).parent / "docker" / "python_env"
PYTHON_ENV_ARCHIVE = "pyspark_env.tar.gz"
EMR_REQUIREMENTS = REPO_ROOT / "requirements-emr.txt"
BUILD_IMAGE = "public.ecr.aws/amazonlinux/amazonlinux:2023"
DOCKER_PLATFORMS = {"X86_64": "linux/amd64", "ARM64": "linux/arm64"}
# What a principal needs to write and read back objects under the data key.
DATA_KEY_ACTIONS = ["kms:Decrypt", "kms:GenerateDataKey"]
# Where Spark unpacks spark.archives (`<archive>#environment`) in the driver and executors.
ENV_PYTHON = "./environment/bin/python"


class Compute(Construct):
    """A Spark application on EMR Serverless that costs nothing when idle.

    No pre-initialized capacity and auto-stop after a short idle time; auto-start so a
    job submitted outside the state machine still runs. No VPC: jobs reach S3 through
    the service's own network in-region, and the job has no internet access.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        storage: Storage,
        uploads: ArtifactUploads,
    ) -> None:
        super().__init__(scope, construct_id)
        self.application = emrs.CfnApplication(
            self,
            "Application",
            name=f"{Aws.STACK_NAME}-spark",
            release_label=EMR_RELEASE,
            type="SPARK",
            architecture=config.architecture,
            maximum_capacity=emrs.CfnApplication.MaximumAllowedResourcesProperty(
                cpu=f"{config.max_vcpu} vCPU",
                memory=f"{config.max_memory_gb} GB",
                disk=f"{config.max_disk_gb} GB",
            ),
            auto_start_configuration=emrs.CfnApplication.AutoStartConfigurationProperty(enabled=True),
            auto_stop_configuration=emrs.CfnApplication.AutoStopConfigurationProperty(
                enabled=True, idle_timeout_minutes=config.idle_timeout_minutes
            ),
            monitoring_configuration=_job_logs(storage),
        )
        self._allow_log_encryption(storage)
        fingerprint = python_env_fingerprint(config)
        self.python_env_uri = (
            uploads.add(
                "PythonEnvironment",
                "env/",
                str(PYTHON_ENV_DIR),
                key_hash=fingerprint,
                asset_hash=fingerprint,
                bundling=_python_env_bundling(config),
            )
            + PYTHON_ENV_ARCHIVE
        )
        self.job_role = self._job_role(storage)
        self._config = config

    def _job_role(self, storage: Storage) -> iam.Role:
        """Trusted only by this application; reads input and artifacts, writes runs and its logs."""
        role = iam.Role(
            self,
            "JobRole",
            description="EMR Serverless job runtime role of the feature pipeline",
            assumed_by=iam.ServicePrincipal(
                EMR_SERVICE,
                # The source is this application or one of its job runs, never another
                # application of the account (confused-deputy protection).
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnLike": {
                        "aws:SourceArn": [
                            self.application.attr_arn,
                            f"{self.application.attr_arn}/jobruns/*",
                        ]
                    },
                },
            ),
        )
        for sid, bucket in (
            ("ReadInput", storage.input_bucket),
            ("ReadArtifacts", storage.artifacts_bucket),
        ):
            role.add_to_policy(
                iam.PolicyStatement(
                    sid=sid,
                    actions=["s3:GetObject", "s3:ListBucket"],
                    resources=[bucket.bucket_arn, bucket.arn_for_objects("*")],
                )
            )
        self._write_statements(role, storage)
        stack = Stack.of(self)
        for bucket, keys, why in (
            (storage.input_bucket, "*", "the job lists and reads the photos of any input prefix"),
            (storage.artifacts_bucket, "*", "the job reads its code, environment and weights"),
            (
                storage.results_bucket,
                f"{RUNS_PREFIX}*",
                f"run folders are named per run, and any job of this application may read, overwrite "
                f"and delete every key under {RUNS_PREFIX} (the bucket's versioning keeps what it replaces)",
            ),
        ):
            bucket_id = stack.get_logical_id(bucket.node.default_child)
            acknowledge(
                role,
                f"AwsSolutions-IAM5[Resource::<{bucket_id}.Arn>/{keys}]",
                f"Object keys are only known at run time: {why}; limited to this one bucket.",
            )
        logs_id = stack.get_logical_id(storage.logs_bucket.node.default_child)
        application_id = stack.get_logical_id(self.application)
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::<{logs_id}.Arn>/{EMR_LOGS_PREFIX}applications/<{application_id}.ApplicationId>/*]",
            "EMR Serverless names each run's log files by job run id and worker; PutObject only, "
            "under this application's prefix of the logs bucket.",
        )
        acknowledge_role_policy(role, "EMR Serverless job role")
        return role

    def _write_statements(self, role: iam.Role, storage: Storage) -> None:
        """Results under runs/ only, job logs under this application's prefix only, the data key through S3 and EMR.

        Listing is limited by `s3:prefix` to `runs`, `runs/` and anything under it, and the
        role may read the key `runs` itself: S3 answers a HEAD of a missing key with 404 only
        to a caller allowed both s3:GetObject on it and s3:ListBucket, else 403
        (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html), and Hadoop's S3A
        probes a directory's parents (HEAD `runs`, LIST `runs/`) when it creates `runs/<run-id>/`.
        """
        results = storage.results_bucket
        runs_folder = RUNS_PREFIX.rstrip("/")
        statements = [
            iam.PolicyStatement(
                sid="ListRuns",
                actions=["s3:ListBucket"],
                resources=[results.bucket_arn],
                # StringLike's `*` also matches nothing, so `runs/*` covers `runs/` too.
                # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html#Conditions_String
                conditions={"StringLike": {"s3:prefix": [runs_folder, f"{RUNS_PREFIX}*"]}},
            ),
            iam.PolicyStatement(
                sid="ProbeRunsFolder",
                actions=["s3:GetObject"],
                resources=[results.arn_for_objects(runs_folder)],
            ),
            iam.PolicyStatement(
                sid="WriteRuns",
                actions=["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"],
                resources=[results.arn_for_objects(f"{RUNS_PREFIX}*")],
            ),
            iam.PolicyStatement(
                sid="WriteJobLogs",
                actions=["s3:PutObject"],
                resources=[
                    storage.logs_bucket.arn_for_objects(
                        f"{EMR_LOGS_PREFIX}applications/{self.application.attr_application_id}/*"
                    )
                ],
            ),
        ]
        if storage.data_key is not None:
            # S3 for the photos, the results and the job logs it writes for the role; EMR
            # Serverless for the job logs it encrypts with the application's key.
            statements.append(
                storage.data_key_statement("UseDataKeyThroughS3AndEmr", DATA_KEY_ACTIONS, ["s3", "emr-serverless"])
            )
        for statement in statements:
            role.add_to_policy(statement)

    def _allow_log_encryption(self, storage: Storage) -> None:
        """Let EMR Serverless itself use the data key for the job logs of this account's applications.

        The key policy grants the service principal GenerateDataKey and Decrypt, for requests
        made for an EMR Serverless application of this account (`aws:SourceAccount`,
        `aws:SourceArn`), as AWS's "Encrypting logs" page asks
        (https://docs.aws.amazon.com/emr/latest/EMR-Serverless-UserGuide/jobs-log-encryption.html).
        The ARN pattern names no application id: the application refers to the key, so the key
        policy cannot refer back to it (CloudFormation refuses circular references).
        """
        if storage.data_key is None:
            return
        stack = Stack.of(self)
        applications = stack.format_arn(service="emr-serverless", resource="/applications", resource_name="*")
        storage.data_key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="EmrServerlessEncryptsJobLogs",
                principals=[iam.ServicePrincipal(EMR_SERVICE)],
                actions=DATA_KEY_ACTIONS,
                resources=["*"],
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnLike": {"aws:SourceArn": applications},
                },
            )
        )

    def spark_submit_parameters(self, py_files: str) -> str:
        """spark-submit options: the packed environment as the Python of driver and executors."""
        config = self._config
        conf = {
            "spark.archives": f"{self.python_env_uri}#environment",
            "spark.emr-serverless.driverEnv.PYSPARK_DRIVER_PYTHON": ENV_PYTHON,
            "spark.emr-serverless.driverEnv.PYSPARK_PYTHON": ENV_PYTHON,
            "spark.executorEnv.PYSPARK_PYTHON": ENV_PYTHON,
            # The stack's region, for the job's boto3 clients (pipeline/storage/s3.py), rather than whatever EMR sets.
            "spark.emr-serverless.driverEnv.AWS_REGION": Stack.of(self).region,
            "spark.executorEnv.AWS_REGION": Stack.of(self).region,
            "spark.submit.pyFiles": py_files,
            "spark.driver.cores": str(config.driver_cores),
            "spark.driver.memory": f"{config.driver_memory_gb}g",
            "spark.driver.memoryOverhead": f"{config.driver_memory_overhead_gb}g",
            "spark.executor.cores": str(config.executor_cores),
            "spark.executor.memory": f"{config.executor_memory_gb}g",
            "spark.executor.memoryOverhead": f"{config.executor_memory_overhead_gb}g",
            "spark.dynamicAllocation.maxExecutors": str(config.max_executors),
            # The job reads and writes S3 paths, never tables: keep Spark off the Glue
            # Data Catalog that EMR uses by default, so the role needs no Glue rights.
            "spark.sql.catalogImplementation": "in-memory",
        }
        return " ".join(f"--conf {key}={value}" for key, value in conf.items())


def _job_logs(storage: Storage) -> emrs.CfnApplication.MonitoringConfigurationProperty:
    """Every job's logs under emr-serverless/ of the logs bucket; with a data key, encrypted with it.

    The logs bucket itself stays SSE-S3 (S3 delivers server access logs only there): EMR
    Serverless encrypts each log object with EncryptionKeyArn instead
    (https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-emrserverless-application-s3monitoringconfiguration.html).
    Spark's logs name the photos it reads.
    """
    key = storage.data_key
    return emrs.CfnApplication.MonitoringConfigurationProperty(
        s3_monitoring_configuration=emrs.CfnApplication.S3MonitoringConfigurationProperty(
            log_uri=storage.logs_bucket.s3_url_for_object(EMR_LOGS_PREFIX),
            encryption_key_arn=None if key is None else key.key_arn,
        )
    )


def python_env_fingerprint(config: AppConfig) -> str:
    """sha256 of everything the archive is built from: the build script, requirements-emr.txt
    (mounted rather than part of the asset directory), the Python version and the architecture.
    The archive's key holds it, so a deploy that changes any of them uploads under a new key."""
    fingerprint = hashlib.sha256()
    for part in (
        (PYTHON_ENV_DIR / "build.sh").read_bytes(),
        EMR_REQUIREMENTS.read_bytes(),
        PYTHON_VERSION.encode(),
        config.architecture.encode(),
    ):
        fingerprint.update(part)
    return fingerprint.hexdigest()


def _python_env_bundling(config: AppConfig) -> BundlingOptions:
    """The venv-pack archive, built by Docker at deploy time for the application's CPU."""
    return BundlingOptions(
        image=DockerImage.from_registry(BUILD_IMAGE),
        platform=DOCKER_PLATFORMS[config.architecture],
        # dnf needs root inside the build container.
        user="root",
        environment={"PYTHON_VERSION": PYTHON_VERSION},
        volumes=[DockerVolume(host_path=str(EMR_REQUIREMENTS), container_path="/requirements-emr.txt")],
        command=["bash", "/asset-input/build.sh"],
        local=RequireDocker(),
    )


@jsii.implements(ILocalBundling)
class RequireDocker:
    """Checks that Docker answers just before CDK would start the build container.

    CDK tries local bundling first and runs Docker when it declines, and only when the
    archive is not already in cdk.out; without a Docker daemon, `docker run` fails with a
    page of stack trace, so this says it in one line instead.
    """

    def try_bundle(self, _output_dir: str, *_options: Any, **_kw_options: Any) -> bool:
        problem = docker_problem()
        if problem:
            refuse(
                f"Docker is needed to build the job's Python environment for `cdk deploy`, but {problem}: "
                f"start Docker, or add -c {SKIP_BUNDLING}=true if you only want to synthesize"
            )
        return False  # Docker answers: CDK runs the build container


def docker_problem(timeout_s: int = 30) -> str | None:
    """Why the Docker that CDK would use (`CDK_DOCKER`, else `docker`) cannot run a container; None if it can."""
    docker = os.environ.get("CDK_DOCKER", "docker")
    if shutil.which(docker) is None:
        return f"`{docker}` is not installed"
    try:
        answer = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return f"`{docker} info` did not answer within {timeout_s} s"
    if answer.returncode == 0:
        return None
    said = [line.strip() for line in answer.stderr.splitlines() if line.strip()]
    return f"its daemon does not answer ({said[-1] if said else f'`{docker} info` exited with {answer.returncode}'})"
