"""CloudWatch log groups that expire their events and disappear with the stack."""

from __future__ import annotations

from typing import cast

from aws_cdk import CfnResource, RemovalPolicy
from aws_cdk import aws_iam as iam
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra.nag import NIST, acknowledge

# What LogGroup.grant_write allows, and all a function needs to log into an existing group.
LOG_WRITE_ACTIONS = ["logs:CreateLogStream", "logs:PutLogEvents"]
# The values CloudWatch Logs accepts for RetentionInDays.
VALID_RETENTION_DAYS = frozenset(
    {
        1,
        3,
        5,
        7,
        14,
        30,
        60,
        90,
        120,
        150,
        180,
        365,
        400,
        545,
        731,
        1096,
        1827,
        2192,
        2557,
        2922,
        3288,
        3653,
    }
)


def expiring_log_group(scope: Construct, construct_id: str, retention_days: int) -> logs.LogGroup:
    """A log group whose retention is any valid number of days (the L2 wants an enum name)."""
    if retention_days not in VALID_RETENTION_DAYS:
        raise ValueError(f"log retention must be one of {sorted(VALID_RETENTION_DAYS)} days, got {retention_days}")
    log_group = logs.LogGroup(scope, construct_id, removal_policy=RemovalPolicy.DESTROY)
    cast(logs.CfnLogGroup, log_group.node.default_child).retention_in_days = retention_days
    acknowledge(
        log_group,
        f"{NIST}-CloudWatchLogGroupEncrypted",
        "CloudWatch Logs encrypts these events at rest with keys it manages; they hold run "
        "states, S3 keys and error messages, never the photos or features (which "
        "-c encryption=kms puts under a customer key), and expire after their retention.",
    )
    return log_group


def send_function_logs_to(function: CfnResource, log_group: logs.ILogGroup) -> None:
    """Make a Lambda function declared as a plain CfnResource log into `log_group`.

    CDK's own custom resource providers (e.g. the S3 auto-delete handler) take no log
    options: left alone, Lambda creates `/aws/lambda/<name>` on the first call, with no
    retention, and `cdk destroy` never deletes it. The Ref makes the function depend on
    the group, so the group exists before the first call and is deleted after the function.
    """
    function.add_property_override("LoggingConfig.LogGroup", log_group.log_group_name)


def confine_function_logs_to(role: CfnResource, log_group: logs.ILogGroup) -> None:
    """Let the execution role of a function declared as a plain CfnResource write `log_group` only.

    CDK gives its own custom resource providers the managed AWSLambdaBasicExecutionRole,
    which allows creating any log group and writing to every log group of the account
    (Resource `*`, https://docs.aws.amazon.com/aws-managed-policy/latest/reference/AWSLambdaBasicExecutionRole.html);
    a function whose log group is set only needs to create streams in it and put events
    (https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-loggroups.html).
    """
    role.add_property_deletion_override("ManagedPolicyArns")
    role.add_property_override(
        "Policies",
        [
            {
                "PolicyName": "WriteOwnLogGroup",
                "PolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {"Effect": "Allow", "Action": LOG_WRITE_ACTIONS, "Resource": log_group.log_group_arn}
                    ],
                },
            }
        ],
    )


def confine_role_logs_to(role: iam.Role, log_group: logs.ILogGroup) -> None:
    """The same for a function whose role is an iam.Role (e.g. CDK's BucketDeployment handler)."""
    # On the L1 property itself, not an override: cdk-nag reads the property.
    cast(iam.CfnRole, role.node.default_child).managed_policy_arns = None
    log_group.grant_write(role)
