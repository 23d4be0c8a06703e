"""What went wrong, as one `error:` line and one exit code per kind (listed in docs/aws-runs.md, Exit codes)."""

from __future__ import annotations

import sys
from enum import IntEnum
from typing import Callable


class Exit(IntEnum):
    OK = 0
    RUN_FAILED = 1  # the execution failed or was aborted
    BAD_PARAMETERS = 2  # also argparse's code, and the job's for bad input
    STACK_NOT_FOUND = 3  # no such stack in that region, or it lacks an output the client reads
    TIMED_OUT = 4  # the execution hit its timeout
    AWS_ERROR = 5  # credentials, permissions, network, or another refusal from AWS
    UNSAFE_KEY = 6  # a bucket's key would be downloaded outside the target folder: nothing downloaded
    # `cloud smoke`: the run succeeded but a check of it failed (the first failed one, in this order).
    NO_SUCCESS = 10  # the run folder has no _SUCCESS
    PHOTOS_MISSING = 11  # a sample photo was not featurized
    NO_COMPONENTS = 12  # the PCA kept no component (k < 1)
    NO_HELD_OUT = 13  # no accuracy on the held-out part of the sample
    NOT_BILLED = 14  # no job_run.json, or no billed vCPU-hours and GB-hours in it
    NOT_STOPPED = 15  # the EMR Serverless application did not end STOPPED
    FOREIGN_CODE = 16  # the report's code digest is not the deployed job package's
    INTERRUPTED = 130  # Ctrl-C while waiting: the run itself goes on


class CloudError(Exception):
    """A failure the user can act on: the message is the whole explanation."""

    def __init__(self, message: str, code: Exit) -> None:
        super().__init__(message)
        self.code = code


def bad_parameters(message: str) -> CloudError:
    return CloudError(message, Exit.BAD_PARAMETERS)


def from_aws(error: Exception) -> CloudError:
    """botocore's exceptions as one line each: what failed and, where obvious, what to do."""
    from botocore.exceptions import (
        ClientError,
        CredentialRetrievalError,
        HTTPClientError,
        NoCredentialsError,
        NoRegionError,
        PartialCredentialsError,
        ProfileNotFound,
        SSOError,
        TokenRetrievalError,
    )
    from botocore.exceptions import ConnectionError as NoConnection
    from botocore.parsers import ResponseParserError

    if isinstance(error, (SSOError, TokenRetrievalError)):
        return CloudError(f"{error}: log in again (aws sso login, with the same profile)", Exit.AWS_ERROR)
    unusable = (NoCredentialsError, ProfileNotFound, PartialCredentialsError, CredentialRetrievalError)
    if isinstance(error, unusable):
        return CloudError(
            f"unusable AWS credentials: {str(error).rstrip(': ')}: configure them (aws configure, aws sso login, "
            "or AWS_PROFILE)",
            Exit.AWS_ERROR,
        )
    if isinstance(error, NoRegionError):
        return bad_parameters(str(error))
    if isinstance(error, (NoConnection, HTTPClientError)):  # refused, closed, timed out, proxy or TLS
        return CloudError(f"cannot reach AWS: {error}", Exit.AWS_ERROR)
    if isinstance(error, ResponseParserError):
        return CloudError(
            "cannot reach AWS: the answer was not AWS's (a proxy or a captive portal in the way?): "
            + str(error).splitlines()[0],
            Exit.AWS_ERROR,
        )
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        operation = getattr(error, "operation_name", "a request")
        return CloudError(
            f"AWS refused {operation}: {details.get('Code', 'error')}: {details.get('Message', error)}",
            Exit.AWS_ERROR,
        )
    return CloudError(str(error), Exit.AWS_ERROR)


def guarded(action: Callable[[], int]) -> int:
    """Run a verb: every failure becomes one `error:` line and its exit code."""
    from botocore.exceptions import BotoCoreError, ClientError
    from botocore.parsers import ResponseParserError

    try:
        return int(action())
    except CloudError as error:
        failure = error
    except (BotoCoreError, ClientError, ResponseParserError) as error:
        failure = from_aws(error)
    except KeyboardInterrupt:
        failure = CloudError("interrupted", Exit.INTERRUPTED)
    print(f"error: {failure}", file=sys.stderr)
    return int(failure.code)
