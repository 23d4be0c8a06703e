"""The EMR Serverless job run behind an execution: its id, state, billed resources and logs.

Log layout (EMR Serverless User Guide, "Storing logs"): under the job's S3 logUri,
applications/<application-id>/jobs/<job-run-id>/SPARK_DRIVER/stderr.gz (and stdout.gz),
SPARK_EXECUTOR/<n>/..., with an attempts/<n>/ level for jobs run with retries;
EMR refreshes these files every 15 seconds while the job runs.
"""

from __future__ import annotations

import gzip
import json
import re
from dataclasses import dataclass
from typing import Any

from pipeline.cloud.runs import history
from pipeline.cloud.stack import Stack, s3_uri, split_s3_uri
from pipeline.prices import Billed, billed

JOB_RUN_ID_KEYS = ("JobRunId", "jobRunId")
RECENT_JOB_RUNS = 200
"""Job runs searched by name when the history does not name the job run (newest first)."""
ATTEMPT = re.compile(r"/attempts/(\d+)/")


def job_run_id(stack: Stack, execution: dict[str, Any], events: list[dict[str, Any]] | None = None) -> str | None:
    """The job run started by `execution`: named in its task events, else the application's job run
    named after the execution (the state machine names job runs so); None before it starts."""
    for event in events if events is not None else history(stack, execution["executionArn"]):
        for details in event.values():
            if isinstance(details, dict):
                for field in ("output", "parameters"):
                    found = _find_key(details.get(field))
                    if found:
                        return found
    emr = stack.client("emr-serverless")
    pages = emr.get_paginator("list_job_runs").paginate(
        applicationId=stack.application_id, PaginationConfig={"MaxItems": RECENT_JOB_RUNS}
    )
    try:
        for page in pages:
            for run in page.get("jobRuns", []):
                if run.get("name") == execution["name"]:
                    return run["id"]
    except emr.exceptions.ResourceNotFoundException:  # moto, for an application without job runs yet
        pass
    return None


def _find_key(value: Any) -> str | None:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    if isinstance(value, dict):
        for key in JOB_RUN_ID_KEYS:
            if isinstance(value.get(key), str):
                return value[key]
        for item in value.values():
            found = _find_key(item) if isinstance(item, (dict, list)) else None
            if found:
                return found
    if isinstance(value, list):
        for item in value:
            found = _find_key(item)
            if found:
                return found
    return None


def job_run(stack: Stack, run_id: str) -> dict[str, Any]:
    return stack.client("emr-serverless").get_job_run(applicationId=stack.application_id, jobRunId=run_id)["jobRun"]


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
    log_uri = (
        record.get("configurationOverrides", {})
        .get("monitoringConfiguration", {})
        .get("s3MonitoringConfiguration", {})
        .get("logUri")
    )
    if not log_uri:
        return Logs(None, [], None)
    folder = f"{log_uri.rstrip('/')}/applications/{record['applicationId']}/jobs/{record['jobRunId']}/"
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
