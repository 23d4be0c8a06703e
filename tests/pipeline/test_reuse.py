"""`run --reuse`: unchanged photos take an earlier run's features unread; the results equal a full run's."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from pipeline.cli import main
from pipeline.contract.errors import InputError
from pipeline.job.reuse import RECIPE_KEY, EarlierRun, differences, earlier_features, open_earlier, reused, to_embed
from pipeline.storage.files import NoConnector
from pipeline.storage.listing import Listing
from tests.conftest import SAMPLE, copy_sample

IMAGE_SIZE = "32"  # as tests/pipeline/conftest.py's tiny runs: the workers' model is built once for both


def test_differences_name_what_changed_between_recipes():
    earlier = {"model_sha256": "a" * 64, "image_size": 224, "preprocessing": "tf", "pillow": "11.0", "decoding": "d"}
    now = dict(earlier, image_size=96, model_sha256="b" * 64)
    assert differences(earlier, earlier) == []
    assert differences(earlier, now) == [
        "the model (sha256) (aaaaaaaaaaaa... then, bbbbbbbbbbbb... now)",
        "the image size (224 then, 96 now)",
    ]


def test_a_listing_restricted_to_some_paths_keeps_their_rows_in_order():
    listing = Listing("file:/in", ["file:/in/A/1", "file:/in/A/2", "file:/in/B/3"], [1, 2, 3], ["v1", "v2", "v3"])
    listing.labels = ["A", "A", "B"]
    kept = listing.restricted_to({"file:/in/B/3", "file:/in/A/1"})
    assert (kept.paths, kept.sizes, kept.versions, kept.labels) == (
        ["file:/in/A/1", "file:/in/B/3"],
        [1, 3],
        ["v1", "v3"],
        ["A", "B"],
    )


def test_a_run_made_before_versions_were_kept_is_refused(spark, tmp_path):
    (tmp_path / "_SUCCESS").write_text("")
    (tmp_path / "report.json").write_text(json.dumps({"run_id": "old", "sets": {"train": {}}}))
    with pytest.raises(InputError, match="made before features kept their photos' sizes and versions"):
        open_earlier(spark, str(tmp_path), {})


def test_a_run_downloaded_without_its_features_is_refused(spark, tmp_path):
    (tmp_path / "_SUCCESS").write_text("")
    made = {"image_size": 32}
    (tmp_path / "report.json").write_text(json.dumps({"run_id": "r", "sets": {"train": {}}, RECIPE_KEY: made}))
    with pytest.raises(InputError, match=r"its features_train.parquet are missing \(`cloud results` .* --all\)"):
        open_earlier(spark, str(tmp_path), made)


def test_an_unfinished_run_is_refused(spark, tmp_path):
    with pytest.raises(InputError, match="not a finished run"):
        open_earlier(spark, str(tmp_path), {})


def test_an_s3_run_is_refused_without_a_connector(spark):
    with pytest.raises(NoConnector, match="no S3 connector"):
        open_earlier(spark, "s3://bucket/runs/earlier/", {})


def _run(*args: str) -> int:
    return main(["run", "--partitions", "2", "--image-size", IMAGE_SIZE, *args])


def _features(run_dir, name: str) -> dict[str, np.ndarray]:
    import pandas as pd

    frame = pd.read_parquet(run_dir / f"features_{name}.parquet")
    return {path: np.asarray(vector, dtype=np.float64) for path, vector in zip(frame["path"], frame["features"])}


def _garble_keeping_size_and_mtime(photo) -> None:
    """Same size, same modification time, other bytes: a read of it would fail to decode."""
    info = photo.stat()
    photo.write_bytes(b"\0" * info.st_size)
    os.utime(photo, ns=(info.st_atime_ns, info.st_mtime_ns))


@pytest.fixture(scope="module")
def three_runs(spark, weights, tmp_path_factory):
    """`first` (full), `second` (--reuse first, after a change, a deletion, a new label, and every
    photo to be reused garbled in place) and `full` (no reuse, on the same photos, restored)."""
    photos = tmp_path_factory.mktemp("reuse_photos")
    train = copy_sample(photos / "train", per_label=2, labels=3)
    validation = copy_sample(photos / "validation", per_label=1, labels=3)
    runs = tmp_path_factory.mktemp("reuse_runs")
    common = ["--input", str(train), "--apply", str(validation), "--output", str(runs), "--weights", weights]
    assert _run(*common, "--run-id", "first") == 0

    labels = sorted(train.iterdir())
    changed, deleted = sorted(labels[0].iterdir())
    other_photos = sorted(sorted(p for p in SAMPLE.iterdir() if p.is_dir())[3].glob("*.jpg"))
    changed.write_bytes(other_photos[0].read_bytes())  # another label's photo at the same path
    deleted.unlink()
    new_label = train / other_photos[0].parent.name
    new_label.mkdir()
    for photo in other_photos[1:3]:
        shutil.copy(photo, new_label / photo.name)
    unchanged = [p for label in labels[1:] for p in label.iterdir()] + list(validation.rglob("*.jpg"))
    originals = {p: p.read_bytes() for p in unchanged}
    for photo in unchanged:
        _garble_keeping_size_and_mtime(photo)
    assert _run(*common, "--run-id", "second", "--reuse", str(runs / "first")) == 0

    for photo, content in originals.items():
        photo.write_bytes(content)
    assert _run(*common, "--run-id", "full") == 0
    reports = {name: json.loads((runs / name / "report.json").read_text()) for name in ("first", "second", "full")}
    return runs, reports, {"changed": changed, "unchanged": unchanged, "new_label": new_label.name}


def _photos_embedded(report: dict, step: str) -> int:
    """Photos the workers ran the model on in `step`, as they counted them (the report's placement)."""
    return sum(executor["photos"] for executor in report["placement"]["steps"][step]["executors"].values())


def test_only_new_and_changed_photos_are_embedded(three_runs):
    runs, reports, _ = three_runs
    train, validation = reports["second"]["sets"]["train"], reports["second"]["sets"]["validation"]
    assert (train["embedded"], train["reused"], train["featurized"]) == (3, 4, 7)  # 1 changed + 2 new; 6 - 2 kept
    assert (validation["embedded"], validation["reused"], validation["featurized"]) == (0, 3, 3)
    assert train["reused_from"] == validation["reused_from"] == f"file://{runs / 'first'}"
    assert _photos_embedded(reports["second"], "featurize train") == 3
    assert _photos_embedded(reports["second"], "featurize validation") == 0
    assert reports["second"]["skipped"] == []  # the garbled photos were never read
    first = reports["first"]["sets"]["train"]
    assert (first["embedded"], first["reused"], first["reused_from"]) == (6, 0, None)


def test_reused_features_are_the_earlier_runs(three_runs):
    runs, _, photos = three_runs
    earlier, now = _features(runs / "first", "train"), _features(runs / "second", "train")
    for photo in photos["unchanged"]:
        path = f"file:{photo}"
        if path in earlier:
            np.testing.assert_array_equal(now[path], earlier[path])
    changed = f"file:{photos['changed']}"
    assert not np.allclose(now[changed], earlier[changed])


def test_the_reusing_run_equals_a_full_run(three_runs):
    runs, reports, photos = three_runs
    for name in ("train", "validation"):
        reusing, full = _features(runs / "second", name), _features(runs / "full", name)
        assert set(reusing) == set(full)
        for path, vector in full.items():
            cosine = vector @ reusing[path] / (np.linalg.norm(vector) * np.linalg.norm(reusing[path]))
            assert cosine >= 0.9999, path
    assert photos["new_label"] in reports["second"]["sets"]["train"]["featurized_per_label"]
    second, full = reports["second"]["pca"], reports["full"]["pca"]
    assert second["k"] == full["k"]
    np.testing.assert_allclose(second["explained_variance"], full["explained_variance"], rtol=1e-4)


def test_the_earlier_features_are_joined_without_a_broadcast(spark, three_runs):
    runs, _, _ = three_runs
    report = json.loads((runs / "first" / "report.json").read_text())
    earlier = EarlierRun(report["run_dir"], "first", {"train": f"{report['run_dir']}/features_train.parquet"})
    known = earlier_features(spark, earlier)
    listed = spark.read.parquet(f"{report['run_dir']}/features_train.parquet").select(
        "path", "size", "version", "label"
    )
    joined = reused(listed, known)
    assert joined.count() == 6
    joined.collect()  # the final (adaptive) plan is the one shown after an action
    plan = joined._jdf.queryExecution().executedPlan().toString()
    assert "SortMergeJoin" in plan and "Broadcast" not in plan


def test_features_made_another_way_are_refused_in_one_line_before_any_work(three_runs, weights, capsys):
    runs, reports, _ = three_runs
    train = reports["first"]["sets"]["train"]["input"]
    capsys.readouterr()
    code = main(
        ["run", "--input", train, "--output", str(runs), "--weights", weights, "--run-id", "other"]
        + ["--image-size", "48", "--preprocessing", "tf", "--reuse", str(runs / "first")]
    )
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and error.startswith("error: --reuse ")
    assert error.endswith(
        "its features were made differently: the image size (32 then, 48 now); the preprocessing (torch then, tf now)"
    )
    assert not (runs / "other").exists()


def test_only_a_photo_with_the_same_path_size_and_version_is_reused(spark):
    """Rewritten (other version), resized, moved, or absent from the earlier run (new, or skipped then): embedded."""
    earlier = spark.createDataFrame(
        [
            ("file:/p/A/same.jpg", "A", 10, "mtime_ns:1", [1.0], "first"),
            ("file:/p/A/rewritten.jpg", "A", 10, "mtime_ns:1", [2.0], "first"),
            ("file:/p/A/resized.jpg", "A", 10, "mtime_ns:1", [3.0], "first"),
            ("file:/p/A/moved.jpg", "A", 10, "mtime_ns:1", [4.0], "first"),
        ],
        "path string, label string, size long, version string, features array<float>, embedded_in string",
    )
    listed = spark.createDataFrame(
        [
            ("file:/p/A/same.jpg", 10, "mtime_ns:1", "Renamed label"),
            ("file:/p/A/rewritten.jpg", 10, "mtime_ns:2", "A"),
            ("file:/p/A/resized.jpg", 11, "mtime_ns:1", "A"),
            ("file:/p/B/moved.jpg", 10, "mtime_ns:1", "B"),
            ("file:/p/A/skipped-then.jpg", 10, "mtime_ns:1", "A"),
        ],
        "path string, size long, version string, label string",
    )
    assert sorted(row.path for row in to_embed(listed, earlier).collect()) == [
        "file:/p/A/resized.jpg",
        "file:/p/A/rewritten.jpg",
        "file:/p/A/skipped-then.jpg",
        "file:/p/B/moved.jpg",
    ]
    (kept,) = reused(listed, earlier).collect()
    assert (kept.path, kept.label, kept.features) == ("file:/p/A/same.jpg", "Renamed label", [1.0])
    assert kept.embedded_in == "first"  # the run whose model pass made it
