"""cdk-nag acknowledgments: one finding at a time, each with the reason it is accepted.

Two packs check every synth (app.py): AwsSolutions and NIST 800-53 rev 5. Besides the
single `acknowledge`, the helpers below carry the NIST findings that every resource of
one kind has in this app, so that a construct adding such a resource accepts them with
one call, on that resource only, naming what it is.
"""

from aws_cdk import Acknowledgment, Token, Validations
from constructs import IConstruct

NIST = "NIST.800.53.R5"


def as_named(value: str, pseudo_parameter: str) -> str:
    """A stack's region or partition as cdk-nag writes it in a finding: literal when known at
    synth (the region is set on the stack; `@aws-cdk/core:enablePartitionLiterals` then makes
    the partition literal too), else the pseudo parameter, `<AWS::Region>`."""
    return f"<AWS::{pseudo_parameter}>" if Token.is_unresolved(value) else value


def acknowledge(scope: IConstruct, finding: str, reason: str) -> None:
    """Accept exactly `finding` (e.g. `AwsSolutions-IAM5[Resource::*]`) on `scope` and below."""
    Validations.of(scope).acknowledge(Acknowledgment(id=finding, reason=reason))


def acknowledge_role_policy(role: IConstruct, whose: str) -> None:
    """A role whose statements CDK writes into a policy of its own (the role's DefaultPolicy)."""
    acknowledge(
        role,
        f"{NIST}-IAMNoInlinePolicy",
        f"The {whose} keeps its statements in a policy that exists for this one role, is created, "
        "changed and deleted with it, and cannot be attached to any other principal of the account "
        "(the strict one-to-one case IAM recommends inline policies for).",
    )


def acknowledge_deploy_time_function(function: IConstruct, role: IConstruct, what: str) -> None:
    """A Lambda function that CloudFormation invokes only while it deploys or destroys the stack.

    `function` is the Lambda construct, `role` its execution role (below it or beside it);
    `what` names the function in the reasons.
    """
    for rule, reason in (
        (
            "LambdaConcurrency",
            "runs only while CloudFormation deploys or destroys this stack, once per custom "
            "resource event; reserving concurrency for it would only take capacity from the account.",
        ),
        (
            "LambdaDLQ",
            "answers a CloudFormation custom resource event, and CloudFormation fails the deployment "
            "when no answer comes; a queued copy of the event would help nobody (the retry is a deploy).",
        ),
        (
            "LambdaInsideVPC",
            "reaches only AWS APIs and the CloudFormation response URL through public AWS endpoints; "
            "a VPC would need NAT or interface endpoints that bill every hour while the stack is idle.",
        ),
    ):
        acknowledge(function, f"{NIST}-{rule}", f"{what} {reason}")
    acknowledge_role_policy(role, f"role of {what}")
