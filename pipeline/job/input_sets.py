"""A run's input sets: listed once, featurized once, every file accounted for.

Each set's folder is listed on the driver (pipeline/job/photo_rows.py, pipeline/storage/listing.py); its photos go
through the fused feature step (pipeline/job/featurize.py) once, straight to Parquet; and every file
found ends in exactly one bucket of the report: featurized, skipped or ignored, with its reason.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipeline.job.cluster import Placement, default_partitions
from pipeline.job.featurize import WorkerCounters, featurize
from pipeline.job.photo_rows import PhotoSet, open_photo_set, photo_frame, slices
from pipeline.job.progress import Console
from pipeline.job.reuse import FEATURE_COLUMNS, EarlierRun, earlier_features, reused, to_embed
from pipeline.model.embedder import ModelPayload
from pipeline.storage import files

SKIPPED_SHOWN = 10
"""Skipped photos named on the console per set; report.json lists them all."""


def _featurize_set(
    spark: SparkSession,
    photos: PhotoSet,
    payload,
    model: ModelPayload,
    partitions: int | None,
    run_dir: str,
    console: Console,
    placement: Placement,
    earlier: EarlierRun | None,
) -> tuple[str, dict[str, Any], list[dict[str, str]], list[dict[str, str]]]:
    """Embed one set once (only the photos `earlier` has no features for), write its features;
    returns (features uri, counts, skipped files, ignored files).

    Every file found under the set's folder is in exactly one of: featurized (embedded now or
    reused), skipped (with the reason, from the listing or the workers) or ignored (with the
    reason, from the listing).
    """
    listing = photos.listing
    run_id = run_dir.rstrip("/").rsplit("/", 1)[-1]
    counters = WorkerCounters.create(spark)
    target = files.join(run_dir, f"features_{photos.name}.parquet")
    parts, unread = [], listing
    if earlier is not None:
        with console.stage(f"match {photos.name} with {earlier.run_id}"), placement.step(f"match {photos.name}"):
            listed = photos.frame(spark, default_partitions(len(listing.paths), placement.cores))
            known = earlier_features(spark, earlier)
            unread = listing.restricted_to(set(to_embed(listed, known).select("path").toPandas()["path"]))
            parts.append(reused(listed, known))
        console.say(f"  {len(listing.paths) - len(unread.paths)} photos unchanged since {earlier.run_id}: not read")
    tasks = partitions or default_partitions(len(unread.paths), placement.cores)
    if unread.paths:
        embedded = featurize(photo_frame(spark, unread, tasks), payload, model, counters)
        parts.insert(0, embedded.withColumn("embedded_in", F.lit(run_id)).select(*FEATURE_COLUMNS))
    name = f"featurize {photos.name}"
    with (
        console.stage(name, total=len(unread.paths), done=counters.done),
        placement.step(name, counters.per_task),
    ):
        functools.reduce(DataFrame.unionByName, parts).write.parquet(target)
    written = spark.read.parquet(target)
    per_label, reused_rows = {}, 0
    for row in written.groupBy("label", (F.col("embedded_in") != run_id).alias("reused")).count().collect():
        per_label[row.label] = per_label.get(row.label, 0) + row["count"]
        reused_rows += row["count"] if row.reused else 0
    skipped = [
        {"path": path, "reason": reason} for path, reason in sorted([*listing.skipped, *counters.skipped.value.items()])
    ]
    for entry in skipped[:SKIPPED_SHOWN]:
        console.say(f"  skipped {entry['path']}: {entry['reason']}")
    if len(skipped) > SKIPPED_SHOWN:
        console.say(f"  ... and {len(skipped) - SKIPPED_SHOWN} more skipped (all in report.json)")
    counts = {
        "input": photos.uri,
        "files": listing.files,
        "photos": listing.files - len(listing.ignored),
        "featurized": sum(per_label.values()),
        "embedded": sum(per_label.values()) - reused_rows,
        "reused": reused_rows,
        "reused_from": earlier.uri if earlier is not None else None,
        "skipped": len(skipped),
        "ignored": len(listing.ignored),
        "ignored_by_reason": dict(Counter(reason for _, reason in listing.ignored).most_common()),
        "photos_per_label": photos.per_label,
        "featurized_per_label": dict(sorted(per_label.items())),
        "partitions": slices(len(unread.paths), tasks)[1] if unread.paths else 0,
        "model_builds": int(counters.builds.value),
        # Where the workers' time went; the rest of the stage is Spark's (scheduling, Arrow, Parquet).
        "worker_python_s": round(counters.python_seconds.value, 2),
        "worker_model_s": round(counters.model_seconds.value, 2),
        "worker_read_wait_s": round(counters.read_wait_seconds.value, 2),
    }
    ignored = [{"path": path, "reason": reason, "set": photos.name} for path, reason in listing.ignored]
    return target, counts, [dict(s, set=photos.name) for s in skipped], ignored


def open_sets(console: Console, named_paths: list[tuple[str, str]]) -> list[PhotoSet]:
    with console.stage("list photos"):
        sets = [open_photo_set(name, path) for name, path in named_paths]
    for photos in sets:
        listing = photos.listing
        console.say(
            f"  {photos.name}: {listing.files} files in {photos.uri}: {len(listing.paths)} photos to read in "
            f"{len(photos.per_label)} labels, {len(listing.skipped)} skipped, {len(listing.ignored)} ignored"
        )
        if listing.unlabelled:
            console.say(f"  {listing.unlabelled} photos directly in {photos.uri} skipped: not in a <Label>/ folder")
    return sets


@dataclass(frozen=True)
class Featurized:
    """Every set's features, written once, and the accounting of every file."""

    features: dict[str, str]  # set -> features parquet
    counts: dict[str, dict[str, Any]]  # set -> its figures (report.json `sets`)
    skipped: list[dict[str, str]]
    ignored: list[dict[str, str]]

    @property
    def builds(self) -> int:
        return sum(c["model_builds"] for c in self.counts.values())


def featurize_sets(
    spark: SparkSession,
    sets: list[PhotoSet],
    model: ModelPayload,
    partitions: int | None,
    run_dir: str,
    console: Console,
    placement: Placement,
    earlier: EarlierRun | None = None,
) -> Featurized:
    """Every set's features: those `earlier` has for unchanged photos taken from it, the others embedded."""
    payload = spark.sparkContext.broadcast(model)
    done = Featurized({}, {}, [], [])
    for photos in sets:
        features, counts, skipped, ignored = _featurize_set(
            spark, photos, payload, model, partitions, run_dir, console, placement, earlier
        )
        done.features[photos.name], done.counts[photos.name] = features, counts
        done.skipped.extend(skipped)
        done.ignored.extend(ignored)
    payload.unpersist()
    return done
