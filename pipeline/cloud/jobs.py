"""The EMR Serverless job run behind an execution: its id, state, billed resources and logs.

Log layout (EMR Serverless User Guide, "Storing logs"): under the job's S3 logUri,
applications/<application-id>/jobs/<job-run-id>/SPARK_DRIVER/stderr.gz (and stdout.gz),
SPARK_EXECUTOR/<n>/..., with an attempts/<n>/ level for jobs run with retries;
EMR refreshes these files every 15 seconds while the job runs.
"""

from __future__ import annotations

import gzip
import re
from dataclasses import dataclass
from typing import Any

from pipeline.cloud.runs import execution_output, json_object
from pipeline.cloud.stack import Stack, s3_uri, split_s3_uri
from pipeline.contract.prices import Billed, api_field, api_path, billed

RECENT_JOB_RUNS = 200
"""Job runs searched by name when the history does not name the job run (newest first)."""
ATTEMPT = re.compile(r"/attempts/(\d+)/")


def job_run_id(stack: Stack, execution: dict[str, Any]) -> str | None:
    """The job run started by `execution`, None before it starts.

    The state machine keeps the id in its state as `job.id` from StartJobRun on: it is
    read from a succeeded execution's output, else from the latest state's output in the
    history (read newest first, up to the first state that has it). A job run whose id
    has not reached the history yet is found by name (the state machine names job runs
    after their execution).
    """
    found = _job_id(execution_output(execution))
    if found:
        return found
    pages = stack.client("stepfunctions").get_paginator("get_execution_history")
    for page in pages.paginate(executionArn=execution["executionArn"], reverseOrder=True):
        for event in page["events"]:
            found = _job_id(json_object(event.get("stateExitedEventDetails", {}).get("output")))
            if found:
                return found
    return _job_run_named(stack, execution["name"])


def _job_id(state: dict[str, Any]) -> str | None:
    job = state.get("job")
    return job["id"] if isinstance(job, dict) and isinstance(job.get("id"), str) else None


def _job_run_named(stack: Stack, name: str) -> str | None:
    emr = stack.client("emr-serverless")
    pages = emr.get_paginator("list_job_runs").paginate(
        applicationId=stack.application_id, PaginationConfig={"MaxItems": RECENT_JOB_RUNS}
    )
    try:
        for page in pages:
            for run in page.get("jobRuns", []):
                if run.get("name") == name:
                    return run["id"]
    except emr.exceptions.ResourceNotFoundException:  # moto, for an application without job runs yet
        pass
    return None


def job_run(stack: Stack, run_id: str) -> dict[str, Any]:
    return stack.client("emr-serverless").get_job_run(applicationId=stack.application_id, jobRunId=run_id)["jobRun"]


def record(stack: Stack, execution: dict[str, Any], run_id: str) -> dict[str, Any]:
    """EMR's record of the job run: a succeeded execution's last look at it (`poll.jobRun` in its
    output, what job_run.json holds, in Step Functions' capitalised names), else GetJobRun now.
    Read its fields with `api_field`/`api_path`, whatever their case."""
    polled = api_path(execution_output(execution), "poll", "jobRun")
    return polled if isinstance(polled, dict) else job_run(stack, run_id)


def architecture(stack: Stack) -> str:
    application = stack.client("emr-serverless").get_application(applicationId=stack.application_id)
    return application["application"].get("architecture", "X86_64")


def billed_resources(stack: Stack, record: dict[str, Any]) -> Billed | None:
    """The job run's billed vCPU-hours and GB-hours, priced for the stack's region and architecture."""
    return billed(record, stack.region, architecture(stack))


@dataclass(frozen=True)
class Logs:
    folder: str | None  # s3://.../applications/<app>/jobs/<job run>/, None without S3 logging
    files: list[str]  # keys under the folder
    driver_stderr: str | None  # s3:// URI of the latest attempt's driver stderr

    def listing(self) -> list[str]:
        """Driver and executor files grouped by folder, relative to `folder`."""
        if self.folder is None:
            return []
        return sorted({key.rsplit("/", 1)[0] + "/" for key in self.files})


def logs(stack: Stack, record: dict[str, Any]) -> Logs:
    log_uri = api_path(
        record, "configurationOverrides", "monitoringConfiguration", "s3MonitoringConfiguration", "logUri"
    )
    if not log_uri:
        return Logs(None, [], None)
    application, job = api_field(record, "applicationId"), api_field(record, "jobRunId")
    folder = f"{str(log_uri).rstrip('/')}/applications/{application}/jobs/{job}/"
    bucket, prefix = split_s3_uri(folder)
    keys = []
    for page in stack.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [item["Key"][len(prefix) :] for item in page.get("Contents", [])]
    drivers = [key for key in keys if key.endswith("SPARK_DRIVER/stderr.gz")]
    latest = max(drivers, key=_attempt, default=None)
    return Logs(folder, sorted(keys), s3_uri(bucket, prefix + latest) if latest else None)


def _attempt(key: str) -> int:
    found = ATTEMPT.search("/" + key)
    return int(found.group(1)) if found else 0


def tail(stack: Stack, uri: str, lines: int) -> list[str]:
    """The last `lines` lines of a gzipped log file."""
    bucket, key = split_s3_uri(uri)
    body = stack.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    try:
        text = gzip.decompress(body).decode("utf-8", "replace")
    except (OSError, EOFError):  # still being written, or not gzipped
        text = body.decode("utf-8", "replace")
    return text.splitlines()[-lines:]
