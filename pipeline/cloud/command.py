"""`python -m pipeline cloud VERB`: the verbs, their options, what they print and their exit codes.

Progress and the live line of `start --wait` go to stderr; results (locations, tables,
summaries) to stdout. Exit codes: pipeline/cloud/errors.py `Exit`, listed in docs/aws-runs.md.
"""

from __future__ import annotations

import argparse
import sys
from datetime import timezone
from pathlib import Path
from typing import Any

from pipeline.cloud import jobs, runs
from pipeline.cloud.errors import CloudError, Exit, guarded
from pipeline.cloud.follow import POLL_SECONDS, TAIL_LINES, print_logs, wait
from pipeline.cloud.stack import Stack, aws_options, connect, s3_uri, split_s3_uri
from pipeline.contract.arguments import comma_list
from pipeline.contract.execution_input import DEFAULT_INPUT_PREFIX, RUNS_PREFIX
from pipeline.contract.prices import api_field


def add_parser(commands: argparse._SubParsersAction) -> None:
    cloud = commands.add_parser(
        "cloud",
        help="drive the deployed stack: upload, start, status, runs, logs, results, smoke, dashboard",
        description="Drive the deployed stack, found by its CloudFormation outputs (stack name and region).",
    )
    cloud.set_defaults(handler=main)
    verbs = cloud.add_subparsers(dest="verb", required=True, metavar="VERB")
    common = [aws_options()]

    upload = verbs.add_parser("upload", parents=common, help="send a photo folder to the input bucket")
    upload.add_argument("folder", metavar="DIR", help="local folder of <Label>/<photo>.jpg")
    upload.add_argument(
        "--prefix", default=DEFAULT_INPUT_PREFIX, help=f"folder in the input bucket ({DEFAULT_INPUT_PREFIX})"
    )
    upload.set_defaults(verb_handler=_upload)

    start = verbs.add_parser("start", parents=common, help="start a run (an execution of the state machine)")
    start.add_argument(
        "--input",
        help=f"photos to fit on (or to project with --transform): a prefix of the input bucket or s3:// URI in it "
        f"(default {DEFAULT_INPUT_PREFIX})",
    )
    start.add_argument(
        "--apply",
        action="append",
        default=[],
        type=comma_list,
        metavar="PREFIXES",
        help="more photo folders projected with that PCA (comma-separated, repeatable)",
    )
    start.add_argument("--image-size", type=int, help="pixels per side fed to the model (stack default: 224)")
    start.add_argument("--variance", type=float, help="share of variance kept by PCA (stack default: 0.95)")
    start.add_argument(
        "--run-id",
        help="name of the run and of its results folder (default: UTC timestamp, transform-... for --transform)",
    )
    start.add_argument(
        "--transform", metavar="RUN", help="project --input with the finished run RUN (run id or s3:// folder) instead"
    )
    start.add_argument(
        "--reuse",
        metavar="latest|RUN_ID",
        help="photos unchanged since this finished run take its features, unread (latest: the newest succeeded run)",
    )
    start.add_argument("--wait", action="store_true", help="follow the run to its end, then print its cost")
    start.add_argument("--poll", type=float, default=POLL_SECONDS, help=argparse.SUPPRESS)
    start.set_defaults(verb_handler=_start)

    status = verbs.add_parser("status", parents=common, help="state of a run (default: the latest)")
    status.add_argument("run", nargs="?", metavar="RUN", help="run id or execution ARN")
    status.set_defaults(verb_handler=_status)

    listing = verbs.add_parser("runs", parents=common, help="recent runs with their outcome")
    listing.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    listing.set_defaults(verb_handler=_runs)

    logs = verbs.add_parser("logs", parents=common, help="where a run's Spark logs are; the driver's last lines")
    logs.add_argument("run", nargs="?", metavar="RUN", help="run id or execution ARN (default: the latest)")
    logs.add_argument("--tail", type=int, help=f"driver stderr lines to print (default {TAIL_LINES} on failure)")
    logs.set_defaults(verb_handler=_logs)

    results = verbs.add_parser("results", parents=common, help="download a finished run (predict works on it)")
    results.add_argument("run", nargs="?", metavar="RUN", help="run id or execution ARN (default: the latest)")
    results.add_argument("--to", required=True, metavar="DIR", help="local folder for the run")
    results.add_argument(
        "--all", dest="everything", action="store_true", help="also the Parquet features and projections (large)"
    )
    results.set_defaults(verb_handler=_results)

    smoke = verbs.add_parser(
        "smoke",
        parents=common,
        help="after cdk deploy: run the bundled sample photos through the stack and check the run",
        description="Upload data/sample (split into train/ and held_out/) under smoke/<run-id>/ of the input bucket, "
        "run it, download its report and check it; exit codes in docs/aws.md.",
    )
    smoke.add_argument("--to", metavar="DIR", help="local folder for the run's report (default smoke/<run-id>/)")
    smoke.add_argument("--clean", action="store_true", help="also delete the run's results from the results bucket")
    smoke.add_argument("--poll", type=float, default=POLL_SECONDS, help=argparse.SUPPRESS)
    smoke.set_defaults(verb_handler=_smoke)

    board = verbs.add_parser("dashboard", parents=common, help="static page of every finished run in the bucket")
    board.add_argument("--out", default="dashboard", metavar="DIR", help="local folder for the page (dashboard/)")
    board.set_defaults(verb_handler=_dashboard)


def main(args: argparse.Namespace) -> int:
    return guarded(lambda: args.verb_handler(connect(args.stack, args.region, args.profile), args))


def _upload(stack: Stack, args: argparse.Namespace) -> int:
    from pipeline.cloud.transfer import megabytes
    from pipeline.cloud.upload import upload

    done = upload(stack, args.folder, args.prefix)
    print(f"uploaded {done.sent} photo(s) ({megabytes(done.sent_bytes)}) to {done.location}")
    print(f"skipped {done.skipped} already there (same size and checksum)", end="")
    print(f", ignored {done.ignored} non-photo file(s)" if done.ignored else "")
    if done.unlabelled:
        print(
            f"warning: {done.unlabelled} photo(s) directly in {args.folder}: the job labels a photo by its folder, "
            f"so they are labelled {done.location.rstrip('/').rsplit('/', 1)[-1]!r}; use <Label>/ subfolders",
            file=sys.stderr,
        )
    print(f"next: python -m pipeline cloud start --input {done.location} --wait")
    return Exit.OK


def _start(stack: Stack, args: argparse.Namespace) -> int:
    request = runs.RunRequest(
        input=args.input,
        apply=tuple(p for group in args.apply for p in group),
        image_size=args.image_size,
        variance=args.variance,
        run_id=args.run_id,
        transform=args.transform,
        reuse=args.reuse,
    )
    execution = runs.start(stack, request)
    name = execution["name"]
    started = runs.execution_args(stack, execution)
    print(f"started run {name}: {runs.run_folder(started)}")
    if "reuse" in started:
        print(f"reusing the features of run {started['reuse']}: {runs.runs_folder(stack, started['reuse'])}")
    print(f"execution: {execution['executionArn']}")
    if not args.wait:
        print(f"follow it: python -m pipeline cloud status {name}")
        return Exit.OK
    return _report(stack, wait(stack, execution, args.poll))


def _report(stack: Stack, execution: dict[str, Any]) -> int:
    """What a user wants once a run has ended (or of a run going on): outcome, where, cost, why not."""
    name, status = execution["name"], execution["status"]
    took = runs.duration(runs.elapsed(execution))
    print(f"run {name}: {status} ({'running for' if status not in runs.FINISHED else 'took'} {took})")
    print(f"input: {execution.get('input', '{}')}")
    refused = runs.refusal(stack, execution)
    if refused:
        print(f"refused: {refused} (the execution input's checks): nothing of it is used, no results")
    job_run_id = jobs.job_run_id(stack, execution)
    record = jobs.record(stack, execution, job_run_id) if job_run_id else None
    if record is not None:
        details = api_field(record, "stateDetails")
        print(f"job run {job_run_id}: {api_field(record, 'state')}{f' ({details})' if details else ''}")
    if status == "SUCCEEDED":
        folder = runs.run_folder(runs.execution_args(stack, execution))
        print(f"results: {folder}  (python -m pipeline cloud results {name} --to DIR)")
        _print_warnings(runs.execution_output(execution))
    elif status in runs.FINISHED:
        error, cause = runs.failure(stack, execution)
        print(f"cause: {error}: {cause}" if error else f"cause: {cause}")
        if record is not None:
            print_logs(stack, record, TAIL_LINES)
        else:
            print("logs: the job never started (no job run); the execution history above has the cause")
    if record is not None:
        cost = jobs.billed_resources(stack, record)
        if cost is not None and status in runs.FINISHED:
            print(f"billed: {cost.summary()}")
    return runs.outcome_code(execution)


WARNINGS = {
    "recordError": "job_run.json (the billed resources) was not written beside the results",
    "stopError": "the application was not stopped (another run's job busy?); it stops itself once idle",
}
"""What a succeeded execution's output reports about its last steps (infra/state_machine.asl.json)."""


def _print_warnings(output: dict[str, Any]) -> None:
    for key, what in WARNINGS.items():
        problem = output.get(key)
        if isinstance(problem, dict):
            cause = runs.readable_cause(str(api_field(problem, "Cause") or ""))
            print(f"warning: {what}: {api_field(problem, 'Error')}: {cause}")


def _status(stack: Stack, args: argparse.Namespace) -> int:
    return _report(stack, runs.find_execution(stack, args.run))


def _runs(stack: Stack, args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise CloudError("--limit must be at least 1", Exit.BAD_PARAMETERS)
    found = runs.recent(stack, args.limit)
    if not found:
        print("no runs yet: python -m pipeline cloud start")
        return Exit.OK
    rows = [("RUN", "STATUS", "STARTED (UTC)", "DURATION")]
    sfn = stack.client("stepfunctions")
    for execution in found:
        started = execution["startDate"].astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        status = execution["status"]
        if status == "FAILED" and runs.refusal(stack, sfn.describe_execution(executionArn=execution["executionArn"])):
            status = "REFUSED"  # its input fails the checks: it never ran
        rows.append((execution["name"], status, started, runs.duration(runs.elapsed(execution))))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip())
    return Exit.OK


def _logs(stack: Stack, args: argparse.Namespace) -> int:
    execution = runs.find_execution(stack, args.run)
    job_run_id = jobs.job_run_id(stack, execution)
    if job_run_id is None:
        print(f"run {execution['name']} ({execution['status']}) has no job run yet: no Spark logs")
        return runs.outcome_code(execution)
    record = jobs.record(stack, execution, job_run_id)
    failed = execution["status"] in runs.FINISHED and execution["status"] != "SUCCEEDED"
    print_logs(stack, record, args.tail if args.tail is not None else (TAIL_LINES if failed else 0))
    return runs.outcome_code(execution)


def _results(stack: Stack, args: argparse.Namespace) -> int:
    from pipeline.cloud.transfer import download_prefix

    folder = _results_folder(stack, args.run)
    runs.require_finished_results(stack, folder)
    bucket, prefix = split_s3_uri(folder)
    target = Path(args.to).expanduser()
    copied, skipped = download_prefix(
        stack.client("s3"), bucket, prefix, target, wanted=lambda relative: args.everything or not _bulky(relative)
    )
    print(f"downloaded {copied} file(s) of {folder} to {target} ({skipped} already there)")
    if not args.everything:
        print("left out the Parquet features and projections (the CSVs hold the projections): --all for them too")
    print(f"report: {target / 'report.html'}\npredict: python -m pipeline predict --run {target} PHOTO...")
    return Exit.OK


def _results_folder(stack: Stack, run: str | None) -> str:
    """The run's folder: from its execution's input, else (history expired) runs/<RUN>/ directly."""
    try:
        execution = runs.find_execution(stack, run)
    except CloudError:
        if run is None or run.startswith("arn:"):
            raise
        return s3_uri(stack.results_bucket, f"{RUNS_PREFIX}{run}/")
    return runs.run_folder(runs.execution_args(stack, execution))


def _bulky(relative: str) -> bool:
    """features_<set>.parquet/ and pca_<set>.parquet/: large, and not needed by predict or people."""
    top = relative.split("/", 1)[0]
    return top.endswith(".parquet") and top.startswith(("features_", "pca_"))


def _smoke(stack: Stack, args: argparse.Namespace) -> int:
    from pipeline.cloud.smoke import smoke

    return smoke(
        stack, target=Path(args.to).expanduser() if args.to else None, clean=args.clean, poll_seconds=args.poll
    )


def _dashboard(stack: Stack, args: argparse.Namespace) -> int:
    from pipeline.cloud.dashboard import s3_runs
    from pipeline.report.dashboard import write

    source = s3_uri(stack.results_bucket, RUNS_PREFIX)
    out = Path(args.out).expanduser()
    page = write(s3_runs(stack.client("s3"), source, out), source, out)
    print(f"dashboard: {page}")
    return Exit.OK
