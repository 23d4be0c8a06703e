"""The whole job end to end in local Spark, on a few bundled photos plus awkward files."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pipeline.cli import main
from pipeline.contract.provenance import package_files, source_digest
from pipeline.job.pca import choose_k
from pipeline.storage.photo_names import EMPTY_FILE
from tests.conftest import REPO, SAMPLE, copy_sample
from tests.pipeline.photo_zoo import CONVERTED, SKIPPED, write_zoo

GOOD = 30  # 3 photos x 10 labels


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, sample_photo):
    root = tmp_path_factory.mktemp("inputs")
    train = copy_sample(root / "train", per_label=3)
    write_zoo(train / "Zoo", sample_photo)
    validation = copy_sample(root / "Validation", per_label=1, labels=4)
    return {"train": train, "validation": validation}


def run_cli(*args: str) -> int:
    return main(["run", *args])


@pytest.fixture(scope="module")
def finished_run(spark, inputs, weights, tmp_path_factory):
    """One default (TF Lite) run with small Arrow batches, so that workers see many batches."""
    output = tmp_path_factory.mktemp("output")
    spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "8")
    try:
        code = run_cli(
            "--input",
            str(inputs["train"]),
            "--output",
            str(output),
            "--weights",
            weights,
            "--image-size",
            "96",
            "--run-id",
            "first",
        )
    finally:
        spark.conf.set("spark.sql.execution.arrow.maxRecordsPerBatch", "256")
    assert code == 0
    run_dir = output / "first"
    return run_dir, json.loads((run_dir / "report.json").read_text())


def test_counts_cover_every_file(finished_run):
    _, report = finished_run
    train = report["sets"]["train"]
    assert train["photos"] == GOOD + len(CONVERTED) + len(SKIPPED)
    assert train["featurized"] == GOOD + len(CONVERTED)
    assert train["skipped"] == len(SKIPPED)
    assert train["ignored"] == 1 and train["ignored_by_reason"] == {"not a photo (.txt)": 1}
    assert train["files"] == train["photos"] + 1
    assert train["featurized_per_label"]["Apple Golden 1"] == 3
    assert train["featurized_per_label"]["Zoo"] == len(CONVERTED)


def test_unreadable_files_are_listed_with_their_reason(finished_run):
    _, report = finished_run
    reasons = {entry["path"].rsplit("/", 1)[-1]: entry["reason"] for entry in report["skipped"]}
    assert set(reasons) == set(SKIPPED)
    for name, reason in SKIPPED.items():
        assert reason in reasons[name]


def test_features_parquet_has_path_label_identity_and_1280_floats(spark, finished_run):
    run_dir, _ = finished_run
    frame = spark.read.parquet(str(run_dir / "features_train.parquet"))
    assert [(f.name, f.dataType.simpleString()) for f in frame.schema] == [
        ("path", "string"),
        ("label", "string"),
        ("size", "bigint"),
        ("version", "string"),
        ("features", "array<float>"),
        ("embedded_in", "string"),
    ]
    rows = frame.collect()
    assert len(rows) == GOOD + len(CONVERTED)
    assert {len(r.features) for r in rows} == {1280}
    assert "Apple Golden 1" in {r.label for r in rows}
    assert {(r.embedded_in, r.version.startswith("mtime_ns:")) for r in rows} == {("first", True)}


def test_pca_outputs_agree_with_k(spark, finished_run):
    run_dir, report = finished_run
    pca = report["pca"]
    k = pca["k"]
    assert k == choose_k(pca["spectrum"], 0.95) and len(pca["explained_variance"]) == k
    cumulative = pca["cumulative_explained_variance"]
    assert all(b >= a for a, b in zip(cumulative, cumulative[1:])) and cumulative[-1] >= 0.95
    frame = spark.read.parquet(str(run_dir / "pca_train.parquet"))
    assert [f.name for f in frame.schema] == ["path", "label", "pca"]
    assert {len(r.pca) for r in frame.collect()} == {k}
    with open(run_dir / "pca_train.csv", newline="") as file:
        rows = list(csv.reader(file))
    assert rows[0] == ["path", "label"] + [f"pc_{i}" for i in range(1, k + 1)]
    assert len(rows) == 1 + GOOD + len(CONVERTED)
    assert {"Apple Golden 1", "Zoo"} <= {row[1] for row in rows[1:]}
    assert_csv_equals_parquet(spark, run_dir, "train")
    assert report["sets"]["train"]["csv"] == {
        "file": "pca_train.csv",
        "rows": GOOD + len(CONVERTED),
        "bytes": (run_dir / "pca_train.csv").stat().st_size,
        "parts": 1,
        "driver_bytes": 0,
    }


def assert_csv_equals_parquet(spark, run_dir: Path, name: str) -> None:
    """pca_<name>.csv, read by pandas, holds exactly the rows of pca_<name>.parquet."""
    frame = pd.read_csv(run_dir / f"pca_{name}.csv", dtype={"path": str, "label": str}, keep_default_na=False)
    from_csv = {row.path: (row.label, np.float32(row[2:])) for row in frame.itertuples(index=False)}
    parquet = spark.read.parquet(str(run_dir / f"pca_{name}.parquet")).collect()
    from_parquet = {row.path: (row.label, np.float32(row.pca)) for row in parquet}
    assert from_csv.keys() == from_parquet.keys() and len(frame) == len(from_parquet)
    for path, (label, values) in from_parquet.items():
        assert from_csv[path][0] == label
        np.testing.assert_array_equal(from_csv[path][1], values)


def test_pca_model_is_saved_in_spark_ml_format(finished_run):
    from pyspark.ml import PipelineModel

    run_dir, report = finished_run
    model = PipelineModel.load(str(run_dir / "pca_model"))
    assert model.stages[-1].getK() == report["pca"]["k"]


def test_report_html_and_success_marker_written_last(finished_run):
    run_dir, report = finished_run
    page = (run_dir / "report.html").read_text()
    assert len(re.findall(r"<svg xmlns", page)) == 2 and "corrupt.jpg" in page  # two inline SVG plots
    assert f"took <b>{report['timings_s']['total']:.1f} s</b>" in page
    success = (run_dir / "_SUCCESS").stat().st_mtime_ns
    others = [
        p.stat().st_mtime_ns
        for p in run_dir.rglob("*")
        if p.is_file() and p.name != "_SUCCESS" and not p.name.startswith(".")
    ]
    assert others and success >= max(others)


def test_report_lists_every_file_the_run_wrote(finished_run):
    run_dir, report = finished_run
    on_disk: dict[str, list[int]] = {}
    for path in run_dir.rglob("*"):
        written_after = path.parent == run_dir and path.name in ("report.html", "report.json", "_SUCCESS")
        if path.is_file() and not written_after:
            top = path.relative_to(run_dir).parts[0]
            entry = on_disk.setdefault(top + ("/" if path.parent != run_dir else ""), [0, 0])
            entry[0] += 1
            entry[1] += path.stat().st_size
    listed = {entry["path"]: [entry["files"], entry["bytes"]] for entry in report["files_written"]}
    assert listed == on_disk and "pca_train.csv" in listed and "features_train.parquet/" in listed


def test_model_is_built_once_per_worker_not_per_batch(finished_run):
    _, report = finished_run
    batches_at_least = report["sets"]["train"]["photos"] // 8
    assert batches_at_least > 2
    assert 1 <= report["model"]["builds_on_workers"] <= 2  # local[2]: at most one per Python worker


def downloaded(keras_home: Path) -> list[str]:
    """What workers left in their Keras home besides the config file Keras writes on import."""
    return [p.name for p in keras_home.rglob("*") if p.name != "keras.json"]


def test_executors_touch_no_keras_cache(finished_run, keras_home):
    assert downloaded(keras_home) == []


def features_by_path(spark, run_dir: Path) -> dict[str, np.ndarray]:
    rows = spark.read.parquet(str(run_dir / "features_train.parquet")).collect()
    return {r.path: np.array(r.features) for r in rows}


def test_keras_engine_gives_the_tflite_features(spark, finished_run, inputs, weights, tmp_path, keras_home):
    run_dir, _ = finished_run
    code = run_cli(
        "--input",
        str(inputs["train"]),
        "--output",
        str(tmp_path),
        "--weights",
        weights,
        "--image-size",
        "96",
        "--engine",
        "keras",
        "--components",
        "5",
        "--run-id",
        "keras",
    )
    assert code == 0
    assert json.loads((tmp_path / "keras" / "report.json").read_text())["pca"]["k"] == 5
    lite, keras = features_by_path(spark, run_dir), features_by_path(spark, tmp_path / "keras")
    assert lite.keys() == keras.keys()
    cosine = [lite[p] @ keras[p] / np.linalg.norm(lite[p]) / np.linalg.norm(keras[p]) for p in lite]
    assert min(cosine) >= 0.999
    assert downloaded(keras_home) == []


@pytest.fixture(scope="module")
def fit_apply_run(spark, inputs, weights, tmp_path_factory):
    """The first run's parameters, plus a validation set to project."""
    output = tmp_path_factory.mktemp("fit_apply")
    assert (
        run_cli(
            "--input",
            str(inputs["train"]),
            "--apply",
            str(inputs["validation"]),
            "--output",
            str(output),
            "--weights",
            weights,
            "--image-size",
            "96",
            "--run-id",
            "apply",
        )
        == 0
    )
    return output / "apply", json.loads((output / "apply" / "report.json").read_text())


def pca_rows(spark, path: Path) -> dict[str, np.ndarray]:
    return {r.path: np.array(r.pca) for r in spark.read.parquet(str(path)).collect()}


def test_pca_is_fitted_on_the_fit_set_only(finished_run, fit_apply_run):
    from pyspark.ml import PipelineModel

    alone, with_apply = (PipelineModel.load(str(run / "pca_model")) for run in (finished_run[0], fit_apply_run[0]))
    np.testing.assert_allclose(alone.stages[0].mean.toArray(), with_apply.stages[0].mean.toArray(), atol=1e-9)
    np.testing.assert_allclose(
        np.abs(alone.stages[1].pc.toArray()), np.abs(with_apply.stages[1].pc.toArray()), atol=1e-6
    )


def test_apply_sets_get_their_own_outputs_and_accuracy(spark, fit_apply_run):
    run_dir, report = fit_apply_run
    assert report["sets"]["validation"]["featurized"] == 4 and report["pca"]["fit_set"] == "train"
    with open(run_dir / "pca_validation.csv") as file:
        assert len(file.readlines()) == 1 + 4
    assert_csv_equals_parquet(spark, run_dir, "validation")
    classifier = report["classifier"]
    assert 0 <= classifier["accuracy"]["validation"] <= 1
    assert classifier["accuracy"]["train"] >= 0.9


def test_classifier_reports_training_and_held_out_figures(fit_apply_run):
    run_dir, report = fit_apply_run
    classifier = report["classifier"]
    assert classifier["training_accuracy"] == classifier["accuracy"]["train"]
    assert classifier["held_out_accuracy"] == {"validation": classifier["accuracy"]["validation"]}
    validation = classifier["cross_validation"]
    assert validation["folds"] == 3 and validation["photos"] == GOOD + len(CONVERTED)  # 3 photos a label at least
    assert 0 <= validation["accuracy"] <= 1
    (name, matrix), *others = classifier["confusion_matrices"].items()
    assert name == "validation" and others == [] and matrix["photos"] == 4
    counts = np.array(matrix["matrix"])
    assert counts.sum() == 4 and counts.trace() / 4 == classifier["accuracy"]["validation"]
    page = (run_dir / "report.html").read_text()
    assert "<h3>validation</h3>" in page and "cross-validation" in page and "training accuracy" in page


def test_transform_projects_new_photos_without_refitting(spark, finished_run, fit_apply_run, inputs, tmp_path, capsys):
    run_dir, _ = finished_run
    assert (
        main(
            [
                "transform",
                "--run",
                str(run_dir),
                "--input",
                str(inputs["validation"]),
                "--output",
                str(tmp_path),
                "--run-id",
                "new",
            ]
        )
        == 0
    )
    report = json.loads((tmp_path / "new" / "report.json").read_text())
    assert report["command"] == "transform" and report["pca"]["k"] == finished_run[1]["pca"]["k"]
    classifier, fitted = report["classifier"], finished_run[1]["classifier"]
    assert classifier["held_out_accuracy"] == classifier["accuracy"] and set(classifier["accuracy"]) == {"validation"}
    assert classifier["training_accuracy"] == fitted["training_accuracy"]
    assert classifier["cross_validation"] == fitted["cross_validation"]
    assert classifier["fitted_on"] == f"train of {finished_run[1]['run_dir']}"
    assert set(classifier["confusion_matrices"]) == {"validation"}
    assert not (tmp_path / "new" / "pca_model").exists()
    assert main(["predict", "--run", str(tmp_path / "new"), str(unseen_photos()[0])]) == 2
    assert f"output of `transform` (photos projected with run {report['source_run']})" in capsys.readouterr().err
    projected = pca_rows(spark, tmp_path / "new" / "pca_validation.parquet")
    expected = pca_rows(spark, fit_apply_run[0] / "pca_validation.parquet")
    assert projected.keys() == expected.keys()
    for path, row in projected.items():
        np.testing.assert_allclose(np.abs(row), np.abs(expected[path]), rtol=1e-4, atol=1e-4)


def test_awkward_folder_and_file_names_round_trip_through_the_csv(spark, weights, tmp_path):
    from tests.pipeline.test_csv_output import AWKWARD

    photos = sorted(SAMPLE.rglob("*.jpg"))
    for index, label in enumerate(AWKWARD):
        for copy in range(2):
            folder = tmp_path / ("train" if copy else "test") / label
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"{copy} {label} #{{}}%.jpg").write_bytes(photos[(10 * index + copy) % len(photos)].read_bytes())
    args = ["--input", str(tmp_path / "train"), "--apply", str(tmp_path / "test"), "--output", str(tmp_path / "out")]
    assert run_cli(*args, "--weights", weights, "--image-size", "96", "--run-id", "awkward") == 0
    run_dir = tmp_path / "out" / "awkward"
    for name in ("train", "test"):
        assert_csv_equals_parquet(spark, run_dir, name)
        labels = set(pd.read_csv(run_dir / f"pca_{name}.csv", keep_default_na=False)["label"])
        assert labels == set(AWKWARD)
    report = json.loads((run_dir / "report.json").read_text(encoding="utf-8"))
    assert set(report["classifier"]["confusion_matrices"]["test"]["labels"]) == set(AWKWARD)
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "りんご" in page and "Pomme d&#x27;Api" in page


@pytest.mark.parametrize("made", [True, False], ids=["unfinished", "missing"])
def test_transform_needs_a_finished_run(spark, inputs, tmp_path, capsys, made):
    run = tmp_path / "output" / "RUN"
    if made:
        run.mkdir(parents=True)
    assert main(["transform", "--run", str(run), "--input", str(inputs["validation"])]) == 2
    said = capsys.readouterr().err
    assert (f"error: {run} is not a finished run (no _SUCCESS)" in said) == made
    assert (f"error: no such folder: {run} " in said) != made


def unseen_photos() -> list[Path]:
    """The last bundled photo of each label: not among the 3 a label that the runs are fitted on."""
    return [sorted(folder.glob("*.jpg"))[-1] for folder in sorted(SAMPLE.iterdir()) if folder.is_dir()]


def predict_answers(run_dir: Path, photos: list[Path], capsys) -> tuple[int, list[dict]]:
    capsys.readouterr()  # what earlier commands printed
    code = main(["predict", "--run", str(run_dir), *map(str, photos)])
    return code, [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_predict_answers_each_photo_or_its_error(finished_run, tmp_path, capsys, sample_photo):
    run_dir, _ = finished_run
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(sample_photo[:100])
    code, answers = predict_answers(run_dir, [*unseen_photos(), broken], capsys)
    assert code == 1  # one photo failed
    assert [a["photo"] for a in answers] == [*map(str, unseen_photos()), str(broken)]
    assert "truncated" in answers[-1]["error"] and "top" not in answers[-1]
    for answer in answers[:-1]:
        assert len(answer["top"]) == 3 and sum(t["score"] for t in answer["top"]) <= 1.0001


def test_predict_on_a_folder_answers_as_on_each_of_its_photos(finished_run, tmp_path, capsys):
    run_dir, _ = finished_run
    folder = copy_sample(tmp_path / "new", per_label=1, labels=3)
    photos = sorted(folder.rglob("*.jpg"), key=str)
    by_file = predict_answers(run_dir, photos, capsys)
    assert by_file[0] == 0 and len(by_file[1]) == 3
    assert predict_answers(run_dir, [folder], capsys) == by_file


def test_predict_names_the_fruit_with_imagenet_weights(spark, inputs, imagenet_weights, tmp_path, capsys):
    arguments = ["--input", str(inputs["train"]), "--output", str(tmp_path), "--weights", imagenet_weights]
    assert run_cli(*arguments, "--image-size", "96", "--run-id", "imagenet") == 0
    code, answers = predict_answers(tmp_path / "imagenet", unseen_photos(), capsys)
    assert code == 0
    right = sum(answer["top"][0]["label"] == photo.parent.name for photo, answer in zip(unseen_photos(), answers))
    assert right >= 8  # trained on 3 photos a label


def test_predict_computes_the_job_features(spark, finished_run):
    from pipeline.model.predict import load_predictor

    run_dir, _ = finished_run
    predictor = load_predictor(str(run_dir))
    for path, features in list(features_by_path(spark, run_dir).items())[:5]:
        content = Path(path.removeprefix("file:")).read_bytes()
        np.testing.assert_allclose(predictor.features(content), features, rtol=1e-5, atol=1e-5)


def test_predict_hides_litert_notices_unless_verbose(finished_run):
    run_dir, _ = finished_run
    command = [sys.executable, "-m", "pipeline", "predict", "--run", str(run_dir), str(unseen_photos()[0])]
    quiet, verbose = (
        subprocess.run([*command, *extra], cwd=REPO, capture_output=True, text=True, timeout=300)
        for extra in ([], ["--verbose"])
    )
    assert quiet.returncode == verbose.returncode == 0, quiet.stderr + verbose.stderr
    assert quiet.stderr == "" and "Created TensorFlow Lite XNNPACK delegate" in verbose.stderr
    assert quiet.stdout == verbose.stdout


@pytest.mark.parametrize(
    "make_args,message",
    [
        (lambda d, tmp: ["--input", str(tmp / "missing")], "input path not found"),
        (lambda d, tmp: ["--input", str(write_empty(tmp))], "no photos"),
        (lambda d, tmp: ["--input", str(d["train"]), "--output", str(tmp / "file.txt" / "out")], "cannot write"),
        (lambda d, tmp: ["--input", str(d["train"]), "--variance", "1.5"], "--variance must be"),
        (
            lambda d, tmp: ["--input", str(d["train"]), "--weights", str(tmp / "none.weights.h5")],
            "weights file not found",
        ),
    ],
    ids=["missing-input", "no-photos", "unwritable-output", "bad-variance", "missing-weights"],
)
def test_bad_input_stops_with_one_clear_line(spark, inputs, weights, tmp_path, capsys, make_args, message):
    (tmp_path / "file.txt").write_text("a file, not a folder")
    args = make_args(inputs, tmp_path)
    if "--output" not in args:
        args += ["--output", str(tmp_path / "out")]
    if "--weights" not in args:
        args += ["--weights", weights]
    assert run_cli(*args) == 2
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert error.startswith("error: ") and message in error
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_too_few_readable_photos_name_the_unreadable_ones(spark, weights, tmp_path, capfd):
    folder = tmp_path / "bad" / "Kiwi 1"
    folder.mkdir(parents=True)
    (folder / "garbage.jpg").write_bytes(b"not a photo")
    (folder / "empty.jpg").write_bytes(b"")
    args = ["--input", str(tmp_path / "bad"), "--output", str(tmp_path / "out"), "--weights", weights]
    assert run_cli(*args, "--image-size", "96") == 2
    lines = capfd.readouterr().err.strip().splitlines()
    assert lines[-1].startswith("error: PCA needs at least 2 readable photos") and "see the reasons above" in lines[-1]
    named = [line for line in lines if line.strip().startswith("skipped ")]
    assert any("garbage.jpg" in line for line in named) and any("empty.jpg: " + EMPTY_FILE in line for line in named)


def write_empty(tmp: Path) -> Path:
    folder = tmp / "empty" / "Kiwi 1"
    folder.mkdir(parents=True)
    (folder / "notes.txt").write_text("no photos here")
    return tmp / "empty"


def test_a_used_run_directory_is_never_overwritten(spark, finished_run, inputs, weights, capsys):
    run_dir, _ = finished_run
    before = (run_dir / "report.json").read_bytes()
    assert (
        run_cli(
            "--input",
            str(inputs["train"]),
            "--output",
            str(run_dir.parent),
            "--weights",
            weights,
            "--run-id",
            run_dir.name,
        )
        == 2
    )
    assert "never overwritten" in capsys.readouterr().err
    assert (run_dir / "report.json").read_bytes() == before


def test_missing_java_is_one_clear_line(tmp_path):
    env = {
        k: v for k, v in os.environ.items() if k not in ("JAVA_HOME", "PYSPARK_GATEWAY_PORT", "PYSPARK_GATEWAY_SECRET")
    }
    env["PATH"] = os.path.dirname(sys.executable)  # python, but no java
    result = subprocess.run(
        [sys.executable, "-m", "pipeline", "run", "--input", str(REPO / "data" / "sample"), "--output", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [result.stderr.strip().splitlines()[-1]]
    assert "no `java` is on PATH" in result.stderr and "install Java 17" in result.stderr


def test_the_deployed_model_runs_the_job_without_tensorflow(weights, tmp_path):
    """What EMR runs: `--weights X.tflite` with its sidecar, where TensorFlow and Keras cannot be imported."""
    from pipeline.model.embedder import default_cache_dir, load_payload, write_tflite_model

    model = tmp_path / "model" / "deployed.tflite"
    model.parent.mkdir()
    write_tflite_model(load_payload(weights, 224, "tflite", "torch", default_cache_dir()), model, "seeded weights")
    blocker, attempts = tmp_path / "no_tensorflow", tmp_path / "imports.log"
    for name in ("tensorflow", "keras"):
        (blocker / name).mkdir(parents=True)
        (blocker / name / "__init__.py").write_text(
            f"open({str(attempts)!r}, 'a').write('{name}\\n')\nraise ImportError('{name} is not on the EMR workers')\n"
        )
    photos = copy_sample(tmp_path / "photos", per_label=2, labels=3)
    command = [sys.executable, "-m", "pipeline", "run", "--input", str(photos), "--output", str(tmp_path / "out")]
    done = subprocess.run(
        [*command, "--weights", str(model), "--image-size", "48", "--run-id", "emr"],
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join([str(blocker), str(REPO)]), PIPELINE_SPARK_MASTER="local[2]"),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert not attempts.exists(), attempts.read_text()  # neither the driver nor a worker tried
    start_up = ("Setting default log level", "NativeCodeLoader", "XNNPACK")  # hidden without --verbose
    assert not [line for line in done.stderr.splitlines() if any(noise in line for noise in start_up)], done.stderr
    report = json.loads((tmp_path / "out" / "emr" / "report.json").read_text())
    assert report["model"]["image_size"] == 48  # the any-size model, resized for this run
    artifacts = report["artifacts"]
    assert artifacts["model"] == {
        "uri": str(model),
        "sha256": json.loads(model.with_suffix(".json").read_text())["sha256"],
    }
    assert artifacts["code"]["sha256"] == source_digest(package_files(REPO / "pipeline"))
    assert "Artifacts" in (tmp_path / "out" / "emr" / "report.html").read_text()


def test_transform_outputs_are_named_apart_from_runs():
    from pipeline.cloud.runs import new_run_id as cloud_run_id
    from pipeline.job.run import RunConfig, TransformConfig

    run, projected = RunConfig("in", "out").run_id, TransformConfig("run", ("in",)).run_id
    assert re.fullmatch(r"\d{8}-\d{6}", run) and re.fullmatch(r"transform-\d{8}-\d{6}", projected)
    assert re.fullmatch(r"\d{8}-\d{6}", cloud_run_id()) and cloud_run_id("transform").startswith("transform-")
