"""Orchestration: a Step Functions state machine that runs the job once and stops the application."""

from __future__ import annotations

import json
from pathlib import Path

from aws_cdk import Aws, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.compute import EMR_SERVICE, Compute
from infra.config import AppConfig
from infra.log_groups import expiring_log_group
from infra.nag import acknowledge, acknowledge_role_policy
from infra.packaging import Packaging
from infra.storage import EMR_LOGS_PREFIX, RUNS_PREFIX, Storage

DEFINITION_FILE = Path(__file__).with_name("state_machine.asl.json")
# EventBridge rules that Step Functions manages for the .sync EMR Serverless integrations.
MANAGED_RULES = (
    "StepFunctionsGetEventsForEMRServerlessApplicationRule",
    "StepFunctionsGetEventsForEMRServerlessJobRule",
)
DEFAULT_INPUT_PREFIX = "train/"
DEFAULT_OUTPUT_PREFIX = RUNS_PREFIX
# Time for EMR to queue and start workers before the job's own timeout counts.
JOB_START_ALLOWANCE_SECONDS = 15 * 60


def render_definition(config: AppConfig) -> str:
    """The ASL file with its numeric timeouts, as the plain JSON string given to CloudFormation.

    Strings come in through `definition_substitutions`; numbers cannot (a `${...}`
    placeholder is a string in JSON), so the three timeouts are set here:
    job (EMR) < task (Step Functions) < whole execution.
    """
    definition = json.loads(DEFINITION_FILE.read_text())
    definition["TimeoutSeconds"] = config.state_machine_timeout_minutes * 60
    run_job = definition["States"]["RunJob"]
    run_job["Parameters"]["ExecutionTimeoutMinutes"] = config.job_timeout_minutes
    run_job["TimeoutSeconds"] = config.job_timeout_minutes * 60 + JOB_START_ALLOWANCE_SECONDS
    return json.dumps(definition, indent=2)


class Orchestration(Construct):
    """Start application -> run job (.sync) -> stop application, also on failure or timeout.

    Its role may call exactly the EMR Serverless APIs of the three integrations on
    this application and its job runs, manage the two EventBridge rules of the
    .sync pattern, and pass exactly the job role, to EMR Serverless only.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        storage: Storage,
        compute: Compute,
        packaging: Packaging,
    ) -> None:
        super().__init__(scope, construct_id)
        application = compute.application
        self.log_group = expiring_log_group(self, "ExecutionLogs", config.state_machine_log_retention_days)
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            comment="Run the fruit-photo feature pipeline on EMR Serverless",
            definition_body=sfn.DefinitionBody.from_string(render_definition(config)),
            definition_substitutions={
                "ApplicationId": application.attr_application_id,
                "JobRoleArn": compute.job_role.role_arn,
                "EntryPoint": packaging.entry_point_uri,
                "SparkSubmitParameters": compute.spark_submit_parameters(packaging.py_files_uri),
                "LogUri": storage.logs_bucket.s3_url_for_object(EMR_LOGS_PREFIX),
                "DefaultInput": storage.input_bucket.s3_url_for_object(DEFAULT_INPUT_PREFIX),
                "DefaultOutput": storage.results_bucket.s3_url_for_object(DEFAULT_OUTPUT_PREFIX),
                "WeightsUri": packaging.model_uri,
                "DefaultImageSize": str(config.image_size),
                "DefaultVariance": str(config.variance),
            },
            logs=sfn.LogOptions(
                destination=self.log_group,
                level=sfn.LogLevel.ALL,
                include_execution_data=True,
            ),
            tracing_enabled=True,
        )
        for statement in _permissions(application.attr_arn, compute.job_role.role_arn):
            self.state_machine.add_to_role_policy(statement)
        self._acknowledge_service_wildcards(Stack.of(self).get_logical_id(application))
        acknowledge_role_policy(self.state_machine.role, "state machine role")

    def _acknowledge_service_wildcards(self, application_id: str) -> None:
        policy = self.state_machine.role.node.find_child("DefaultPolicy")
        for finding, reason in (
            (
                f"Resource::<{application_id}.Arn>/jobruns/*",
                (
                    "Job run ids are created by each execution; GetJobRun/CancelJobRun are "
                    "limited to the runs of this one application."
                ),
            ),
            (
                "Resource::*",
                (
                    "CloudWatch Logs vended-log delivery (logs:*LogDelivery, DescribeLogGroups, "
                    "PutResourcePolicy...) and X-Ray PutTraceSegments/PutTelemetryRecords/"
                    "GetSampling* do not support resource-level permissions."
                ),
            ),
        ):
            acknowledge(policy, f"AwsSolutions-IAM5[{finding}]", reason)


def _permissions(application_arn: str, job_role_arn: str) -> list[iam.PolicyStatement]:
    """What the startApplication/startJobRun/stopApplication .sync integrations call."""
    return [
        iam.PolicyStatement(
            sid="ManageApplication",
            actions=[
                "emr-serverless:StartApplication",
                "emr-serverless:StopApplication",
                "emr-serverless:GetApplication",
                "emr-serverless:StartJobRun",
            ],
            resources=[application_arn],
        ),
        iam.PolicyStatement(
            sid="WatchJobRuns",
            actions=["emr-serverless:GetJobRun", "emr-serverless:CancelJobRun"],
            resources=[f"{application_arn}/jobruns/*"],
        ),
        iam.PolicyStatement(
            sid="PassJobRole",
            actions=["iam:PassRole"],
            resources=[job_role_arn],
            conditions={"StringEquals": {"iam:PassedToService": EMR_SERVICE}},
        ),
        iam.PolicyStatement(
            sid="SyncIntegrationRules",
            actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
            resources=[
                f"arn:{Aws.PARTITION}:events:{Aws.REGION}:{Aws.ACCOUNT_ID}:rule/{rule}" for rule in MANAGED_RULES
            ],
        ),
    ]
