"""Following a run: the live line while it goes on, and the logs of its job run.

Shared by `cloud start --wait`, `status`, `logs` and `smoke`.
"""

from __future__ import annotations

import sys
import time
from typing import Any, Callable

from pipeline.cloud import jobs, runs
from pipeline.cloud.errors import CloudError, Exit
from pipeline.cloud.stack import Stack
from pipeline.contract.prices import api_field

POLL_SECONDS = 10.0
TAIL_LINES = 30


def wait(
    stack: Stack,
    execution: dict[str, Any],
    poll_seconds: float = POLL_SECONDS,
    stream=None,
    sleep: Callable[[float], None] = time.sleep,
) -> dict[str, Any]:
    """Poll until the execution ends, with one live line: execution state, job run state, elapsed."""
    stream = stream if stream is not None else sys.stderr
    live, shown, job_run_id = stream.isatty(), "", None
    sfn = stack.client("stepfunctions")
    try:
        while True:
            job_run_id = job_run_id or jobs.job_run_id(stack, execution)
            job_state = jobs.job_run(stack, job_run_id)["state"] if job_run_id else "not started"
            line = (
                f"{execution['name']}: execution {execution['status']}, job {job_state}, "
                f"{runs.duration(runs.elapsed(execution))}"
            )
            if live:
                stream.write(f"\r{line:<78}")
            elif line.rsplit(",", 1)[0] != shown.rsplit(",", 1)[0]:  # a new state, not just a new second
                stream.write(line + "\n")
            shown = line
            stream.flush()
            if execution["status"] in runs.FINISHED:
                if live:
                    stream.write("\n")
                return execution
            sleep(poll_seconds)
            execution = sfn.describe_execution(executionArn=execution["executionArn"])
    except KeyboardInterrupt:
        raise CloudError(
            f"stopped waiting; run {execution['name']} goes on (python -m pipeline cloud status {execution['name']})",
            Exit.INTERRUPTED,
        ) from None


def print_logs(stack: Stack, record: dict[str, Any], lines: int) -> None:
    found = jobs.logs(stack, record)
    if found.folder is None:
        print(f"logs: job run {api_field(record, 'jobRunId')} has no S3 log location")
        return
    print(f"logs: {found.folder}")
    for folder in found.listing():
        print(f"  {folder}")
    if not found.files:
        print("  (none yet: EMR uploads the logs every 15 s once the driver runs)")
    if lines and found.driver_stderr:
        print(f"last {lines} lines of {found.driver_stderr}:")
        for line in jobs.tail(stack, found.driver_stderr, lines):
            print(f"  | {line}")
