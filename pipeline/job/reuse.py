"""Reusing an earlier run's features: a photo unchanged since that run is neither read nor embedded again.

A photo is the same photo when its path, size and version match: the version comes from the
listing the job makes anyway (pipeline/storage/listing.py: the modification time in nanoseconds locally, the
ETag on S3), so deciding costs no read and no request. Each features file keeps the size and
version of every photo it was made from, and each report says how its features were made
(`features_recipe`: the model's sha256, image size, preprocessing, the Pillow version and a digest of
the decoding code): features made another way are never mixed with this run's. The matching is a
Spark join of the listing against the earlier features, read where they lie: the features never
pass through the driver (the sort-merge hint keeps Spark from broadcasting a small features file).
"""

from __future__ import annotations

import hashlib
import inspect
import json
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, SparkSession

from pipeline.contract.errors import InputError
from pipeline.model import decoding
from pipeline.model.embedder import ModelPayload, installed_version
from pipeline.storage import files, s3

RECIPE_KEY = "features_recipe"
"""Where report.json says how its features were made."""
MATCH_KEYS = ["path", "size", "version"]
FEATURE_COLUMNS = ["path", "label", "size", "version", "features", "embedded_in"]
"""A features file's columns: `embedded_in` is the run whose model pass made the row."""

RECIPE_NAMES = {
    "model_sha256": "the model (sha256)",
    "image_size": "the image size",
    "preprocessing": "the preprocessing",
    "pillow": "the Pillow version",
    "decoding": "the decoding code (pipeline/model/decoding.py)",
}


def decoding_digest() -> str:
    """sha256 of the decoding module's source: a change to how photos become pixels changes the features."""
    return hashlib.sha256(inspect.getsource(decoding).encode()).hexdigest()


def recipe(model: ModelPayload) -> dict[str, Any]:
    """How this run makes features: two runs with equal recipes give the same features for the same bytes."""
    return {
        "model_sha256": model.sha256,
        "image_size": model.image_size,
        "preprocessing": model.preprocessing,
        "pillow": installed_version("pillow"),
        "decoding": decoding_digest(),
    }


def differences(earlier: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What differs between two recipes, each as `<what> (<earlier> then, <now> now)`."""
    found = []
    for key, name in RECIPE_NAMES.items():
        before, after = earlier.get(key), now.get(key)
        if before != after:
            shown = [str(v)[:12] + "..." if isinstance(v, str) and len(v) > 16 else str(v) for v in (before, after)]
            found.append(f"{name} ({shown[0]} then, {shown[1]} now)")
    return found


@dataclass(frozen=True)
class EarlierRun:
    """A finished run whose features this run may take: where it is and its features files, by set."""

    uri: str
    run_id: str
    features: dict[str, str]


def open_earlier(spark: SparkSession, run: str, made: dict[str, Any]) -> EarlierRun:
    """The run at `run`, if its features were made as this run's are (`made`); else one line saying why not.

    Reads only report.json: it is called before Spark starts any work.
    """
    uri = files.to_uri(run).rstrip("/")
    if not (files.is_local(uri) or s3.is_s3(uri)):
        raise InputError(f"--reuse must be a run folder, local or s3://, got {run}")
    if not files.exists(spark, files.join(uri, "_SUCCESS")):
        raise InputError(f"--reuse: {files.not_a_finished_run(run, files.exists(spark, uri))}")
    report = json.loads(files.read_bytes(spark, files.join(uri, "report.json")))
    earlier = report.get(RECIPE_KEY)
    if earlier is None:
        raise InputError(
            f"--reuse {run}: that run was made before features kept their photos' sizes and versions, "
            "so its features cannot be matched to photos; run once without --reuse"
        )
    changed = differences(earlier, made)
    if changed:
        raise InputError(f"--reuse {run}: its features were made differently: {'; '.join(changed)}")
    sets = {name: files.join(uri, f"features_{name}.parquet") for name in report["sets"]}
    missing = [features.rsplit("/", 1)[-1] for features in sets.values() if not files.exists(spark, features)]
    if missing:
        raise InputError(
            f"--reuse {run}: its {', '.join(missing)} are missing (`cloud results` downloads them only with --all)"
        )
    return EarlierRun(uri, report["run_id"], sets)


def earlier_features(spark: SparkSession, earlier: EarlierRun) -> DataFrame:
    """Every features row of the earlier run, all sets together, read where they lie (not collected)."""
    return spark.read.parquet(*earlier.features.values()).select(*FEATURE_COLUMNS)


def to_embed(photos: DataFrame, earlier: DataFrame) -> DataFrame:
    """The listed `photos` that `earlier` has no features for: new, rewritten, moved, or skipped then."""
    return photos.join(earlier.select(*MATCH_KEYS).hint("merge"), MATCH_KEYS, "left_anti")


def reused(photos: DataFrame, earlier: DataFrame) -> DataFrame:
    """The features of the listed `photos` that `earlier` has, one row a photo, with this listing's label.

    A sort-merge join (the hint): the features stay in the workers, whatever their size; a photo
    that was in two sets of the earlier run is kept once (the rows are alike: same bytes, same recipe).
    """
    matched = photos.select(*MATCH_KEYS, "label").join(earlier.drop("label").hint("merge"), MATCH_KEYS, "inner")
    return matched.dropDuplicates(["path"]).select(*FEATURE_COLUMNS)
