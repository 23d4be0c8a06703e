"""Paths Hadoop opens: a scheme this Spark has no connector for stops the job with one line."""

from __future__ import annotations

import pytest

from pipeline.cli import main
from pipeline.storage import files
from tests.conftest import copy_sample

S3_MESSAGE = (
    "this Spark has no S3 connector (pip's pyspark has none), so {scheme}:// paths run on EMR Serverless "
    "(python -m pipeline cloud start); here, use local folders, and move photos and results with "
    "python -m pipeline cloud upload / cloud results"
)


@pytest.mark.parametrize("uri", ["s3://bucket/photos", "s3a://bucket/photos", "s3n://bucket/photos"])
def test_s3_without_a_connector_says_where_it_works(spark, uri: str) -> None:
    with pytest.raises(files.NoConnector) as refused:
        files.exists(spark, uri)
    assert str(refused.value) == f"{uri}: " + S3_MESSAGE.format(scheme=uri.split(":")[0])


def test_another_scheme_without_a_connector_is_named(spark) -> None:
    with pytest.raises(files.NoConnector, match=r"^gs://b/x: this Spark has no connector for gs:// paths; use a"):
        files.exists(spark, "gs://b/x")


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    return copy_sample(tmp_path_factory.mktemp("photos"), per_label=1, labels=2)


def one_error_line(stderr: str) -> str:
    """The command's one `error:` line; besides it, only the job's own progress lines."""
    assert "Traceback" not in stderr and "\tat " not in stderr, stderr
    lines = stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], stderr
    assert all(line.startswith(("[", "  ")) for line in lines[:-1]), stderr
    return errors[0]


@pytest.mark.parametrize(
    "input,output,model",
    [
        ("PHOTOS", "s3://bucket/out", "WEIGHTS"),
        ("PHOTOS", "OUT", "s3a://bucket/model.weights.h5"),
    ],
    ids=["output", "weights"],
)
def test_an_s3_path_on_a_laptop_is_one_line(spark, photos, weights, tmp_path, capsys, input, output, model) -> None:
    local = {"PHOTOS": str(photos), "OUT": str(tmp_path / "out"), "WEIGHTS": weights}
    args = ["--input", input, "--output", output, "--weights", model]
    assert main(["run", *(local.get(arg, arg) for arg in args), "--image-size", "32"]) == 2
    line = one_error_line(capsys.readouterr().err)
    assert "this Spark has no S3 connector" in line and "EMR Serverless" in line
    assert not (tmp_path / "out").exists()


def test_s3_photos_without_credentials_are_one_line(spark, weights, tmp_path, capsys, monkeypatch) -> None:
    """Photos are listed and read with boto3 (pipeline/storage/listing.py, pipeline/storage/fetch.py), not Hadoop: an s3://
    input works anywhere AWS credentials do, and without them the run stops before writing anything."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    args = ["run", "--input", "s3://bucket/in", "--output", str(tmp_path / "out"), "--weights", weights]
    assert main([*args, "--image-size", "32"]) == 2
    assert one_error_line(capsys.readouterr().err) == "error: cannot list s3://bucket/in: Unable to locate credentials"
    assert not (tmp_path / "out").exists()


def test_transform_of_an_s3_run_on_a_laptop_is_one_line(spark, photos, capsys) -> None:
    assert main(["transform", "--run", "s3://bucket/runs/first", "--input", str(photos)]) == 2
    assert one_error_line(capsys.readouterr().err).startswith("error: s3://bucket/runs/first/_SUCCESS: this Spark")
