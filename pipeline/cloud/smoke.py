"""`cloud smoke`: after `cdk deploy`, one run of the bundled sample photos through the deployed stack, checked.

The sample is split per label (every HELD_OUT_EVERY-th photo held out), uploaded under
`smoke/<run-id>/` of the input bucket, and run through the state machine with the held-out
part as `apply`, so the run measures a held-out accuracy. Its report, job_run.json and
_SUCCESS are then downloaded and checked (`check_run`, a pure function of those files and
of what AWS says of the application and of the deployed code). The smoke input is removed
afterwards, the run's results kept unless `--clean`.
"""

from __future__ import annotations

import re
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipeline.cloud import jobs, runs
from pipeline.cloud.errors import Exit, bad_parameters
from pipeline.cloud.follow import POLL_SECONDS, TAIL_LINES, print_logs, wait
from pipeline.cloud.stack import Stack, s3_uri, split_s3_uri
from pipeline.cloud.transfer import Copy, download_prefix, listing, upload_files
from pipeline.contract.prices import Billed, api_path, billed
from pipeline.report.dashboard import read_json
from pipeline.storage.photo_names import is_photo

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "sample"
SMOKE_PREFIX = "smoke/"
HELD_OUT_EVERY = 5
"""Every fifth photo of each label (in name order) is held out: 2 of the sample's 10 per label."""
FIT_SET, HELD_OUT_SET = "train", "held_out"
"""The two folders, and the set names the job gives them (the fit set is always `train`)."""
REPORT_FILES = ("_SUCCESS", "report.json", "report.html", "job_run.json")
DEPLOYED_JOB = re.compile(r"s3://[^\s\"']+/job/([0-9a-f]{64})/")
"""The job package's key in the state machine's definition: job/<source digest>/ (infra/packaging.py)."""


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str
    code: Exit  # the exit code when it fails


@dataclass(frozen=True)
class Verdict:
    checks: list[Check]

    @property
    def code(self) -> Exit:
        """The first failed check's code (in the order of docs/aws.md's table), else OK."""
        return next((check.code for check in self.checks if not check.passed), Exit.OK)


def split_sample(folder: Path) -> dict[str, dict[str, list[Path]]]:
    """{set: {label: photos}}: per label, every HELD_OUT_EVERY-th photo (name order) held out, the rest fitted on."""
    if not folder.is_dir():
        raise bad_parameters(f"no sample photos at {folder}: run it from a clone of the repository")
    split: dict[str, dict[str, list[Path]]] = {FIT_SET: {}, HELD_OUT_SET: {}}
    for label in sorted(p for p in folder.iterdir() if p.is_dir()):
        photos = sorted(p for p in label.iterdir() if p.is_file() and is_photo(p.name))
        for index, photo in enumerate(photos):
            part = HELD_OUT_SET if index % HELD_OUT_EVERY == HELD_OUT_EVERY - 1 else FIT_SET
            split[part].setdefault(label.name, []).append(photo)
    if not split[FIT_SET] or not split[HELD_OUT_SET]:
        raise bad_parameters(
            f"{folder} needs <Label>/<photo>.jpg folders with at least {HELD_OUT_EVERY} photos in one label"
        )
    return split


def expected_counts(split: dict[str, dict[str, list[Path]]]) -> dict[str, dict[str, int]]:
    return {part: {label: len(photos) for label, photos in labels.items()} for part, labels in split.items()}


def photo_count(expected: dict[str, dict[str, int]]) -> int:
    return sum(sum(per_label.values()) for per_label in expected.values())


def _missing_photos(report: dict[str, Any], expected: dict[str, dict[str, int]]) -> list[str]:
    """What the report's sets lack: every uploaded photo of each set and label featurized, none skipped."""
    problems = []
    for name, per_label in expected.items():
        featurized = api_path(report, "sets", name, "featurized_per_label")
        featurized = featurized if isinstance(featurized, dict) else {}
        for label, count in sorted(per_label.items()):
            if featurized.get(label) != count:
                problems.append(f"{name}/{label}: {featurized.get(label, 0)} of {count}")
        if api_path(report, "sets", name, "skipped"):
            problems.append(f"{name}: {api_path(report, 'sets', name, 'skipped')} skipped")
    return problems


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_run(
    has_success: bool,
    report: dict[str, Any] | None,
    job_run: dict[str, Any] | None,
    expected: dict[str, dict[str, int]],
    application_state: str,
    deployed_digest: str | None,
) -> Verdict:
    """The smoke run's checks, from its downloaded files and what AWS says now; in exit-code order."""
    report, job_run = report or {}, job_run or {}
    missing = _missing_photos(report, expected) if report else ["no report.json"]
    k = api_path(report, "pca", "k")
    accuracy = api_path(report, "classifier", "held_out_accuracy", HELD_OUT_SET)
    usage = [api_path(job_run, "billedResourceUtilization", name) for name in ("vCPUHour", "memoryGBHour")]
    digest = api_path(report, "artifacts", "code", "sha256")
    return Verdict(
        [
            Check("_SUCCESS", has_success, "written" if has_success else "not written", Exit.NO_SUCCESS),
            Check(
                "photos",
                not missing,
                "; ".join(missing) or f"all {photo_count(expected)} featurized",
                Exit.PHOTOS_MISSING,
            ),
            Check("PCA", isinstance(k, int) and k >= 1, f"k = {k}", Exit.NO_COMPONENTS),
            Check(
                "held-out accuracy",
                _is_number(accuracy),
                f"{accuracy:.1%} on {HELD_OUT_SET}" if _is_number(accuracy) else f"none for {HELD_OUT_SET}",
                Exit.NO_HELD_OUT,
            ),
            Check(
                "billed resources",
                all(map(_is_number, usage)),
                f"{usage[0]} vCPU-hours, {usage[1]} GB-hours" if job_run else "no job_run.json",
                Exit.NOT_BILLED,
            ),
            Check(
                "application stopped",
                application_state == "STOPPED",
                f"the EMR Serverless application is {application_state}",
                Exit.NOT_STOPPED,
            ),
            Check(
                "deployed code",
                digest is not None and digest == deployed_digest,
                f"sha256 {str(digest)[:12]}..., the deployed job package"
                if digest is not None and digest == deployed_digest
                else f"the report's code is sha256 {digest}; the state machine runs job/{deployed_digest}/",
                Exit.FOREIGN_CODE,
            ),
        ]
    )


def deployed_digest(stack: Stack) -> str | None:
    """The source digest of the job package the state machine submits (its S3 key), None if not one."""
    definition = stack.client("stepfunctions").describe_state_machine(stateMachineArn=stack.state_machine_arn)
    found = set(DEPLOYED_JOB.findall(definition["definition"]))
    return found.pop() if len(found) == 1 else None


def console_link(region: str, execution_arn: str) -> str:
    return f"https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution_arn}"


def upload_split(stack: Stack, split: dict[str, dict[str, list[Path]]], prefix: str) -> None:
    copies = [
        Copy(photo, f"{prefix}{part}/{label}/{photo.name}", photo.stat().st_size)
        for part, labels in split.items()
        for label, photos in labels.items()
        for photo in photos
    ]
    upload_files(stack.client("s3"), stack.input_bucket, copies)


def delete_prefix(s3, bucket: str, prefix: str) -> int:
    """Delete every object under `prefix` (versioned buckets keep them as noncurrent versions)."""
    keys = list(listing(s3, bucket, prefix))
    for start in range(0, len(keys), 1000):
        batch = [{"Key": key} for key in keys[start : start + 1000]]
        s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
    return len(keys)


def smoke(stack: Stack, target: Path | None = None, clean: bool = False, poll_seconds: float = POLL_SECONDS) -> int:
    """Upload, run, follow, download, check, clean up; prints the verdict and returns its exit code."""
    began = time.monotonic()
    run_id = "smoke-" + datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    target = target if target is not None else Path("smoke") / run_id
    split = split_sample(SAMPLE)
    expected = expected_counts(split)
    prefix = f"{SMOKE_PREFIX}{run_id}/"
    execution: dict[str, Any] | None = None
    try:
        print(f"smoke run {run_id}: {photo_count(expected)} sample photos to {s3_uri(stack.input_bucket, prefix)}")
        upload_split(stack, split, prefix)
        request = runs.RunRequest(input=prefix + FIT_SET + "/", apply=(prefix + HELD_OUT_SET + "/",), run_id=run_id)
        execution = runs.start(stack, request)
        print(f"console: {console_link(stack.region, execution['executionArn'])}")
        execution = wait(stack, execution, poll_seconds)
        code = _verdict(stack, execution, expected, target, began)
    finally:
        if execution is not None and execution["status"] not in runs.FINISHED:
            print(f"the run goes on: its input {s3_uri(stack.input_bucket, prefix)} is left in place", file=sys.stderr)
        else:
            removed = delete_prefix(stack.client("s3"), stack.input_bucket, prefix)
            print(f"removed the smoke input ({removed} object(s) under {s3_uri(stack.input_bucket, prefix)})")
    if clean and execution["status"] == "SUCCEEDED":
        bucket, folder = split_s3_uri(runs.run_folder(runs.execution_args(stack, execution)))
        print(f"--clean: removed the run's results ({delete_prefix(stack.client('s3'), bucket, folder)} object(s))")
    return code


def _verdict(stack: Stack, execution: dict[str, Any], expected: dict, target: Path, began: float) -> int:
    job_run_id = jobs.job_run_id(stack, execution)
    if execution["status"] != "SUCCEEDED":
        error, cause = runs.failure(stack, execution)
        print(f"FAILED: run {execution['name']} ended {execution['status']}: {error}: {cause}")
        record = jobs.job_run(stack, job_run_id) if job_run_id else None
        _summary(execution, jobs.billed_resources(stack, record) if record else None, began)
        _logs(stack, record)
        return runs.outcome_code(execution)
    folder = runs.run_folder(runs.execution_args(stack, execution))
    bucket, prefix = split_s3_uri(folder)
    download_prefix(stack.client("s3"), bucket, prefix, target, wanted=lambda relative: relative in REPORT_FILES)
    job_run = read_json(target / "job_run.json")
    application = stack.client("emr-serverless").get_application(applicationId=stack.application_id)["application"]
    verdict = check_run(
        (target / "_SUCCESS").is_file(),
        read_json(target / "report.json"),
        job_run,
        expected,
        application["state"],
        deployed_digest(stack),
    )
    for check in verdict.checks:
        print(f"  {'pass' if check.passed else 'FAIL'}  {check.name}: {check.detail}")
    _summary(
        execution, billed(job_run, stack.region, application.get("architecture", "X86_64")) if job_run else None, began
    )
    print(f"report: {target / 'report.html'}; results: {folder}")
    if verdict.code != Exit.OK:
        _logs(stack, jobs.job_run(stack, job_run_id) if job_run_id else None)
    print("smoke run passed" if verdict.code == Exit.OK else f"smoke run FAILED (exit code {int(verdict.code)})")
    return verdict.code


def _summary(execution: dict[str, Any], cost: Billed | None, began: float) -> None:
    took = runs.duration(time.monotonic() - began)
    print(f"wall time: {took} in all, {runs.duration(runs.elapsed(execution))} for the execution")
    print(f"billed: {cost.summary()}" if cost else "billed: unknown (no billed resources recorded)")


def _logs(stack: Stack, record: dict[str, Any] | None) -> None:
    """The driver's last lines; `record` is GetJobRun's (job_run.json need not name the log folder)."""
    if record is None:
        print("logs: the job never started (no job run); the execution history has the cause")
    else:
        print_logs(stack, record, TAIL_LINES)
