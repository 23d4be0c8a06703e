"""Packaging: the job (entry point + package) and the model, converted and uploaded by `cdk deploy`."""

from __future__ import annotations

import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsii
from aws_cdk import AssetHashType, BundlingOptions, DockerImage, ILocalBundling
from constructs import Construct

from infra.artifact_uploads import ArtifactUploads
from infra.config import IMAGENET, AppConfig, weights_sidecar
from pipeline.contract.provenance import package_files, source_digest
from pipeline.model.embedder import (
    TFLITE_SUFFIX,
    default_cache_dir,
    installed_version,
    load_payload,
    preprocessing_from_sidecar,
    write_tflite_model,
)

ENTRY_POINT = "entrypoint.py"
PACKAGE_ZIP = "pipeline.zip"
WEIGHTS_DIR = Path(__file__).parent / "weights"
IMAGENET_MODEL_STEM = "mobilenet_v2_imagenet"
IMAGENET_PREPROCESSING = "tf"
"""keras.applications.mobilenet_v2.preprocess_input scales to [-1, 1]."""
# BundlingOptions requires an image; both bundlers below run on the deploying machine
# and either succeed or raise, so Docker is never started for them.
NO_DOCKER = DockerImage.from_registry("local-bundling-only")


class Packaging(Construct):
    """Uploads the job and the model to the artifacts bucket, under content-addressed keys.

    Job: the package zipped for `spark.submit.pyFiles` (importable as `pipeline`) and its
    `__main__.py` as the spark-submit entry point, under `job/<source digest>/` (the digest
    the job recomputes at run time, see pipeline/contract/provenance.py). Model: the weights converted
    here to a TF Lite model of any input size, with its JSON sidecar beside it, under
    `model/<hash of both files>/`; the workers run it with LiteRT and need no TensorFlow.
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
        package_dir = config.job_package_path  # has a __main__.py: AppConfig.validate checked it
        self.job_digest = source_digest(package_files(package_dir))
        job_uri = uploads.add(
            "Job",
            "job/",
            str(package_dir),
            key_hash=self.job_digest,
            asset_hash=self.job_digest,
            exclude=["__pycache__", "*.pyc"],
            bundling=BundlingOptions(image=NO_DOCKER, local=LocalBundler(lambda out: _bundle_job(package_dir, out))),
        )
        self.entry_point_uri = job_uri + ENTRY_POINT
        self.py_files_uri = job_uri + PACKAGE_ZIP

        stem = model_stem(config.weights)
        source_dir = WEIGHTS_DIR if config.weights == IMAGENET else Path(config.weights).resolve().parent
        model_uri = uploads.add(
            "Model",
            "model/",
            str(source_dir),
            # The key is the hash of the converted model and its sidecar, known once converted.
            asset_hash_type=AssetHashType.OUTPUT,
            bundling=BundlingOptions(
                image=NO_DOCKER,
                local=LocalBundler(lambda out: _bundle_model(config.weights, config.image_size, out / stem)),
            ),
        )
        self.model_uri = model_uri + stem + TFLITE_SUFFIX


def model_stem(weights: str) -> str:
    """`X.weights.h5` is deployed as `X.tflite` (+ `X.json`); ImageNet as mobilenet_v2_imagenet.tflite."""
    return IMAGENET_MODEL_STEM if weights == IMAGENET else Path(weights).name.removesuffix(".weights.h5")


@jsii.implements(ILocalBundling)
class LocalBundler:
    """Runs a Python function as CDK local bundling (on the deploying machine, no Docker)."""

    def __init__(self, bundle: Callable[[Path], None]) -> None:
        self._bundle = bundle

    def try_bundle(self, output_dir: str, *_options: Any, **_kw_options: Any) -> bool:
        self._bundle(Path(output_dir))
        return True


def _bundle_job(package_dir: Path, output_dir: Path) -> None:
    """pipeline.zip holds the package (any file but bytecode) under `pipeline/`: the files whose
    `source_digest` names the upload, and that the job digests again at run time."""
    with zipfile.ZipFile(output_dir / PACKAGE_ZIP, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in package_files(package_dir):
            archive.writestr(f"{package_dir.name}/{name}", content)
    shutil.copyfile(package_dir / "__main__.py", output_dir / ENTRY_POINT)


def _bundle_model(weights: str, image_size: int, target_stem: Path) -> None:
    """The weights converted to the any-size TF Lite model, with its sidecar (cached as local runs are)."""
    if weights == IMAGENET:
        preprocessing = IMAGENET_PREPROCESSING
        source = f"Keras MobileNetV2 ImageNet weights, no top (keras {installed_version('keras')})"
    else:
        sidecar = weights_sidecar(Path(weights))
        preprocessing = preprocessing_from_sidecar(sidecar.read_text(), weights)
        source = Path(weights).name
    payload = load_payload(weights, image_size, "tflite", preprocessing, default_cache_dir())
    write_tflite_model(payload, target_stem.parent / (target_stem.name + TFLITE_SUFFIX), source)
