"""`cloud smoke` against moto's server with the synthesized state machine: one passing run, and a run that fails
each check with its own exit code. The job stand-in uploads a real local run of the same sample split."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any, Callable

import pytest

from pipeline.cloud.errors import Exit
from pipeline.cloud.smoke import FIT_SET, HELD_OUT_SET, check_run, expected_counts, split_sample
from tests.conftest import SAMPLE
from tests.pipeline.cloud_stack import (  # noqa: F401 (moto_endpoint: a fixture)
    DRIVER_ERROR,
    cloud,
    deployed_stack,
    job_options,
    keys,
    moto_endpoint,
)

EXPECTED = expected_counts(split_sample(SAMPLE))


@pytest.fixture
def deployed(moto_endpoint, synthesized, monkeypatch):  # noqa: F811
    yield from deployed_stack(moto_endpoint, synthesized, monkeypatch)


@pytest.fixture(scope="session")
def smoke_run(spark, weights, tmp_path_factory) -> Path:
    """What the job leaves for the smoke run: a local run of the sample split as `cloud smoke` uploads it."""
    from pipeline.cli import main

    photos = tmp_path_factory.mktemp("smoke_photos")
    for part, labels in split_sample(SAMPLE).items():
        for label, files in labels.items():
            (photos / part / label).mkdir(parents=True)
            for photo in files:
                shutil.copy(photo, photos / part / label / photo.name)
    runs = tmp_path_factory.mktemp("smoke_runs")
    fit = ["run", "--input", str(photos / FIT_SET), "--apply", str(photos / HELD_OUT_SET), "--weights", weights]
    assert main([*fit, "--image-size", "32", "--output", str(runs), "--run-id", "smoke", "--partitions", "2"]) == 0
    return runs / "smoke"


def edited(run: Path, target: Path, edit: Callable[[dict[str, Any]], None]) -> Path:
    """A copy of `run` whose report.json went through `edit`."""
    shutil.copytree(run, target)
    report = json.loads((target / "report.json").read_text())
    edit(report)
    (target / "report.json").write_text(json.dumps(report))
    return target


def smoke(capsys, tmp_path: Path, *args: str) -> tuple[int, str, str]:
    return cloud(capsys, "smoke", "--to", str(tmp_path / "report"), "--poll", "0.05", *args)


def test_split_holds_out_every_fifth_photo_of_each_label() -> None:
    labels = sorted(p.name for p in SAMPLE.iterdir() if p.is_dir())
    assert sorted(EXPECTED[FIT_SET]) == sorted(EXPECTED[HELD_OUT_SET]) == labels
    assert set(EXPECTED[FIT_SET].values()) == {8} and set(EXPECTED[HELD_OUT_SET].values()) == {2}


def test_a_smoke_run_passes_every_check_and_removes_its_input(deployed, smoke_run, tmp_path, capsys) -> None:
    deployed.job.run_folder = smoke_run
    code, out, err = smoke(capsys, tmp_path)
    assert code == Exit.OK, out + err
    for check in ("_SUCCESS", "photos", "PCA", "held-out accuracy", "billed resources", "application stopped"):
        assert f"  pass  {check}: " in out, check
    assert "  pass  deployed code: " in out and "FAIL" not in out and "smoke run passed" in out
    assert "pass  photos: all 100 featurized" in out
    assert "billed: 1.500 vCPU-hours, 6.000 GB-hours: about $0.14 at eu-west-3 X86_64 prices" in out
    assert "https://eu-west-3.console.aws.amazon.com/states/home?region=eu-west-3#/v2/executions/details/arn:" in out
    assert "wall time: " in out and "execution SUCCEEDED, job SUCCESS" in err
    (arguments,) = deployed.job.started
    run_id = job_options(arguments)["--run-id"]
    photos = deployed.buckets["InputBucketName"]
    assert job_options(arguments)["--apply"] == f"s3://{photos}/smoke/{run_id}/{HELD_OUT_SET}/"
    assert keys(deployed, "InputBucketName", "smoke/") == {}  # the smoke input removed
    assert f"runs/{run_id}/report.json" in keys(deployed, "ResultsBucketName")  # the results kept
    assert (tmp_path / "report" / "report.html").is_file() and (tmp_path / "report" / "job_run.json").is_file()
    assert f"results: s3://{deployed.buckets['ResultsBucketName']}/runs/{run_id}/" in out


def test_a_failed_job_run_is_exit_code_1_with_the_drivers_last_lines(deployed, tmp_path, capsys) -> None:
    deployed.job.fail = True
    code, out, _ = smoke(capsys, tmp_path)
    assert code == Exit.RUN_FAILED and "FAILED: run smoke-" in out and DRIVER_ERROR in out
    assert "billed: 1.500 vCPU-hours, 6.000 GB-hours" in out and "wall time: " in out  # a failed run costs too
    assert keys(deployed, "InputBucketName", "smoke/") == {}


def test_a_missing_stack_is_exit_code_3(deployed, tmp_path, capsys) -> None:
    code, out, err = smoke(capsys, tmp_path, "--stack", "NoSuchStack")
    assert code == Exit.STACK_NOT_FOUND and err.startswith("error: stack NoSuchStack not found") and out == ""
    assert keys(deployed, "InputBucketName") == {}


def test_a_photo_missing_from_the_report_fails_its_check(deployed, smoke_run, tmp_path, capsys) -> None:
    def lose_a_photo(report: dict[str, Any]) -> None:
        held_out = report["sets"][HELD_OUT_SET]
        held_out["featurized_per_label"]["Kiwi 1"] -= 1
        held_out["featurized"] -= 1

    deployed.job.run_folder = edited(smoke_run, tmp_path / "run", lose_a_photo)
    code, out, _ = smoke(capsys, tmp_path, "--clean")
    assert code == Exit.PHOTOS_MISSING and f"  FAIL  photos: {HELD_OUT_SET}/Kiwi 1: 1 of 2" in out
    assert DRIVER_ERROR not in out and "last 30 lines of s3://" in out  # the driver's log, all the same
    assert "--clean: removed the run's results" in out and keys(deployed, "ResultsBucketName", "runs/") == {}


def test_an_application_left_started_fails_its_check(deployed, smoke_run, tmp_path, capsys) -> None:
    deployed.job.run_folder = smoke_run
    deployed.job.other_run_busy = True  # StopApplication refused: the run succeeds, the application stays up
    code, out, _ = smoke(capsys, tmp_path)
    assert code == Exit.NOT_STOPPED and "  FAIL  application stopped: the EMR Serverless application is STARTED" in out


def test_a_foreign_code_digest_fails_its_check(deployed, smoke_run, tmp_path, capsys) -> None:
    def other_code(report: dict[str, Any]) -> None:
        report["artifacts"]["code"]["sha256"] = "0" * 64

    deployed.job.run_folder = edited(smoke_run, tmp_path / "run", other_code)
    code, out, _ = smoke(capsys, tmp_path)
    assert code == Exit.FOREIGN_CODE and f"  FAIL  deployed code: the report's code is sha256 {'0' * 64}" in out


def good_files(smoke_run: Path) -> dict[str, Any]:
    return {
        "has_success": True,
        "report": json.loads((smoke_run / "report.json").read_text()),
        "job_run": {"BilledResourceUtilization": {"VCpuHour": 1.5, "MemoryGbHour": 6.0}},
        "expected": EXPECTED,
        "application_state": "STOPPED",
        "deployed_digest": json.loads((smoke_run / "report.json").read_text())["artifacts"]["code"]["sha256"],
    }


@pytest.mark.parametrize(
    "change, code",
    [
        ({"has_success": False}, Exit.NO_SUCCESS),
        ({"report": None}, Exit.PHOTOS_MISSING),
        ({"report": {"pca": {"k": 0}}}, Exit.PHOTOS_MISSING),  # the first failed check gives the code
        ({"pca": {"k": 0}}, Exit.NO_COMPONENTS),
        ({"classifier": {"held_out_accuracy": {}, "cross_validation": {"accuracy": 0.9}}}, Exit.NO_HELD_OUT),
        ({"job_run": None}, Exit.NOT_BILLED),
        ({"job_run": {"State": "SUCCESS"}}, Exit.NOT_BILLED),
        ({"application_state": "STOPPING"}, Exit.NOT_STOPPED),
        ({"deployed_digest": None}, Exit.FOREIGN_CODE),
    ],
)
def test_each_check_fails_with_its_own_code(smoke_run, change, code) -> None:
    files = good_files(smoke_run)
    assert check_run(**files).code == Exit.OK
    for name, value in change.items():
        if name in files:
            files[name] = value
        else:
            files["report"][name] = value
    assert check_run(**files).code == code
