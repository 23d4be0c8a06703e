"""Orchestration: a Step Functions state machine that checks the input, runs the job once and stops the application."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from aws_cdk import ArnFormat, Aws, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.compute import DATA_KEY_ACTIONS, EMR_SERVICE, Compute
from infra.config import AppConfig
from infra.log_groups import expiring_log_group
from infra.nag import acknowledge, acknowledge_role_policy
from infra.packaging import Packaging
from infra.stop_on_delete import StopOnDelete
from infra.storage import EMR_LOGS_PREFIX, RUNS_PREFIX, Storage
from pipeline.contract.execution_input import Places
from pipeline.contract.execution_input_asl import render_states

DEFINITION_FILE = Path(__file__).with_name("state_machine.asl.json")
STATES_SERVICE = "states.amazonaws.com"
# The EventBridge rule Step Functions manages for the startApplication/stopApplication .sync integrations.
MANAGED_RULE = "StepFunctionsGetEventsForEMRServerlessApplicationRule"
# Step Functions validates an optimized integration's parameters against its own model when
# the state machine is created: its EMR Serverless tasks carry only what this page shows for them.
# StartJobRun, whose request has many more fields, goes through the AWS SDK integration instead
# (`aws-sdk:emrserverless:startJobRun`, the API's own members in PascalCase).
OPTIMIZED_EMR_PAGE = "https://docs.aws.amazon.com/step-functions/latest/dg/connect-emr-serverless.html"
OPTIMIZED_EMR_PARAMETERS = {
    "arn:aws:states:::emr-serverless:startApplication.sync": ("ApplicationId",),
    "arn:aws:states:::emr-serverless:cancelJobRun": ("ApplicationId", "JobRunId"),
    "arn:aws:states:::emr-serverless:stopApplication.sync": ("ApplicationId",),
}
STATE_MACHINE_NAME_SUFFIX = "-run"
MAX_STATE_MACHINE_NAME = 80
# The state machine's placeholders for what the input checks compare with.
PLACES = Places("${InputBucket}", "${ResultsBucket}")
MODEL_URI = "${WeightsUri}"
JOB_RUN_RECORD = "job_run.json"

# GetJobRun every POLL_SECONDS. EMR stops the job at its own timeout; the state machine
# gives up JOB_START_ALLOWANCE_SECONDS later (time for EMR to queue and start workers),
# cancels the run and polls it CANCEL_POLLS more times before stopping the application.
POLL_SECONDS = 30
JOB_START_ALLOWANCE_SECONDS = 15 * 60
CANCEL_POLLS = 10
# Start of the application (a few minutes at most) and slack, in the execution's budget.
START_AND_SLACK_SECONDS = 15 * 60


def state_machine_name(stack: Stack) -> str:
    """From the stack's name: two stacks (or a fork) coexist in one account and region."""
    name = f"{stack.stack_name}{STATE_MACHINE_NAME_SUFFIX}"
    if len(name) > MAX_STATE_MACHINE_NAME:
        raise ValueError(f"stack name {stack.stack_name!r} is too long: the state machine name {name!r} exceeds 80")
    return name


def _retry_budget_seconds(retry: dict) -> float:
    """The longest a Retry waits in total (full jitter only shortens the waits)."""
    interval, total = retry["IntervalSeconds"], 0.0
    for _ in range(retry["MaxAttempts"]):
        total += min(interval, retry.get("MaxDelaySeconds", math.inf))
        interval *= retry.get("BackoffRate", 2.0)
    return total


MARKER = "set by infra/orchestration.py"


def _fill(value: Any, values: dict[str, Any]) -> Any:
    """Replace every MARKER with the value of its key (a missing value raises KeyError)."""
    if isinstance(value, dict):
        return {key: values[key] if item == MARKER else _fill(item, values) for key, item in value.items()}
    if isinstance(value, list):
        return [_fill(item, values) for item in value]
    return value


def render_definition(config: AppConfig) -> str:
    """The ASL file with the input checks and its numbers, as the JSON string given to CloudFormation.

    Strings come in through `definition_substitutions`; numbers and booleans cannot (a
    `${...}` placeholder is a string in JSON), so they are set here. Every limit is
    bounded: job (EMR's timeout) < polling < the whole execution.
    """
    definition = json.loads(DEFINITION_FILE.read_text())
    states = definition["States"]
    start, checks = render_states(
        PLACES,
        image_size=config.image_size,
        variance=config.variance,
        model_uri=MODEL_URI,
        next_state="SplitOutput",
    )
    if set(checks) & set(states):
        raise ValueError(f"state names used twice: {sorted(set(checks) & set(states))}")
    job_polls = math.ceil((config.job_timeout_minutes * 60 + JOB_START_ALLOWANCE_SECONDS) / POLL_SECONDS)
    polling_minutes = job_polls * POLL_SECONDS // 60
    timeout_cause = (
        f"States.Format('job run {{}} was still {{}} after {polling_minutes} minutes: cancelled', "
        "$.job.id, $.poll.State)"
    )
    markers = {
        "ExecutionTimeoutMinutes": config.job_timeout_minutes,
        "Enabled": config.emr_managed_persistence,
        "Seconds": POLL_SECONDS,
        "Cause.$": timeout_cause,
    }
    poll_limits = {"CheckJobRun": job_polls, "CheckCancellation": CANCEL_POLLS}
    filled = {
        name: _fill(state, {**markers, "NumericGreaterThanEquals": poll_limits.get(name)})
        for name, state in states.items()
    }
    stop_retry = states["StopApplicationAfterFailure"]["Retry"][0]
    budget = (
        job_polls * POLL_SECONDS
        + CANCEL_POLLS * POLL_SECONDS
        + _retry_budget_seconds(stop_retry)
        + START_AND_SLACK_SECONDS
    )
    if config.encryption == "kms":
        # The application's own monitoring setting names the key too (infra/compute.py); the job's
        # LogUri is repeated here, so the key goes with it: whether EMR Serverless merges a job's
        # S3MonitoringConfiguration with the application's field by field is not documented.
        logs = filled["StartJobRun"]["Parameters"]["ConfigurationOverrides"]["MonitoringConfiguration"]
        logs["S3MonitoringConfiguration"]["EncryptionKeyArn"] = "${LogKeyArn}"
    definition = {
        **definition,
        "StartAt": start,
        "TimeoutSeconds": math.ceil(budget),
        "States": {**checks, **filled},
    }
    return json.dumps(definition, indent=2)


class Orchestration(Construct):
    """Check the input -> start application -> start the job, poll it -> stop, also on failure or timeout.

    Its role, trusted by this state machine only, may call exactly the EMR Serverless
    APIs of this flow on this application and its job runs, manage the EventBridge rule
    of the .sync integrations, pass exactly the job role to EMR Serverless, and write
    each run's job_run.json into the results bucket's runs/.
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
        stack = Stack.of(self)
        application = compute.application
        self.state_machine_name = state_machine_name(stack)
        state_machine_arn = stack.format_arn(
            service="states",
            resource="stateMachine",
            resource_name=self.state_machine_name,
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        self.role = iam.Role(
            self,
            "StateMachineRole",
            description="Step Functions role of the feature pipeline's state machine",
            # This state machine only, by its exact ARN (confused-deputy protection): not
            # any state machine of the account.
            assumed_by=iam.ServicePrincipal(
                STATES_SERVICE,
                conditions={
                    "StringEquals": {"aws:SourceAccount": Aws.ACCOUNT_ID},
                    "ArnEquals": {"aws:SourceArn": state_machine_arn},
                },
            ),
        )
        self.log_group = expiring_log_group(self, "ExecutionLogs", config.state_machine_log_retention_days)
        self.state_machine = sfn.StateMachine(
            self,
            "StateMachine",
            state_machine_name=self.state_machine_name,
            comment="Run the fruit-photo feature pipeline on EMR Serverless",
            definition_body=sfn.DefinitionBody.from_string(render_definition(config)),
            definition_substitutions={
                "ApplicationId": application.attr_application_id,
                "JobRoleArn": compute.job_role.role_arn,
                "EntryPoint": packaging.entry_point_uri,
                "SparkSubmitParameters": compute.spark_submit_parameters(packaging.py_files_uri),
                "LogUri": storage.logs_bucket.s3_url_for_object(EMR_LOGS_PREFIX),
                "InputBucket": storage.input_bucket.bucket_name,
                "ResultsBucket": storage.results_bucket.bucket_name,
                "WeightsUri": packaging.model_uri,
                **({} if storage.data_key is None else {"LogKeyArn": storage.data_key.key_arn}),
            },
            role=self.role,
            logs=sfn.LogOptions(
                destination=self.log_group,
                level=sfn.LogLevel.ALL,
                include_execution_data=config.log_execution_data,
            ),
            tracing_enabled=True,
        )
        for statement in _permissions(application.attr_arn, compute.job_role.role_arn, storage):
            self.role.add_to_policy(statement)
        if storage.data_key is not None:
            # job_run.json through S3; StartJobRun through EMR Serverless, which refuses a job whose
            # submitter may not use the key of its logs (AWS's "Encrypting logs" page).
            self.role.add_to_policy(
                storage.data_key_statement("UseDataKeyThroughS3AndEmr", DATA_KEY_ACTIONS, ["s3", "emr-serverless"])
            )
        self.stop_on_delete = StopOnDelete(
            self,
            "StopOnDelete",
            application=application,
            state_machine=self.state_machine,
            state_machine_name=self.state_machine_name,
            log_retention_days=config.state_machine_log_retention_days,
        )
        self._acknowledge_service_wildcards(stack, application, storage)
        acknowledge_role_policy(self.role, "state machine role")

    def _acknowledge_service_wildcards(self, stack: Stack, application: Any, storage: Storage) -> None:
        policy = self.role.node.find_child("DefaultPolicy")
        results_id = stack.get_logical_id(storage.results_bucket.node.default_child)
        for finding, reason in (
            (
                f"Resource::<{stack.get_logical_id(application)}.Arn>/jobruns/*",
                (
                    "Job run ids are created by each execution; GetJobRun/CancelJobRun are "
                    "limited to the runs of this one application."
                ),
            ),
            (
                f"Resource::<{results_id}.Arn>/{RUNS_PREFIX}*/{JOB_RUN_RECORD}",
                (
                    "Each run's folder is named at run time: PutObject only, only job_run.json, "
                    "only under the results bucket's runs/."
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


def _permissions(application_arn: str, job_role_arn: str, storage: Storage) -> list[iam.PolicyStatement]:
    """What the states of the definition call, on this application, its job runs and its results."""
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
            sid="SyncIntegrationRule",
            actions=["events:PutTargets", "events:PutRule", "events:DescribeRule"],
            resources=[f"arn:{Aws.PARTITION}:events:{Aws.REGION}:{Aws.ACCOUNT_ID}:rule/{MANAGED_RULE}"],
        ),
        iam.PolicyStatement(
            sid="RecordJobRun",
            actions=["s3:PutObject"],
            resources=[storage.results_bucket.arn_for_objects(f"{RUNS_PREFIX}*/{JOB_RUN_RECORD}")],
        ),
    ]
