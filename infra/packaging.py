"""Packaging: the job (entry point + package) and the model weights, uploaded by `cdk deploy`."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import BundlingOptions, DockerImage, ILocalBundling
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from infra.artifact_uploads import ArtifactUploads
from infra.config import IMAGENET, AppConfig, weights_sidecar

ENTRY_POINT = "entrypoint.py"
PACKAGE_ZIP = "pipeline.zip"
WEIGHTS_EXPORTER = Path(__file__).parent / "weights" / "export_imagenet_weights.py"
IMAGENET_WEIGHTS_FILE = "mobilenet_v2_imagenet.weights.h5"
# BundlingOptions requires an image; both bundlers below run on the deploying machine
# and either succeed or raise, so Docker is never started for them.
NO_DOCKER = DockerImage.from_registry("local-bundling-only")


class Packaging(Construct):
    """Uploads the job and the weights to the artifacts bucket, at fixed keys.

    Job: the package zipped for `spark.submit.pyFiles` (importable as `pipeline`) and
    its `__main__.py` as the spark-submit entry point. Weights: a Keras
    `.weights.h5` with its `.json` preprocessing sidecar next to it, read by the
    driver from S3.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        config: AppConfig,
        uploads: ArtifactUploads,
    ) -> None:
        super().__init__(scope, construct_id)
        package_dir = config.job_package_path
        if not (package_dir / "__main__.py").is_file():
            raise FileNotFoundError(f"job package {package_dir} has no __main__.py (set -c job_package_dir=...)")
        job_uri = uploads.add(
            "Job",
            s3deploy.Source.asset(
                str(package_dir),
                exclude=["__pycache__", "*.pyc"],
                bundling=BundlingOptions(
                    image=NO_DOCKER,
                    local=LocalBundler(lambda out: _bundle_job(package_dir, out)),
                ),
            ),
            "job/",
        )
        self.entry_point_uri = job_uri + ENTRY_POINT
        self.py_files_uri = job_uri + PACKAGE_ZIP

        weights_uri = uploads.add("Weights", _weights_source(config.weights), "weights/")
        weights_file = IMAGENET_WEIGHTS_FILE if config.weights == IMAGENET else Path(config.weights).name
        self.weights_uri = weights_uri + weights_file


@jsii.implements(ILocalBundling)
class LocalBundler:
    """Runs a Python function as CDK local bundling (on the deploying machine, no Docker)."""

    def __init__(self, bundle: Callable[[Path], None]) -> None:
        self._bundle = bundle

    def try_bundle(self, output_dir: str, *_options: Any, **_kw_options: Any) -> bool:
        self._bundle(Path(output_dir))
        return True


def _bundle_job(package_dir: Path, output_dir: Path) -> None:
    """pipeline.zip holds the package (any file but bytecode) under `pipeline/`."""
    with zipfile.ZipFile(output_dir / PACKAGE_ZIP, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(package_dir.rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                archive.write(path, Path(package_dir.name) / path.relative_to(package_dir))
    shutil.copyfile(package_dir / "__main__.py", output_dir / ENTRY_POINT)


def _weights_source(weights: str) -> s3deploy.ISource:
    if weights == IMAGENET:
        return s3deploy.Source.asset(
            str(WEIGHTS_EXPORTER.parent),
            exclude=["__pycache__"],
            bundling=BundlingOptions(
                image=NO_DOCKER,
                local=LocalBundler(
                    lambda out: subprocess.run([sys.executable, str(WEIGHTS_EXPORTER), str(out)], check=True)
                ),
            ),
        )
    weights_file = Path(weights).resolve()
    sidecar = weights_sidecar(weights_file)
    return s3deploy.Source.asset(
        str(weights_file.parent),
        # Only the two files count for the asset (and its hash), whatever else is there.
        exclude=["*", f"!{weights_file.name}", f"!{sidecar.name}"],
        bundling=BundlingOptions(
            image=NO_DOCKER,
            local=LocalBundler(lambda out: _copy_into(out, weights_file, sidecar)),
        ),
    )


def _copy_into(output_dir: Path, *files: Path) -> None:
    for path in files:
        shutil.copy(path, output_dir)
