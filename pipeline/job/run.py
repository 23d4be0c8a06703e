"""The `run` job: photos -> features -> PCA -> Parquet, CSV, model and report under one run directory."""

from __future__ import annotations

import functools
import json
import os
import platform
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np
from pyspark.ml import PipelineModel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipeline.contract.errors import InputError
from pipeline.contract.execution_input import new_run_id
from pipeline.contract.provenance import running_code, running_environment
from pipeline.job.cluster import Placement
from pipeline.job.csv_output import write_csv
from pipeline.job.input_sets import featurize_sets, open_sets
from pipeline.job.pca import fit_pca, project
from pipeline.job.photo_rows import named_sets
from pipeline.job.progress import Console
from pipeline.job.reuse import RECIPE_KEY, open_earlier, recipe
from pipeline.model.classifier import MAX_TRAINING_ROWS, Classifier, cross_validate, evaluate, summary, train
from pipeline.model.embedder import (
    ENGINES,
    FEATURE_DIM,
    IMAGENET,
    MAX_IMAGE_SIZE,
    MIN_IMAGE_SIZE,
    PREPROCESSING_MODES,
    ModelPayload,
    WeightsError,
    default_cache_dir,
    installed_version,
    is_tflite_file,
    load_payload,
    preprocessing_from_sidecar,
    sidecar_path,
    tflite_payload,
)
from pipeline.report.run_report import files_written, render_html, render_plots, to_json
from pipeline.storage import files, s3

DEFAULT_IMAGE_SIZE = 224
FIT_SET = "train"
PROJECTION_POINTS = 5000
"""Photos drawn in the report's 2-D plot; more only blur it."""
WEIGHTS_OPTION_ENV = "PIPELINE_WEIGHTS_OPTION"
"""How the caller takes a weights file, when not as --weights FILE (the Makefile sets `make demo WEIGHTS=FILE`)."""


class OutputError(ValueError):
    """An output location the job cannot use; the message says which and why."""


@dataclass(frozen=True)
class RunConfig:
    input: str
    output: str
    apply: tuple[str, ...] = ()
    weights: str = IMAGENET
    preprocessing: str | None = None  # None: "tf" for imagenet, else the weights' sidecar
    engine: str = "tflite"
    image_size: int = DEFAULT_IMAGE_SIZE
    variance: float = 0.95
    components: int | None = None
    partitions: int | None = None  # None: default_partitions()
    reuse: str | None = None  # an earlier run whose features unchanged photos take (pipeline/job/reuse.py)
    run_id: str = field(default_factory=new_run_id)


def validate(config: RunConfig) -> None:
    """Reject impossible parameters before Spark starts."""
    if not MIN_IMAGE_SIZE <= config.image_size <= MAX_IMAGE_SIZE:
        raise ValueError(
            f"--image-size must be between {MIN_IMAGE_SIZE} and {MAX_IMAGE_SIZE} pixels, got {config.image_size}"
        )
    if is_tflite_file(config.weights) and config.engine != "tflite":
        raise ValueError(f"--engine {config.engine} needs Keras weights, not the TF Lite model {config.weights}")
    if not 0 < config.variance <= 1:
        raise ValueError(f"--variance must be in (0, 1], got {config.variance}")
    if config.components is not None and not 1 <= config.components <= FEATURE_DIM:
        raise ValueError(f"--components must be between 1 and {FEATURE_DIM}, got {config.components}")
    if config.partitions is not None and config.partitions < 1:
        raise ValueError(f"--partitions must be at least 1, got {config.partitions}")
    if config.engine not in ENGINES:
        raise ValueError(f"--engine must be one of {ENGINES}, got {config.engine!r}")
    if config.preprocessing is not None and config.preprocessing not in PREPROCESSING_MODES:
        raise ValueError(f"--preprocessing must be one of {PREPROCESSING_MODES}, got {config.preprocessing!r}")
    if not config.run_id or "/" in config.run_id or config.run_id.startswith((".", "_")):
        raise ValueError(f"--run-id must be a plain folder name, got {config.run_id!r}")


def check_local_output(output: str) -> None:
    """Fail fast on a local output that cannot be written (S3 is checked on first write)."""
    uri = files.to_uri(output)
    if not files.is_local(uri):
        return
    path = files.local_path(uri)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    if not os.path.isdir(path) or not os.access(path, os.W_OK):
        raise OutputError(f"cannot write to output {output}: {path} is not a writable folder")


def load_driver_payload(spark: SparkSession, config: RunConfig) -> ModelPayload:
    """Read the weights once, on the driver (Keras's ImageNet download, a local file or s3://)
    and turn them into the payload the workers get; a cached conversion skips TensorFlow,
    and a `.tflite` file (the deployed model) is used as it is, without TensorFlow."""
    if is_tflite_file(config.weights):
        return _read_tflite_file(spark, config)
    load = functools.partial(
        load_payload, image_size=config.image_size, engine=config.engine, cache=default_cache_dir()
    )
    if config.weights == IMAGENET:
        try:
            return load(IMAGENET, preprocessing=config.preprocessing or "tf")
        except WeightsError as error:
            raise WeightsError(
                f"{error} (Keras downloads the ImageNet weights once to ~/.keras; without internet give a weights "
                f"file: {os.environ.get(WEIGHTS_OPTION_ENV, '--weights FILE')})"
            ) from None
    uri = files.to_uri(config.weights)
    if not files.exists(spark, uri):
        raise WeightsError(f"weights file not found: {config.weights}")
    preprocessing = config.preprocessing or preprocessing_from_sidecar(
        files.read_text_if_exists(spark, files.to_uri(sidecar_path(config.weights))), config.weights
    )
    if files.is_local(uri):
        return load(files.local_path(uri), preprocessing=preprocessing)
    with tempfile.TemporaryDirectory() as folder:
        local = os.path.join(folder, os.path.basename(uri))
        files.copy_to_local(spark, uri, local)
        return load(local, preprocessing=preprocessing)


def _read_tflite_file(spark: SparkSession, config: RunConfig) -> ModelPayload:
    uri = files.to_uri(config.weights)
    if not files.exists(spark, uri):
        raise WeightsError(f"model file not found: {config.weights}")
    sidecar = files.read_text_if_exists(spark, files.to_uri(sidecar_path(config.weights)))
    preprocessing = config.preprocessing or preprocessing_from_sidecar(sidecar, config.weights)
    return tflite_payload(files.read_bytes(spark, uri), config.image_size, preprocessing, sidecar, config.weights)


def _write_projection(spark: SparkSession, projected: DataFrame, k: int, run_dir: str, name: str) -> dict[str, Any]:
    """pca_<name>.parquet, then pca_<name>.csv from it (written by every task, see csv_output)."""
    parquet = files.join(run_dir, f"pca_{name}.parquet")
    projected.write.parquet(parquet)
    return write_csv(spark.read.parquet(parquet), k, files.join(run_dir, f"pca_{name}.csv"))


def versions() -> dict[str, str]:
    found = {"python": platform.python_version()}
    for package in ("pyspark", "tensorflow-cpu", "tensorflow", "keras", "numpy", "pandas", "pyarrow", "pillow"):
        installed = installed_version(package)
        if installed is not None:
            found[package] = installed
    return found


def _claim_run_dir(spark: SparkSession, output: str, run_id: str) -> str:
    run_dir = files.join(files.to_uri(output), run_id)
    if not (files.is_local(run_dir) or s3.is_s3(run_dir)):
        raise OutputError(f"output must be a local folder or s3://, got {output}")
    if files.exists(spark, run_dir):
        raise OutputError(f"run {run_dir} already exists: a run is never overwritten, choose another --run-id")
    return run_dir


def _create_run_dir(spark: SparkSession, run_dir: str, output: str) -> None:
    try:
        files.make_dirs(spark, run_dir)
    except Exception as error:  # Py4J wraps the Java IOException
        raise OutputError(f"cannot write to output {output}: {str(error).splitlines()[0]}") from None


def _project_sets(
    spark: SparkSession,
    pca: PipelineModel,
    k: int,
    features: dict[str, str],
    run_dir: str,
    console: Console,
    counts: dict[str, dict[str, Any]],
    placement: Placement,
) -> None:
    """Project every set; what each CSV file holds goes to the set's `csv` in `counts`."""
    for name, uri in features.items():
        with console.stage(f"project {name}"), placement.step(f"project {name}"):
            counts[name]["csv"] = _write_projection(spark, project(pca, spark.read.parquet(uri)), k, run_dir, name)


def _pca_rows(spark: SparkSession, run_dir: str, name: str, limit: int | None = None) -> tuple[np.ndarray, list[str]]:
    frame = spark.read.parquet(files.join(run_dir, f"pca_{name}.parquet")).select("pca", "label")
    if limit is not None:
        frame = frame.orderBy(F.rand(seed=0)).limit(limit)
    rows = frame.collect()
    return np.array([row.pca for row in rows], dtype=np.float64).reshape(len(rows), -1), [row.label for row in rows]


def _evaluate(
    spark: SparkSession, classifier: Classifier, run_dir: str, names: list[str]
) -> tuple[dict[str, float | None], dict[str, dict[str, Any]]]:
    """The classifier's accuracy and confusion matrix on each set (see classify.evaluate).

    Measured on a random sample of at most MAX_TRAINING_ROWS photos a set, so that memory stays flat.
    """
    accuracies, matrices = {}, {}
    for name in names:
        accuracies[name], matrix = evaluate(classifier, *_pca_rows(spark, run_dir, name, limit=MAX_TRAINING_ROWS))
        if matrix is not None:
            matrices[name] = matrix
    return accuracies, matrices


def _model_report(model: ModelPayload, weights: str, builds: int) -> dict[str, Any]:
    return {
        "architecture": "MobileNetV2",
        "weights": weights,
        "preprocessing": model.preprocessing,
        "engine": model.engine,
        "image_size": model.image_size,
        "feature_dim": FEATURE_DIM,
        "fingerprint": model.fingerprint,
        "file": f"feature_model/{model_file(model)}",
        "builds_on_workers": builds,
    }


def _artifacts(spark: SparkSession, model_uri: str, model: ModelPayload) -> dict[str, Any]:
    """What this run used, measured now: its code's digest, its environment, its model's bytes."""
    return {
        "code": running_code(),
        "environment": running_environment(spark.sparkContext.getConf().get("spark.archives", None)),
        "model": {"uri": model_uri, "sha256": model.sha256},
    }


def _finish(spark: SparkSession, run_dir: str, report: dict[str, Any], plot_set: str, console: Console) -> dict:
    """Write report.html, report.json and, last, _SUCCESS."""
    with console.stage("report"):
        points = (
            spark.read.parquet(files.join(run_dir, f"pca_{plot_set}.parquet"))
            .select("label", F.col("pca")[0].alias("pc_1"), F.col("pca")[min(1, report["pca"]["k"] - 1)].alias("pc_2"))
            .orderBy(F.rand(seed=0))
            .limit(PROJECTION_POINTS)
            .toPandas()
        )
        plots = render_plots(report, points)
        report["files_written"] = files_written(files.list_files(spark, run_dir))
    started = datetime.fromisoformat(report["started_at"])
    report["timings_s"] = dict(console.timings, total=round((datetime.now(timezone.utc) - started).total_seconds(), 3))
    report["finished_at"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    files.write_bytes(spark, files.join(run_dir, "report.html"), render_html(report, plots, plot_set))
    files.write_bytes(spark, files.join(run_dir, "report.json"), to_json(report))
    files.write_bytes(spark, files.join(run_dir, "_SUCCESS"), b"")
    return report


def run(spark: SparkSession, config: RunConfig, console: Console) -> dict[str, Any]:
    """Featurize, fit PCA and a classifier on --input, project every set; returns the report."""
    validate(config)
    started = datetime.now(timezone.utc)
    run_dir = _claim_run_dir(spark, config.output, config.run_id)
    sets = open_sets(console, named_sets(config.apply, [(FIT_SET, config.input)]))

    with console.stage("load model"):
        model = load_driver_payload(spark, config)
    earlier = open_earlier(spark, config.reuse, recipe(model)) if config.reuse else None
    _create_run_dir(spark, run_dir, config.output)
    placement = Placement(spark)
    featurized = featurize_sets(spark, sets, model, config.partitions, run_dir, console, placement, earlier)
    features, counts = featurized.features, featurized.counts
    if counts[FIT_SET]["featurized"] < 2:
        raise InputError(
            f"PCA needs at least 2 readable photos in {config.input}; "
            f"{counts[FIT_SET]['featurized']} of {counts[FIT_SET]['photos']} could be decoded (see the reasons above)"
        )

    with console.stage("fit PCA"), placement.step("fit PCA"):
        variance = config.variance if config.components is None else None
        fit = fit_pca(spark.read.parquet(features[FIT_SET]), variance, config.components)
        fit.model.save(files.join(run_dir, "pca_model"))
    console.say(f"  k = {fit.k} components explain {sum(fit.explained_variance):.1%} of the variance")
    _project_sets(spark, fit.model, fit.k, features, run_dir, console, counts, placement)

    classifier_info = None
    with console.stage("fit classifier"):
        pca, labels = _pca_rows(spark, run_dir, FIT_SET, limit=MAX_TRAINING_ROWS)
        classifier = (
            train(pca, labels, fit.model.stages[0].mean.toArray(), fit.model.stages[1].pc.toArray())
            if len(set(labels)) >= 2
            else None
        )
        if classifier is not None:
            files.write_bytes(spark, files.join(run_dir, "classifier.json"), classifier.to_json())
            accuracies, matrices = _evaluate(spark, classifier, run_dir, [name for name in features if name != FIT_SET])
            accuracies[FIT_SET] = classifier.accuracy(pca, labels)
    if classifier is not None:
        with console.stage("cross-validate classifier"):
            cross_validation = cross_validate(pca, labels)
        classifier_info = summary(accuracies, matrices, FIT_SET, accuracies[FIT_SET], cross_validation)
    model_info = _model_report(model, config.weights, featurized.builds)
    files.write_bytes(spark, files.join(run_dir, "feature_model", model_file(model)), model.blob)
    files.write_bytes(spark, files.join(run_dir, "feature_model", "model.json"), to_json(model_info))
    report = {
        "command": "run",
        "run_id": config.run_id,
        "run_dir": run_dir,
        "started_at": started.isoformat(timespec="seconds"),
        "parameters": asdict(config),
        "versions": versions(),
        "artifacts": _artifacts(spark, config.weights, model),
        "model": model_info,
        RECIPE_KEY: recipe(model),
        "sets": counts,
        "skipped": featurized.skipped,
        "ignored": featurized.ignored,
        "pca": {
            "fit_set": FIT_SET,
            "k": fit.k,
            "variance_target": variance,
            "explained_variance": fit.explained_variance,
            "cumulative_explained_variance": np.cumsum(fit.explained_variance).tolist(),
            "spectrum": fit.spectrum,
        },
        "classifier": classifier_info,
        "placement": placement.report(),
    }
    return _finish(spark, run_dir, report, FIT_SET, console)


@dataclass(frozen=True)
class FinishedRun:
    """What a finished run lends to `transform`: its embedder, PCA and classifier."""

    uri: str
    report: dict[str, Any]
    model: ModelPayload
    pca: PipelineModel
    classifier: Classifier | None


def load_run(spark: SparkSession, run: str) -> FinishedRun:
    uri = files.to_uri(run)
    if not files.exists(spark, files.join(uri, "_SUCCESS")):
        raise InputError(files.not_a_finished_run(run, files.exists(spark, uri)))
    report = json.loads(files.read_bytes(spark, files.join(uri, "report.json")))
    info = report["model"]
    blob = files.read_bytes(spark, files.join(uri, info["file"]))
    classifier_json = files.read_text_if_exists(spark, files.join(uri, "classifier.json"))
    return FinishedRun(
        uri=uri,
        report=report,
        model=ModelPayload(info["engine"], info["image_size"], info["preprocessing"], blob),
        pca=PipelineModel.load(files.join(uri, "pca_model")),
        classifier=Classifier.from_json(classifier_json) if classifier_json else None,
    )


@dataclass(frozen=True)
class TransformConfig:
    run: str
    inputs: tuple[str, ...]
    output: str | None = None  # None: beside the run
    partitions: int | None = None
    run_id: str = field(default_factory=lambda: new_run_id("transform"))


def transform(spark: SparkSession, config: TransformConfig, console: Console) -> dict[str, Any]:
    """Project new photos with a finished run's embedder and PCA, without refitting anything."""
    started = datetime.now(timezone.utc)
    with console.stage("load run"):
        source = load_run(spark, config.run)
    output = config.output or source.uri.rstrip("/").rsplit("/", 1)[0]
    run_dir = _claim_run_dir(spark, output, config.run_id)
    sets = open_sets(console, named_sets(config.inputs))
    _create_run_dir(spark, run_dir, output)
    placement = Placement(spark)
    featurized = featurize_sets(spark, sets, source.model, config.partitions, run_dir, console, placement)
    features, counts = featurized.features, featurized.counts
    pca = source.report["pca"]
    _project_sets(spark, source.pca, pca["k"], features, run_dir, console, counts, placement)
    classifier_info = None
    if source.classifier is not None:
        with console.stage("classify"):
            accuracies, matrices = _evaluate(spark, source.classifier, run_dir, list(features))
        fitted = source.report["classifier"]  # its training and cross-validated figures: the classifier's own
        classifier_info = summary(
            accuracies,
            matrices,
            f"{fitted['fitted_on']} of {source.uri}",
            fitted["accuracy"].get(fitted["fitted_on"]),
            fitted.get("cross_validation"),
        )
    report = {
        "command": "transform",
        "run_id": config.run_id,
        "run_dir": run_dir,
        "source_run": source.uri,
        "started_at": started.isoformat(timespec="seconds"),
        "parameters": asdict(config),
        "versions": versions(),
        "artifacts": _artifacts(spark, files.join(source.uri, source.report["model"]["file"]), source.model),
        "model": dict(source.report["model"], builds_on_workers=featurized.builds),
        RECIPE_KEY: recipe(source.model),
        "sets": counts,
        "skipped": featurized.skipped,
        "ignored": featurized.ignored,
        "pca": dict(pca, fit_set=f"{pca['fit_set']} of {source.uri}"),
        "classifier": classifier_info,
        "placement": placement.report(),
    }
    return _finish(spark, run_dir, report, sets[0].name, console)


def model_file(model: ModelPayload) -> str:
    return "embedder.tflite" if model.engine == "tflite" else "weights.npz"
