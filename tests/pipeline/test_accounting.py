"""Every file under an input accounted for, through the job: local folders and S3 behind a slow stand-in."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main
from tests.conftest import s3_endpoint
from tests.pipeline.photo_zoo import AWKWARD_LABEL, write_folder_cases
from tests.pipeline.test_listing import independent_listing, upload_tree

COMMON = ["--partitions", "2"]


@pytest.fixture(scope="module")
def cases(tmp_path_factory, sample_photo) -> tuple[Path, dict[str, tuple[str, str]]]:
    root = tmp_path_factory.mktemp("cases")
    return root / "input", write_folder_cases(root, sample_photo)


@pytest.fixture(scope="module")
def case_run(spark, cases, weights, tmp_path_factory) -> tuple[Path, dict]:
    folder, _ = cases
    output = tmp_path_factory.mktemp("case_output")
    arguments = ["run", "--input", str(folder), "--output", str(output), "--weights", weights, "--image-size", "32"]
    assert main([*arguments, *COMMON, "--run-id", "cases"]) == 0
    return output / "cases", json.loads((output / "cases" / "report.json").read_text())


def accounted(report: dict, set_name: str, prefix: str, spark, run_dir: Path) -> dict[str, tuple[str, str]]:
    """{path below the input: (bucket, label or reason)} as the run reports it."""
    rows = spark.read.parquet(str(run_dir / f"features_{set_name}.parquet")).collect()
    found = {row.path.removeprefix(prefix): ("photo", row.label) for row in rows}
    for bucket in ("skipped", "ignored"):
        for entry in report[bucket]:
            if entry["set"] == set_name:
                assert entry["path"].removeprefix(prefix) not in found
                found[entry["path"].removeprefix(prefix)] = (bucket, entry["reason"])
    return found


def assert_cases(found: dict[str, tuple[str, str]], cases: dict[str, tuple[str, str]]) -> None:
    assert set(found) == set(cases)
    for relative, (bucket, expected) in cases.items():
        assert found[relative][0] == bucket, (relative, found[relative])
        assert expected == found[relative][1] if bucket == "photo" else expected in found[relative][1], relative


def test_the_report_accounts_for_every_file_an_independent_listing_finds(spark, cases, case_run):
    folder, expected = cases
    run_dir, report = case_run
    train = report["sets"]["train"]
    assert train["files"] == len(independent_listing(folder)) == len(expected)
    assert train["featurized"] + train["skipped"] + train["ignored"] == train["files"]
    assert train["photos"] == train["featurized"] + train["skipped"]
    assert sum(train["ignored_by_reason"].values()) == train["ignored"]
    assert_cases(accounted(report, "train", f"file:{folder}/", spark, run_dir), expected)
    assert train["featurized_per_label"] == {"Apple": 4, "Banana": 1, "Cherry": 1, AWKWARD_LABEL: 1, "_Banana": 1}
    page = (run_dir / "report.html").read_text()
    assert f"Ignored files ({train['ignored']})" in page and "macOS AppleDouble companion" in page


def test_the_csv_of_the_cases_reads_back_in_pandas_and_the_csv_module(spark, case_run):
    """Labels and paths with commas, quotes, `%`, `#`, `{}`, spaces and non-Latin letters, as the job wrote them."""
    run_dir, _ = case_run
    rows = spark.read.parquet(str(run_dir / "features_train.parquet")).select("path", "label").collect()
    expected = {row.path: row.label for row in rows}
    assert AWKWARD_LABEL in expected.values()
    data = (run_dir / "pca_train.csv").read_bytes()
    frame = pd.read_csv(io.BytesIO(data), dtype={"path": str, "label": str}, keep_default_na=False)
    assert dict(zip(frame["path"], frame["label"], strict=True)) == expected
    records = csv.DictReader(io.StringIO(data.decode("utf-8"), newline=""))
    assert {record["path"]: record["label"] for record in records} == expected


def test_transform_follows_the_same_rules(spark, cases, case_run, tmp_path):
    folder, expected = cases
    run_dir, _ = case_run
    arguments = ["transform", "--run", str(run_dir), "--input", str(folder), "--output", str(tmp_path)]
    assert main([*arguments, *COMMON, "--run-id", "again"]) == 0
    report = json.loads((tmp_path / "again" / "report.json").read_text())
    assert_cases(accounted(report, "input", f"file:{folder}/", spark, tmp_path / "again"), expected)


def test_a_folder_without_label_folders_is_refused_with_the_layout(spark, weights, tmp_path, sample_photo, capsys):
    (tmp_path / "flat").mkdir()
    for index in range(4):
        (tmp_path / "flat" / f"{index}.jpg").write_bytes(sample_photo)
    arguments = ["run", "--input", str(tmp_path / "flat"), "--output", str(tmp_path / "out"), "--weights", weights]
    assert main(arguments) == 2
    (line,) = capsys.readouterr().err.strip().splitlines()[-1:]
    assert line == (
        f"error: no label folders in {tmp_path}/flat: expected one folder per label, "
        f"{tmp_path}/flat/<Label>/<photo>.jpg (4 photos are directly in it)"
    )
    assert not (tmp_path / "out").exists()


@pytest.fixture
def slow_s3(delay_proxy, spark, monkeypatch):
    """The driver and the Spark workers reach moto's S3 through a proxy holding every request (`delay_s`)."""
    with s3_endpoint(spark, monkeypatch, delay_proxy.endpoint):
        yield delay_proxy


def test_photos_on_s3_are_read_by_the_workers_concurrently_and_accounted_alike(
    spark, cases, case_run, slow_s3, weights, tmp_path
):
    folder, expected = cases
    from pipeline.storage import s3

    uploaded = upload_tree(s3.client(), "photos", folder, "in/")
    slow_s3.delay_s = 0.1  # long beside the client's own work per request, so reads overlap on any machine
    slow_s3.reset_counts()
    arguments = ["run", "--input", "s3://photos/in", "--output", str(tmp_path), "--weights", weights]
    assert main([*arguments, "--image-size", "32", *COMMON, "--run-id", "s3"]) == 0
    report = json.loads((tmp_path / "s3" / "report.json").read_text())
    assert_cases(
        accounted(report, "train", "s3://photos/in/", spark, tmp_path / "s3"),
        {relative: case for relative, case in expected.items() if relative in uploaded},
    )
    train = report["sets"]["train"]
    assert slow_s3.gets == train["featurized"] + 1  # one GET a photo read (and the one that fails to decode)
    assert slow_s3.most_held > 1  # GETs waited at once: read ahead through the client's pool
    local = {row.path.removeprefix(f"file:{folder}/"): row.features for row in _features(spark, case_run[0])}
    for row in _features(spark, tmp_path / "s3"):
        np.testing.assert_allclose(row.features, local[row.path.removeprefix("s3://photos/in/")], rtol=1e-5, atol=1e-6)


def _features(spark, run_dir: Path) -> list:
    return spark.read.parquet(str(run_dir / "features_train.parquet")).collect()
