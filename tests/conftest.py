"""Shared fixtures: one local Spark session, the bundled photos and the model weights.

Two kinds of weights: `weights`, seeded random MobileNetV2 weights made on the fly (tests of the
job's mechanics: any clone runs them), and `imagenet_weights`, real ImageNet weights (tests of
quality): the offline copy beside the repository when there is one, else Keras's own download;
without either those tests are skipped, under one line of the summary.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import pytest

from bench.s3_stand_in import DelayProxy, moto_server

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
NODE_BIN = REPO / "node_modules" / ".bin"
OFFLINE_IMAGENET = Path(
    os.environ.get(
        "PIPELINE_TEST_WEIGHTS", REPO.parent / "shared" / "models" / "mobilenet_v2_imagenet_no_top.weights.h5"
    )
)
WEIGHTS_CACHE = REPO / ".pytest_cache" / "test-weights"
IMAGENET_UNAVAILABLE = (
    "no ImageNet weights: neither PIPELINE_TEST_WEIGHTS nor ../shared/models/ has them and Keras could not "
    "download them (offline?); quality tests skipped, mechanics still tested with seeded weights"
)

# The infra tests' helpers (infra_synth, infra_asl, sfn_moto) are plain modules there; the cloud
# client's tests use them too.
if str(REPO / "tests" / "infra") not in sys.path:
    sys.path.insert(0, str(REPO / "tests" / "infra"))

# The pinned Node (package.json) for jsii and the CDK CLI, also when pytest is started by hand.
if NODE_BIN.is_dir():
    os.environ["PATH"] = f"{NODE_BIN}{os.pathsep}{os.environ['PATH']}"


def _made_by(command: list[str], target: Path, timeout: float) -> bool:
    """Run `command` (which writes `target` and its sidecar) unless `target` exists; True if it exists then."""
    if not target.is_file():
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode and not target.is_file():
            sys.stderr.write(done.stderr[-2000:])
    return target.is_file()


@pytest.fixture(scope="session")
def weights() -> str:
    """Seeded random MobileNetV2 weights with their sidecar, made in seconds (cached between runs)."""
    from pipeline.model.embedder import installed_version

    target = WEIGHTS_CACHE / f"seeded-keras{installed_version('keras')}.weights.h5"
    if not _made_by([sys.executable, "-m", "tests.make_weights", str(target)], target, timeout=300):
        pytest.fail(f"could not make the test weights {target}: see the error above")
    return str(target)


@pytest.fixture(scope="session")
def imagenet_weights() -> str:
    """Real ImageNet weights with their sidecar: the offline copy, else Keras's download; else skip."""
    if OFFLINE_IMAGENET.is_file():
        return str(OFFLINE_IMAGENET)
    exporter = REPO / "infra" / "weights" / "export_imagenet_weights.py"  # what `cdk deploy` runs
    target = WEIGHTS_CACHE / "mobilenet_v2_imagenet.weights.h5"
    WEIGHTS_CACHE.mkdir(parents=True, exist_ok=True)
    try:
        made = _made_by([sys.executable, str(exporter), str(WEIGHTS_CACHE)], target, timeout=600)
    except subprocess.TimeoutExpired:
        made = False
    if not made:
        pytest.skip(IMAGENET_UNAVAILABLE)
    return str(target)


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
    from pipeline.job.session import create_session

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
def synthesized(tmp_path_factory):
    """One synthesis of the whole CDK app per session (jsii is slow): the infra tests and the cloud client's."""
    from infra_synth import synthesize

    return synthesize(tmp_path_factory.mktemp("synth"))


@pytest.fixture(scope="session")
def sample_photo() -> bytes:
    return next(SAMPLE.glob("Kiwi 1/*.jpg")).read_bytes()


@pytest.fixture(scope="session")
def moto_s3() -> Iterator[str]:
    """moto's S3 server on 127.0.0.1 (a free port): the endpoint URL, for boto3's `endpoint_url`."""
    with moto_server() as (host, port):
        yield f"http://{host}:{port}"


@pytest.fixture
def delay_proxy(moto_s3) -> Iterator[DelayProxy]:
    """moto's S3 behind a proxy that holds each request `delay_s` (bench/s3_stand_in.py), closed after the test."""
    host, port = moto_s3.removeprefix("http://").split(":")
    proxy = DelayProxy((host, int(port)))
    try:
        yield proxy
    finally:
        proxy.close()


def s3_test_environment(monkeypatch, endpoint: str) -> dict[str, str]:
    """boto3 in this process reaches the S3 at `endpoint` with test credentials (no profile or session
    token of the machine's); returns the variables set."""
    names = {
        "AWS_ENDPOINT_URL_S3": endpoint,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "eu-west-3",
        "NO_PROXY": "127.0.0.1",  # the workers' refusing proxy stays for everything else
    }
    for name, value in names.items():
        monkeypatch.setenv(name, value)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return names


@contextmanager
def s3_endpoint(spark, monkeypatch, endpoint: str) -> Iterator[dict[str, str]]:
    """The driver and the Spark workers reach the S3 at `endpoint` (test credentials, by environment)."""
    names = s3_test_environment(monkeypatch, endpoint)
    worker_env = spark.sparkContext.environment
    before = {name: worker_env.get(name) for name in names}
    worker_env.update(names)
    try:
        yield names
    finally:
        for name, value in before.items():
            if value is None:
                worker_env.pop(name, None)
            else:
                worker_env[name] = value


@pytest.fixture
def s3_environment(moto_s3, spark, monkeypatch) -> Iterator[dict[str, str]]:
    """The driver and the Spark workers reach moto's S3."""
    with s3_endpoint(spark, monkeypatch, moto_s3) as names:
        yield names
