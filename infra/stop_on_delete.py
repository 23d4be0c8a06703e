"""StopOnDelete: on `cdk destroy`, stop the EMR Serverless application before CloudFormation deletes it."""

from __future__ import annotations

from pathlib import Path

from aws_cdk import ArnFormat, CustomResource, Duration, Stack
from aws_cdk import aws_emrserverless as emrs
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct

from infra.log_groups import expiring_log_group
from infra.nag import acknowledge, acknowledge_deploy_time_function, as_named

HANDLER_DIR = Path(__file__).parent / "handlers"
HANDLER = "stop_application.handler"
# The longest a Lambda function may run: cancelling job runs and stopping takes minutes.
HANDLER_TIMEOUT = Duration.minutes(15)
# The newest Python runtime of this aws-cdk-lib; a test keeps it the newest.
RUNTIME = lambda_.Runtime.PYTHON_3_14


class StopOnDelete(Construct):
    """A custom resource whose only work is on Delete: stop the runs, then the application.

    It references the application and the state machine, so CloudFormation deletes it,
    and runs the handler, before either of them (and before the function, its role and
    its log group, which it also depends on). The handler may stop this state machine's
    executions, cancel this application's job runs and stop this application; nothing else.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        application: emrs.CfnApplication,
        state_machine: sfn.StateMachine,
        state_machine_name: str,  # literal (the state machine's attribute is a token)
        log_retention_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        log_group = expiring_log_group(self, "Logs", log_retention_days)
        role = iam.Role(
            self,
            "Role",
            description="Stops the EMR Serverless application of the feature pipeline on stack delete",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        )
        log_group.grant_write(role)
        executions = Stack.of(self).format_arn(
            service="states",
            resource="execution",
            resource_name=f"{state_machine_name}:*",
            arn_format=ArnFormat.COLON_RESOURCE_NAME,
        )
        for sid, actions, resources in (
            ("ListExecutions", ["states:ListExecutions"], [state_machine.state_machine_arn]),
            ("StopExecutions", ["states:StopExecution"], [executions]),
            (
                "StopApplication",
                ["emr-serverless:GetApplication", "emr-serverless:StopApplication", "emr-serverless:ListJobRuns"],
                [application.attr_arn],
            ),
            ("CancelJobRuns", ["emr-serverless:CancelJobRun"], [f"{application.attr_arn}/jobruns/*"]),
        ):
            role.add_to_policy(iam.PolicyStatement(sid=sid, actions=actions, resources=resources))
        self.function = lambda_.Function(
            self,
            "Handler",
            description="On stack delete: stop executions, cancel job runs, stop the EMR Serverless application",
            runtime=RUNTIME,
            handler=HANDLER,
            code=lambda_.Code.from_asset(str(HANDLER_DIR), exclude=["__pycache__", "*.pyc"]),
            timeout=HANDLER_TIMEOUT,
            memory_size=256,
            role=role,
            log_group=log_group,
        )
        self.resource = CustomResource(
            self,
            "Resource",
            service_token=self.function.function_arn,
            resource_type="Custom::StopEmrServerlessApplication",
            properties={
                "ApplicationId": application.attr_application_id,
                "StateMachineArn": state_machine.state_machine_arn,
            },
            # A lost answer fails the delete after this long instead of CloudFormation's hour.
            service_timeout=HANDLER_TIMEOUT.plus(Duration.minutes(1)),
        )
        self._acknowledge(role, application, state_machine_name)
        acknowledge_deploy_time_function(self.function, role, "The stop-on-delete function")

    def _acknowledge(self, role: iam.Role, application: emrs.CfnApplication, state_machine_name: str) -> None:
        stack = Stack.of(self)
        application_id = stack.get_logical_id(application)
        region, partition = as_named(stack.region, "Region"), as_named(stack.partition, "Partition")
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::<{application_id}.Arn>/jobruns/*]",
            "Job run ids are only known on delete: CancelJobRun is limited to the runs of this one application.",
        )
        acknowledge(
            role,
            f"AwsSolutions-IAM5[Resource::arn:{partition}:states:{region}:<AWS::AccountId>:"
            f"execution:{state_machine_name}:*]",
            "Execution names are only known on delete: StopExecution is limited to this one state machine's runs.",
        )
