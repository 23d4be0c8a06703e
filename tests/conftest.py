"""Shared fixtures: one local Spark session, the bundled photos and the offline weights."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
SHARED_WEIGHTS = Path(
    os.environ.get(
        "PIPELINE_TEST_WEIGHTS", REPO.parent / "shared" / "models" / "mobilenet_v2_imagenet_no_top.weights.h5"
    )
)


@pytest.fixture(scope="session")
def weights() -> str:
    """The offline MobileNetV2 weights (this machine cannot download Keras's 'imagenet')."""
    if not SHARED_WEIGHTS.is_file():
        pytest.fail(
            f"test weights not found at {SHARED_WEIGHTS}: set PIPELINE_TEST_WEIGHTS to a .weights.h5 with sidecar"
        )
    return str(SHARED_WEIGHTS)


@pytest.fixture(scope="session")
def keras_home(tmp_path_factory) -> Path:
    """The Spark workers' Keras home, empty: nothing may be downloaded or cached there."""
    return tmp_path_factory.mktemp("executor_keras_home")


@pytest.fixture(scope="session")
def spark(keras_home, tmp_path_factory):
    """One local Spark session (2 cores) for every test that needs Spark.

    Python workers get their own empty Keras home and a proxy that refuses every
    connection, so a worker that tried to download weights would fail or leave a trace.
    """
    os.environ["KERAS_HOME"] = str(tmp_path_factory.mktemp("driver_keras_home"))
    os.environ.setdefault("PIPELINE_MODEL_CACHE", str(REPO / ".pytest_cache" / "model-cache"))
    os.environ["PIPELINE_SPARK_MASTER"] = "local[2]"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from pipeline.spark import create_session

    session = create_session("fruit-features-tests")
    worker_env = session.sparkContext.environment  # sent with every Python UDF created from now on
    worker_env["KERAS_HOME"] = str(keras_home)
    worker_env["HTTP_PROXY"] = worker_env["HTTPS_PROXY"] = "http://127.0.0.1:9"
    yield session
    session.stop()


def copy_sample(target: Path, per_label: int, labels: int | None = None) -> Path:
    """`per_label` bundled photos of each (or the first `labels`) class under `target`."""
    for folder in sorted(p for p in SAMPLE.iterdir() if p.is_dir())[:labels]:
        (target / folder.name).mkdir(parents=True, exist_ok=True)
        for photo in sorted(folder.glob("*.jpg"))[:per_label]:
            shutil.copy(photo, target / folder.name / photo.name)
    return target


@pytest.fixture(scope="session")
def sample_photo() -> bytes:
    return next(SAMPLE.glob("Kiwi 1/*.jpg")).read_bytes()
