"""Finished runs shared by the dashboard and cloud client tests: made once per session, tiny and fast."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import copy_sample


@pytest.fixture(scope="session")
def tiny_runs(spark, weights, tmp_path_factory) -> Path:
    """A folder of runs as `run --output` leaves it: `fit` (train + a labelled validation set), `reuse`
    (a transform of the validation set with `fit`), and `broken` (a run that never finished)."""
    from pipeline.cli import main

    photos = tmp_path_factory.mktemp("tiny_photos")
    train = copy_sample(photos / "train", per_label=3, labels=3)
    validation = copy_sample(photos / "validation", per_label=1, labels=3)
    runs = tmp_path_factory.mktemp("tiny_runs")
    common = ["--output", str(runs), "--partitions", "2"]
    # 32 px: not test_job's 96, whose model must still be built afresh on the workers when test_job runs.
    fit = ["run", "--input", str(train), "--apply", str(validation), "--weights", weights, "--image-size", "32"]
    assert main([*fit, *common, "--run-id", "fit"]) == 0
    reuse = ["transform", "--run", str(runs / "fit"), "--input", str(validation)]
    assert main([*reuse, *common, "--run-id", "reuse"]) == 0
    (runs / "broken").mkdir()
    (runs / "broken" / "report.json").write_text("{}")
    return runs
