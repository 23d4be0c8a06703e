"""cdk-nag acknowledgments: one finding at a time, each with the reason it is accepted."""

from aws_cdk import Acknowledgment, Validations
from constructs import IConstruct


def acknowledge(scope: IConstruct, finding: str, reason: str) -> None:
    """Accept exactly `finding` (e.g. `AwsSolutions-IAM5[Resource::*]`) on `scope` and below."""
    Validations.of(scope).acknowledge(Acknowledgment(id=finding, reason=reason))
