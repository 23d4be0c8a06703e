"""The deployed stack, found by name and region: its outputs, and boto3 clients that retry.

Throttling and transient errors are retried by botocore's "standard" retry mode
(exponential backoff with jitter) on every call the client makes.
"""

from __future__ import annotations

import argparse
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

from pipeline.cloud.errors import CloudError, Exit, bad_parameters, from_aws
from pipeline.contract.deployment import DEFAULT_REGION, STACK_NAME, region_refusal

MAX_ATTEMPTS = 10
"""Attempts per call (botocore standard mode: backoff up to 20 s between attempts)."""
FIRST_CALL_ATTEMPTS = 3
"""Attempts of the first call (the stack's outputs): AWS out of reach fails in seconds, not after 10 tries."""
CONNECT_TIMEOUT_SECONDS = 5
"""Per connection attempt (botocore's default is 60 s: a network that drops packets looked like a hang)."""
PATIENCE_SECONDS = 3.0
"""After this long without the stack's outputs, one line on stderr says what the client is waiting for."""
NO_CREDENTIALS = (
    "no AWS credentials found: set AWS_PROFILE or pass --profile (a profile made by `aws configure` or "
    "`aws configure sso`), or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
)

# The outputs of infra/stack.py the client reads (a test checks them against the synthesized template).
INPUT_BUCKET = "InputBucketName"
RESULTS_BUCKET = "ResultsBucketName"
LOGS_BUCKET = "LogsBucketName"
APPLICATION_ID = "ApplicationId"
STATE_MACHINE_ARN = "StateMachineArn"
NEEDED_OUTPUTS = (INPUT_BUCKET, RESULTS_BUCKET, LOGS_BUCKET, APPLICATION_ID, STATE_MACHINE_ARN)


def aws_options(stack: bool = True) -> argparse.ArgumentParser:
    """--stack/--region/--profile, shared by every verb (--region/--profile: by `dashboard` for s3:// runs)."""
    options = argparse.ArgumentParser(add_help=False)
    if stack:
        options.add_argument("--stack", default=STACK_NAME, help=f"CloudFormation stack name (default {STACK_NAME})")
    options.add_argument(
        "--region", default=DEFAULT_REGION, help=f"the stack's region, an EU one (default {DEFAULT_REGION})"
    )
    options.add_argument("--profile", help="AWS named profile (default: the usual AWS credential chain)")
    return options


def new_session(region: str, profile: str | None):
    """A boto3 session; AWS_ENDPOINT_URL (e.g. a local moto or LocalStack server) is honoured by boto3."""
    import boto3

    return boto3.Session(profile_name=profile, region_name=region)


@dataclass
class Stack:
    name: str
    region: str
    outputs: dict[str, str]
    session: Any
    _clients: dict[str, Any] = field(default_factory=dict, repr=False)

    def client(self, service: str):
        if service not in self._clients:
            self._clients[service] = client(self.session, service)
        return self._clients[service]

    @property
    def input_bucket(self) -> str:
        return self.outputs[INPUT_BUCKET]

    @property
    def results_bucket(self) -> str:
        return self.outputs[RESULTS_BUCKET]

    @property
    def logs_bucket(self) -> str:
        return self.outputs[LOGS_BUCKET]

    @property
    def application_id(self) -> str:
        return self.outputs[APPLICATION_ID]

    @property
    def state_machine_arn(self) -> str:
        return self.outputs[STATE_MACHINE_ARN]


def client(session, service: str, attempts: int = MAX_ATTEMPTS):
    from botocore.config import Config

    config = Config(
        retries={"mode": "standard", "total_max_attempts": attempts},  # max_attempts would count retries only
        connect_timeout=CONNECT_TIMEOUT_SECONDS,
        user_agent_extra="fruit-features-client",
    )
    return session.client(service, config=config)


def check_credentials(session) -> None:
    """Resolve the credentials before any call, with one line saying what to set when there are none.

    Without this the first call finds out: botocore walks its whole chain (environment, profiles,
    SSO, container, then the EC2 instance metadata service, which on a laptop only times out).
    Credentials that refresh (SSO, assumed roles) are refreshed here, so an expired login says so now.
    """
    credentials = session.get_credentials()
    if credentials is None:
        raise CloudError(NO_CREDENTIALS, Exit.AWS_ERROR)
    credentials.get_frozen_credentials()


def check_region(region: str) -> None:
    refusal = region_refusal(region, "pass --region <one of them>")
    if refusal:
        raise bad_parameters(refusal)


def connect(stack_name: str, region: str, profile: str | None = None) -> Stack:
    """The stack's outputs through CloudFormation; refuses a non-EU region before any call."""
    from botocore.exceptions import BotoCoreError, ClientError

    check_region(region)
    waiting = f"waiting for AWS: credentials, then the outputs of stack {stack_name} in {region} ..."
    notice = threading.Timer(PATIENCE_SECONDS, lambda: print(waiting, file=sys.stderr, flush=True))
    notice.daemon = True
    notice.start()
    try:
        session = new_session(region, profile)
        check_credentials(session)
        cloudformation = client(session, "cloudformation", FIRST_CALL_ATTEMPTS)
        found = cloudformation.describe_stacks(StackName=stack_name)["Stacks"][0]
    except ClientError as error:
        if "does not exist" in error.response.get("Error", {}).get("Message", ""):
            raise CloudError(
                f"stack {stack_name} not found in {region}: deploy it (npx --no-install cdk deploy) "
                "or pass the --stack and --region it was deployed with",
                Exit.STACK_NOT_FOUND,
            ) from None
        raise from_aws(error) from None
    except BotoCoreError as error:
        raise from_aws(error) from None
    finally:
        notice.cancel()
    outputs = {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}
    missing = [name for name in NEEDED_OUTPUTS if name not in outputs]
    if missing:
        raise CloudError(
            f"stack {stack_name} in {region} ({found.get('StackStatus', 'unknown status')}) has no output "
            f"{', '.join(missing)}: deploy this version of the app (npx --no-install cdk deploy)",
            Exit.STACK_NOT_FOUND,
        )
    return Stack(stack_name, region, outputs, session)


def s3_uri(bucket: str, key: str = "") -> str:
    return f"s3://{bucket}/{key}"


def split_s3_uri(uri: str) -> tuple[str, str]:
    """s3://bucket/some/key -> ("bucket", "some/key")."""
    if not uri.startswith("s3://") or len(uri) <= len("s3://"):
        raise bad_parameters(f"not an s3:// location: {uri!r}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key
