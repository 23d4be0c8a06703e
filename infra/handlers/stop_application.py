"""Custom resource handler: on stack delete, stop the EMR Serverless application first.

CloudFormation cannot delete a STARTED application, and EMR Serverless refuses to stop
one while a job run is running or cancelling. So on Delete this handler stops the
state machine's running executions (none can start another job), cancels the
application's unfinished job runs, waits until they have ended, stops the application
and waits until it is STOPPED. An application that is already stopped, or gone, needs
nothing. Create and Update do nothing.

CloudFormation invokes the function directly (ServiceToken = its ARN) and the handler
answers on the pre-signed ResponseURL itself: no provider framework, no extra function.
Standard library and the runtime's boto3 only.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any, Callable

import boto3

UNFINISHED_JOB_STATES = ("SUBMITTED", "PENDING", "SCHEDULED", "RUNNING", "QUEUED", "CANCELLING")
NOTHING_TO_STOP = ("CREATING", "CREATED", "STOPPED", "TERMINATED")
POLL_SECONDS = 10
# Time kept back from the Lambda timeout to answer CloudFormation whatever happens.
RESPONSE_MARGIN_SECONDS = 30


class StillBusy(TimeoutError):
    """The application did not reach STOPPED in the time this invocation had."""


class Stopper:
    """The delete-time sequence against one application, with an injectable clock for the tests."""

    def __init__(
        self,
        emr: Any,
        application_id: str,
        *,
        deadline: float,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.emr = emr
        self.application_id = application_id
        self.deadline = deadline
        self.clock = clock
        self.sleep = sleep

    def stop(self) -> str:
        """Cancel unfinished job runs, then stop the application; returns what was done."""
        try:
            cancelled = self._cancel_job_runs()
            self._wait_for_job_runs()
            return self._stop_application(cancelled)
        except self.emr.exceptions.ResourceNotFoundException:
            return f"application {self.application_id} does not exist: nothing to stop"

    def _unfinished_job_runs(self) -> list[dict]:
        runs: list[dict] = []
        for page in self.emr.get_paginator("list_job_runs").paginate(
            applicationId=self.application_id, states=list(UNFINISHED_JOB_STATES)
        ):
            runs.extend(page["jobRuns"])
        return runs

    def _cancel_job_runs(self) -> list[str]:
        cancelled = []
        for run in self._unfinished_job_runs():
            if run["state"] == "CANCELLING":
                continue
            try:
                self.emr.cancel_job_run(applicationId=self.application_id, jobRunId=run["id"])
                cancelled.append(run["id"])
            except self.emr.exceptions.ValidationException:
                pass  # it ended between the listing and the cancel
        return cancelled

    def _wait(self, what: str) -> None:
        if self.clock() + POLL_SECONDS > self.deadline:
            raise StillBusy(f"application {self.application_id}: {what}; run `cdk destroy` again")
        self.sleep(POLL_SECONDS)

    def _wait_for_job_runs(self) -> None:
        while runs := self._unfinished_job_runs():
            self._wait(f"job runs {', '.join(r['id'] for r in runs)} still {', '.join(r['state'] for r in runs)}")

    def _stop_application(self, cancelled: list[str]) -> str:
        done = f"cancelled job runs {', '.join(cancelled)}; " if cancelled else ""
        look_again = False
        while True:
            state = self.emr.get_application(applicationId=self.application_id)["application"]["state"]
            if state in NOTHING_TO_STOP:
                return f"{done}application {self.application_id} is {state}"
            if state == "STARTED" and not look_again:
                try:
                    self.emr.stop_application(applicationId=self.application_id)
                    look_again = True  # STOPPING (or already STOPPED) at once, usually
                    continue
                except self.emr.exceptions.ValidationException:
                    self._cancel_job_runs()  # a job run submitted meanwhile
            look_again = False
            self._wait(f"still {state}")


def respond(event: dict, status: str, reason: str, physical_id: str) -> None:
    """CloudFormation's custom resource answer, PUT on the pre-signed URL of the request."""
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:3000],
            "PhysicalResourceId": physical_id,
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "NoEcho": False,
            "Data": {},
        }
    ).encode()
    request = urllib.request.Request(
        event["ResponseURL"], data=body, method="PUT", headers={"Content-Type": "", "Content-Length": str(len(body))}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def stop_executions(stepfunctions: Any, state_machine_arn: str) -> list[str]:
    """Stop the state machine's running executions, so that none starts the application again."""
    stopped = []
    for page in stepfunctions.get_paginator("list_executions").paginate(
        stateMachineArn=state_machine_arn, statusFilter="RUNNING"
    ):
        for execution in page["executions"]:
            stepfunctions.stop_execution(
                executionArn=execution["executionArn"],
                error="StackDeleted",
                cause="cdk destroy: the stack and its EMR Serverless application are being deleted",
            )
            stopped.append(execution["name"])
    return stopped


def handler(event: dict, context: Any) -> None:
    properties = event["ResourceProperties"]
    application_id = properties["ApplicationId"]
    status, reason = "SUCCESS", f"{event['RequestType']}: nothing to do"
    try:
        if event["RequestType"] == "Delete":
            stopped = stop_executions(boto3.client("stepfunctions"), properties["StateMachineArn"])
            deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - RESPONSE_MARGIN_SECONDS
            reason = Stopper(boto3.client("emr-serverless"), application_id, deadline=deadline).stop()
            if stopped:
                reason = f"stopped executions {', '.join(stopped)}; {reason}"
    except Exception as error:  # every failure must reach CloudFormation, or it waits for an hour
        status, reason = "FAILED", f"{type(error).__name__}: {error}"
    print(json.dumps({"status": status, "reason": reason}))
    # The application id as physical id: a replaced application gets a Delete (a stop) for the old one.
    respond(event, status, reason, physical_id=application_id)
