"""The cloud client against moto's server: every verb, on the stack's resources as the template names them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.cloud import stack as cloud_stack
from pipeline.cloud.runs import DEFAULT_INPUT_PREFIX, RUNS_PREFIX
from pipeline.cloud.stack import NEEDED_OUTPUTS
from tests.conftest import SAMPLE, copy_sample
from tests.pipeline.cloud_stack import DRIVER_ERROR, FAILURE, deploy, job_options, moto_endpoint  # noqa: F401 (a fixture)


@pytest.fixture
def deployed(moto_endpoint, synthesized, monkeypatch):  # noqa: F811
    return deploy(moto_endpoint, synthesized, monkeypatch)


def cloud(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["cloud", *args])
    out, err = capsys.readouterr()
    return code, out, err


def keys(deployed, output: str, prefix: str = "") -> dict[str, dict]:
    s3 = deployed.client("s3")
    listed = s3.list_objects_v2(Bucket=deployed.buckets[output], Prefix=prefix).get("Contents", [])
    return {item["Key"]: item for item in listed}


@pytest.fixture
def photos(tmp_path) -> dict[str, Path]:
    return {
        "train": copy_sample(tmp_path / "train", per_label=2, labels=3),
        "validation": copy_sample(tmp_path / "validation", per_label=1, labels=3),
    }


def upload_both(capsys, photos) -> None:
    for name, folder in photos.items():
        assert cloud(capsys, "upload", str(folder), "--prefix", name)[0] == 0


def test_the_client_reads_outputs_and_defaults_of_the_synthesized_stack(synthesized) -> None:
    from infra.orchestration import DEFAULT_INPUT_PREFIX as STACK_INPUT
    from infra.orchestration import DEFAULT_OUTPUT_PREFIX as STACK_OUTPUT

    assert set(NEEDED_OUTPUTS) <= set(synthesized.template.to_json()["Outputs"])
    assert (DEFAULT_INPUT_PREFIX, RUNS_PREFIX) == (STACK_INPUT, STACK_OUTPUT)


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
    assert "billed: 1.500 vCPU-hours, 6.000 GB-hours: about $0.14 at eu-west-3 X86_64 prices" in out
    assert "r1: execution SUCCEEDED, job SUCCESS" in err  # the live line's last state
    (arguments,) = deployed.job.started
    value = job_options(arguments)
    photos_bucket = deployed.buckets["InputBucketName"]
    assert (
        value["--input"] == f"s3://{photos_bucket}/train/" and value["--apply"] == f"s3://{photos_bucket}/validation/"
    )
    assert (value["--run-id"], value["--image-size"]) == ("r1", "96")

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
    assert "run bad: FAILED" in out and FAILURE in out
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
    for args, message in (
        (["--variance", "1.5"], "--variance must be in (0, 1]"),
        (["--image-size", "8"], "--image-size must be between"),
        (["--input", "nothing/"], "no photos (.jpg, .jpeg, .png) under s3://"),
        (["--input", "s3://elsewhere/train/"], "is not in the stack's bucket"),
        (["--transform", "never", "--input", "validation/"], "is not a finished run"),
        (["--transform", "never"], "--transform needs --input"),
        (["--run-id", "a.b"], "may use letters, digits"),
    ):
        code, _, err = cloud(capsys, "start", *args)
        assert code == 2 and err.startswith("error: ") and message in err, (args, err)
    sfn = deployed.client("stepfunctions")
    assert sfn.list_executions(stateMachineArn=deployed.state_machine_arn)["executions"] == []
    assert cloud(capsys, "start", "--run-id", "once")[0] == 0
    code, _, err = cloud(capsys, "start", "--run-id", "once")
    assert code == 2 and "already" in err


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
