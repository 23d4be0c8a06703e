"""CloudWatch log groups that expire their events and disappear with the stack."""

from __future__ import annotations

from typing import cast

from aws_cdk import RemovalPolicy
from aws_cdk import aws_logs as logs
from constructs import Construct

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
    return log_group
