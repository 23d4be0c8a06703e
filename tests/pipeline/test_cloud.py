"""The cloud client against moto's server: every verb, on the stack's resources as the template names them."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from infra_asl import state_machine

from infra import orchestration
from pipeline.cli import main
from pipeline.cloud import follow, runs
from pipeline.cloud import stack as cloud_stack
from pipeline.cloud.errors import CloudError
from pipeline.cloud.stack import NEEDED_OUTPUTS, connect
from pipeline.contract.deployment import STACK_NAME
from pipeline.contract.execution_input import ERROR
from tests.conftest import SAMPLE, copy_sample
from tests.pipeline.cloud_stack import (  # noqa: F401 (moto_endpoint: a fixture)
    DRIVER_ERROR,
    FAILURE,
    REGION,
    cloud,
    deployed_stack,
    job_options,
    keys,
    moto_endpoint,
)


@pytest.fixture
def deployed(moto_endpoint, synthesized, monkeypatch):  # noqa: F811
    yield from deployed_stack(moto_endpoint, synthesized, monkeypatch)


@pytest.fixture
def photos(tmp_path) -> dict[str, Path]:
    return {
        "train": copy_sample(tmp_path / "train", per_label=2, labels=3),
        "validation": copy_sample(tmp_path / "validation", per_label=1, labels=3),
    }


def upload_both(capsys, photos) -> None:
    for name, folder in photos.items():
        assert cloud(capsys, "upload", str(folder), "--prefix", name)[0] == 0


def test_the_client_reads_what_the_synthesized_stack_writes(synthesized) -> None:
    """Its outputs, and in an execution's state: job.id, poll.jobRun, recordError, stopError and the
    timeout's error name. (The execution input's fields and defaults are one module for both sides.)"""
    assert set(NEEDED_OUTPUTS) <= set(synthesized.template.to_json()["Outputs"])
    states = json.loads(state_machine(synthesized)["DefinitionString"])["States"]
    assert states["StartJobRun"]["ResultPath"] == "$.job" and "id.$" in states["StartJobRun"]["ResultSelector"]
    assert states["ReadJobRunRecord"]["ResultPath"] == "$.poll.jobRun"
    assert states["ReadJobRunRecord"]["Catch"][0]["ResultPath"] == "$.recordError"
    assert states["RecordJobRun"]["Catch"][0]["ResultPath"] == "$.recordError"
    assert states["StopApplication"]["Catch"][0]["ResultPath"] == "$.stopError"
    assert states["JobRunTimedOut"]["Parameters"]["Error"] == runs.JOB_RUN_TIMEOUT


def test_upload_sends_each_photo_once_and_large_ones_in_parts(deployed, tmp_path, capsys) -> None:
    folder = copy_sample(tmp_path / "photos", per_label=2, labels=3)
    (folder / "Big 1").mkdir()
    (folder / "Big 1" / "big.JPG").write_bytes(bytes(range(256)) * 36_000)  # 9.2 MB: two parts
    (folder / "notes.txt").write_text("not a photo")
    code, out, err = cloud(capsys, "upload", str(folder))
    assert code == 0, err
    assert "uploaded 7 photo(s)" in out and "ignored 1 non-photo" in out and "upload [" in err
    uploaded = keys(deployed, "InputBucketName", "train/")
    assert len(uploaded) == 7 and "train/Banana 1/" in " ".join(uploaded)
    assert uploaded["train/Big 1/big.JPG"]["ETag"].strip('"').endswith("-2")

    code, out, _ = cloud(capsys, "upload", str(folder))
    assert code == 0 and "uploaded 0 photo(s)" in out and "skipped 7 already there" in out
    changed = next(folder.glob("Banana 1/*.jpg"))
    changed.write_bytes(changed.read_bytes() + b"\0")
    code, out, _ = cloud(capsys, "upload", str(folder))
    assert code == 0 and "uploaded 1 photo(s)" in out and "skipped 6" in out


def test_upload_refuses_a_folder_without_photos(deployed, tmp_path, capsys) -> None:
    (tmp_path / "Kiwi 1").mkdir()
    (tmp_path / "Kiwi 1" / "notes.txt").write_text("no photos here")
    code, _, err = cloud(capsys, "upload", str(tmp_path))
    assert code == 2 and err.startswith("error: no photos") and not keys(deployed, "InputBucketName")


def test_start_and_wait_runs_to_success_with_the_billed_cost(deployed, photos, tiny_runs, capsys) -> None:
    upload_both(capsys, photos)
    deployed.job.run_folder = tiny_runs / "fit"
    args = ["start", "--apply", "validation/", "--image-size", "96", "--run-id", "r1", "--wait", "--poll", "0.05"]
    code, out, err = cloud(capsys, *args)
    assert code == 0, out + err
    results = deployed.buckets["ResultsBucketName"]
    assert f"results: s3://{results}/runs/r1/" in out and "run r1: SUCCEEDED" in out
    # Priced from the state machine's own record of the job run (in its output, with Step Functions' names).
    assert "billed: 1.500 vCPU-hours, 6.000 GB-hours: about $0.14 at eu-west-3 X86_64 prices" in out
    assert "r1: execution SUCCEEDED, job SUCCESS" in err  # the live line's last state
    (arguments,) = deployed.job.started
    value = job_options(arguments)
    photos_bucket = deployed.buckets["InputBucketName"]
    assert (
        value["--input"] == f"s3://{photos_bucket}/train/" and value["--apply"] == f"s3://{photos_bucket}/validation/"
    )
    assert (arguments[0], value["--run-id"], value["--image-size"]) == ("run", "r1", "96")
    record = json.loads(deployed.client("s3").get_object(Bucket=results, Key="runs/r1/job_run.json")["Body"].read())
    assert record["State"] == "SUCCESS" and "BilledResourceUtilization" in record  # written by the state machine
    assert ("StopApplication", "stopped") in deployed.job.calls
    assert set(deployed.waited["wait"]) == {orchestration.POLL_SECONDS}  # polled GetJobRun (waits not slept)

    assert cloud(capsys, "status", "r1")[1].startswith("run r1: SUCCEEDED")
    code, out, _ = cloud(capsys, "runs")
    assert code == 0 and out.splitlines()[0].split() == ["RUN", "STATUS", "STARTED", "(UTC)", "DURATION"]
    assert out.splitlines()[1].split()[:2] == ["r1", "SUCCEEDED"]
    code, out, _ = cloud(capsys, "logs", "r1")
    logs = deployed.buckets["LogsBucketName"]
    assert code == 0 and f"logs: s3://{logs}/emr-serverless/applications/{deployed.application_id}/jobs/" in out
    assert "SPARK_DRIVER/" in out and "SPARK_EXECUTOR/1/" in out and "last " not in out  # no tail on success


def test_results_download_a_run_that_predict_reads(deployed, photos, tiny_runs, tmp_path, capsys) -> None:
    upload_both(capsys, photos)
    deployed.job.run_folder = tiny_runs / "fit"
    assert cloud(capsys, "start", "--run-id", "r2", "--wait", "--poll", "0.05")[0] == 0
    target = tmp_path / "download"
    code, out, err = cloud(capsys, "results", "r2", "--to", str(target))
    assert code == 0, err
    for name in ("_SUCCESS", "report.json", "report.html", "classifier.json", "pca_train.csv", "job_run.json"):
        assert (target / name).is_file(), name
    assert (target / "pca_model").is_dir() and not (target / "features_train.parquet").exists()
    files = [path.stat().st_mtime_ns for path in target.rglob("*") if path.is_file()]
    assert (target / "_SUCCESS").stat().st_mtime_ns == max(files)  # last: a cut download is not a run
    assert cloud(capsys, "results", "r2", "--to", str(target))[1].startswith("downloaded 0 file(s)")
    photo = next(SAMPLE.glob("Kiwi 1/*.jpg"))
    assert main(["predict", "--run", str(target), str(photo)]) == 0
    answer = json.loads(capsys.readouterr().out)
    assert len(answer["top"]) == 3


def test_dashboard_of_the_results_bucket_opens_offline(deployed, photos, tiny_runs, tmp_path, capsys) -> None:
    upload_both(capsys, photos)
    deployed.job.run_folder = tiny_runs / "fit"
    assert cloud(capsys, "start", "--run-id", "new", "--wait", "--poll", "0.05")[0] == 0
    # An older run copied in as it is (no job_run.json), and a folder that never finished.
    # (moto cannot start a second execution of a state machine that has run one: its StartExecution
    # deep-copies the state machine, and with it the first execution's lock.)
    s3, results = deployed.client("s3"), deployed.buckets["ResultsBucketName"]
    for path in (tiny_runs / "reuse").rglob("*"):
        if path.is_file():
            s3.upload_file(str(path), results, f"runs/old/{path.relative_to(tiny_runs / 'reuse').as_posix()}")
    s3.put_object(Bucket=results, Key="runs/cut/report.json", Body=b"{}")
    code, out, err = cloud(capsys, "dashboard", "--out", str(tmp_path / "board"))
    assert code == 0, err
    page = (tmp_path / "board" / "index.html").read_text()
    for run_id in ("new", "old"):
        assert f'href="{run_id}/report.html"' in page and (tmp_path / "board" / run_id / "report.html").is_file()
    assert page.count("$0.14") == 2  # the run's cost, and the total of known costs
    assert "Not finished (no _SUCCESS), not listed: cut." in page
    code, _, err = cloud(capsys, "dashboard", "--out", str(tmp_path / "board"))
    assert code == 0 and "download [" not in err  # again: every file already there


def test_a_failed_run_names_its_cause_and_its_logs(deployed, photos, capsys) -> None:
    upload_both(capsys, photos)
    deployed.job.fail = True
    code, out, err = cloud(capsys, "start", "--run-id", "bad", "--wait", "--poll", "0.05")
    assert code == 1, out + err
    (job_run_id,) = [job_run for call, job_run in deployed.job.calls if call == "StartJobRun"]
    assert "run bad: FAILED" in out and f"cause: JobRunFailed: job run {job_run_id} ended FAILED: {FAILURE}" in out
    assert f"job run {job_run_id}: FAILED ({FAILURE})" in out
    stops = [call for call in deployed.job.calls if call[0] in ("CancelJobRun", "StopApplication")]
    assert stops == [("StopApplication", "stopped")]  # ended by itself: nothing to cancel, the application stopped
    assert f"s3://{deployed.buckets['LogsBucketName']}/emr-serverless/applications/" in out
    assert DRIVER_ERROR in out  # the driver's last lines
    assert "billed: 1.500 vCPU-hours" in out  # a failed run costs too
    code, out, _ = cloud(capsys, "logs", "bad")
    assert code == 1 and DRIVER_ERROR in out
    assert cloud(capsys, "status", "bad")[0] == 1
    code, _, err = cloud(capsys, "results", "bad", "--to", "unused")
    assert code == 2 and "no finished run" in err


def test_bad_parameters_stop_before_anything_starts(deployed, photos, capsys) -> None:
    upload_both(capsys, photos)
    photos_bucket = deployed.buckets["InputBucketName"]
    refusals = (
        # The execution input's rules (pipeline/contract/execution_input.py): the state machine's own message, whole.
        (["--variance", "1.5"], "variance: must be greater than 0 and at most 1"),
        (["--variance", "nan"], "variance: must be a finite number"),  # NaN passes every comparison
        (["--variance", "inf"], "variance: must be a finite number"),
        (["--image-size", "8"], "image_size: must be at least 32 and at most 1024"),
        (["--input", "s3://elsewhere/train/"], f"input: must be under s3://{photos_bucket}/"),
        (
            ["--apply", f"validation/,s3://{photos_bucket}-x/"],
            f"apply: every prefix must be under s3://{photos_bucket}/",
        ),
        (["--run-id", "_hidden"], "run_id: must not start with '-' or '.' or '_'"),
        (["--run-id", "a b"], "run_id: must contain only ASCII letters, digits, '-', '_' and '.'"),
        (["--transform", "r0", "--image-size", "96"], "image_size: only with command run"),
    )
    for args, message in refusals:
        assert cloud(capsys, "start", *args)[::2] == (2, f"error: {message}\n"), args
    for args, message in (  # what only the client can see
        (["--input", "nothing/"], f"no photos (.jpg, .jpeg, .png) under s3://{photos_bucket}/nothing/"),
        (["--transform", "never", "--input", "validation/"], "is not a finished run"),
    ):
        code, _, err = cloud(capsys, "start", *args)
        assert code == 2 and err.startswith("error: ") and message in err, (args, err)
    sfn = deployed.client("stepfunctions")
    assert sfn.list_executions(stateMachineArn=deployed.state_machine_arn)["executions"] == []
    assert cloud(capsys, "start", "--run-id", "once")[0] == 0
    code, _, err = cloud(capsys, "start", "--run-id", "once")
    assert code == 2 and "already" in err


@pytest.mark.parametrize(
    "request_",
    [runs.RunRequest(image_size=8, run_id="tiny"), runs.RunRequest(apply=("validation/", "s3://elsewhere/x/"))],
    ids=["image size", "apply outside the bucket"],
)
def test_the_state_machine_refuses_what_the_client_refuses_in_the_same_words(deployed, photos, request_, capsys):
    """The input the client would have sent, sent anyway (as from the console): the state machine fails it at
    once with the message the client printed, starts nothing, and the client reports it as such."""
    upload_both(capsys, photos)
    stack = connect(STACK_NAME, REGION)
    with pytest.raises(CloudError) as refused:
        runs.start(stack, request_)
    body = runs.execution_input(stack, request_, "sent-anyway")
    sfn = deployed.client("stepfunctions")
    arn = sfn.start_execution(stateMachineArn=deployed.state_machine_arn, name="sent-anyway", input=json.dumps(body))
    execution = follow.wait(stack, sfn.describe_execution(executionArn=arn["executionArn"]), 0.05, io.StringIO())
    assert (execution["status"], execution["error"], execution["cause"]) == ("FAILED", ERROR, str(refused.value))
    code, out, _ = cloud(capsys, "status", "sent-anyway")
    assert code == 1 and f"cause: {ERROR}: {refused.value}" in out and "the job never started" in out
    assert deployed.job.calls == []  # nothing started: not even the application


def test_a_missing_stack_is_its_own_exit_code(deployed, capsys) -> None:
    code, _, err = cloud(capsys, "runs", "--stack", "NoSuchStack")
    assert code == 3 and "stack NoSuchStack not found in eu-west-3" in err


def test_a_region_outside_the_eu_is_refused_before_any_call(monkeypatch, capsys) -> None:
    monkeypatch.setattr(cloud_stack, "new_session", lambda *_: pytest.fail("no AWS call for a refused region"))
    code, _, err = cloud(capsys, "status", "--region", "eu-west-2")
    assert code == 2 and "Region 'eu-west-2' is not in the EU" in err and "GDPR" in err


def test_throttling_is_answered_by_retries(deployed, photos, monkeypatch, capsys) -> None:
    from botocore.awsrequest import AWSResponse

    upload_both(capsys, photos)
    calls = []

    class Body:
        def stream(self):
            yield json.dumps({"__type": "ThrottlingException", "message": "Rate exceeded"}).encode()

    def throttle_twice(request, **_):
        calls.append(request.url)
        if len(calls) <= 2:
            return AWSResponse(request.url, 400, {"Content-Type": "application/x-amz-json-1.0"}, Body())
        return None

    real = cloud_stack.new_session

    def throttled_session(region, profile):
        session = real(region, profile)
        session.events.register("before-send.sfn.StartExecution", throttle_twice)
        return session

    monkeypatch.setattr(cloud_stack, "new_session", throttled_session)
    code, out, err = cloud(capsys, "start", "--run-id", "patient")
    assert code == 0, err
    assert len(calls) == 3 and "started run patient" in out
    sfn = deployed.client("stepfunctions")
    assert [e["name"] for e in sfn.list_executions(stateMachineArn=deployed.state_machine_arn)["executions"]] == [
        "patient"
    ]


def test_start_reuse_latest_is_the_newest_succeeded_run_resolved_by_the_client(deployed, photos, tiny_runs, capsys):
    upload_both(capsys, photos)
    code, _, err = cloud(capsys, "start", "--reuse", "latest")
    assert code == 2 and err == "error: --reuse latest: no run has succeeded yet; start one without --reuse first\n"
    code, _, err = cloud(capsys, "start", "--reuse", "never")
    results = deployed.buckets["ResultsBucketName"]
    assert code == 2 and err == f"error: s3://{results}/runs/never/ is not a finished run (no _SUCCESS)\n"
    assert cloud(capsys, "start", "--reuse", "a/b")[::2] == (2, "error: reuse: must not contain '/'\n")
    deployed.job.run_folder = tiny_runs / "fit"
    assert cloud(capsys, "start", "--run-id", "r1", "--wait", "--poll", "0.05")[0] == 0
    # (moto starts one execution per state machine: the second one's input is checked, not run.)
    stack = connect(STACK_NAME, REGION)
    assert runs.latest_succeeded_run(stack) == "r1"
    body = runs.execution_input(stack, runs.RunRequest(reuse="r1"), "r2")
    runs.check_inputs(stack, runs.checked(stack, body))
    assert body["reuse"] == "r1"
