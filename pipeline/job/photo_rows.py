"""Finding the photos of an input folder (`<root>/<Label>/.../<photo>`) and handing them to Spark.

The listing is made once, in bulk, on the driver (pipeline/storage/listing.py), and only the photos'
(path, size, version, label) go to Spark, as a small DataFrame cut into the tasks planned for the cluster;
the workers read the files themselves (pipeline/storage/fetch.py). Spark's binaryFile source did both
before: its listing dropped names starting with `_` or `.`, and turning it into Python cost one
Py4J round trip per path (10-19 s per 100,000 paths).
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import pandas as pd
from pyspark.sql import DataFrame, SparkSession

from pipeline.contract.errors import InputError
from pipeline.storage import files, s3
from pipeline.storage.listing import Listing, list_local, list_s3

PHOTO_SCHEMA = "path string, size long, version string, label string"


@dataclass(frozen=True)
class PhotoSet:
    """One input folder: every file under it, listed once."""

    name: str
    uri: str
    listing: Listing

    @property
    def per_label(self) -> dict[str, int]:
        """Photos to read per label."""
        return dict(sorted(Counter(self.listing.labels).items()))

    def frame(self, spark: SparkSession, partitions: int) -> DataFrame:
        """The photos to read as (path, size, version, label) rows in at most `partitions` slices of consecutive
        paths."""
        return photo_frame(spark, self.listing, partitions)


def open_photo_set(name: str, path: str) -> PhotoSet:
    """List every file under `path` (local or s3://); refuses an input without a photo to read."""
    uri = files.to_uri(path)
    if files.is_local(uri):
        folder = files.local_path(uri)
        if not os.path.exists(folder):
            raise InputError(f"input path not found: {path}")
        if not os.path.isdir(folder):
            raise InputError(f"input must be a folder of <Label>/<photo>.jpg folders, not a file: {path}")
        listing = list_local(folder)
    elif s3.is_s3(uri):
        listing = list_s3(uri)
        if not listing.files:
            raise InputError(f"input path not found: {path} (no object under it)")
    else:
        raise InputError(f"input must be a local folder or s3://, got {path}")
    if not listing.paths:
        raise InputError(no_photos(path, listing))
    return PhotoSet(name, uri, listing)


def no_photos(path: str, listing: Listing) -> str:
    """Why an input has no photo to read, in one line."""
    if listing.skipped and listing.unlabelled == len(listing.skipped):
        return (
            f"no label folders in {path}: expected one folder per label, {path.rstrip('/')}/<Label>/<photo>.jpg "
            f"({listing.unlabelled} photos are directly in it)"
        )
    if listing.skipped:
        first, reason = listing.skipped[0]
        return f"none of the {len(listing.skipped)} photos under {path} can be read ({first}: {reason})"
    return f"no photos (.jpg, .jpeg, .png) found under {path}"


def slices(photos: int, partitions: int) -> tuple[int, int]:
    """(photos per slice, slices): consecutive runs of equal length, at most `partitions` of them."""
    per_slice = max(1, math.ceil(photos / max(1, partitions)))
    return per_slice, max(1, math.ceil(photos / per_slice))


def photo_frame(spark: SparkSession, listing: Listing, partitions: int) -> DataFrame:
    """(path, size, version, label) rows of the photos to read, one Arrow batch per slice: no Python row
    conversion, no shuffle, and no more than `partitions` tasks."""
    table = pd.DataFrame(
        {
            "path": listing.paths,
            "size": pd.Series(listing.sizes, dtype="int64"),
            "version": listing.versions,
            "label": listing.labels,
        }
    )
    per_slice, _ = slices(len(table), partitions)
    settings = {
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.execution.arrow.pyspark.fallback.enabled": "false",
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(per_slice),  # createDataFrame: a batch per partition
        "spark.sql.execution.arrow.localRelationThreshold": "0",  # else a local relation, in default parallelism
    }
    with session_settings(spark, settings):
        return spark.createDataFrame(table, schema=PHOTO_SCHEMA)


@contextmanager
def session_settings(spark: SparkSession, settings: Mapping[str, str]) -> Iterator[None]:
    """`settings` in force inside, the session's own values (or their absence) restored after."""
    before = {key: spark.conf.get(key, None) for key in settings}
    for key, value in settings.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)


def set_name(path: str, taken: set[str]) -> str:
    """A short, file-name-safe name for an input folder, unique among `taken`."""
    base = re.sub(r"[^a-z0-9]+", "_", path.rstrip("/").rsplit("/", 1)[-1].lower()).strip("_")
    name, n = base or "set", 2
    while name in taken:
        name, n = f"{base or 'set'}_{n}", n + 1
    return name


def named_sets(paths: Iterable[str], named: Sequence[tuple[str, str]] = ()) -> list[tuple[str, str]]:
    """(name, path) of each of `named` as given, then of each of `paths` by `set_name`: no name twice."""
    sets = list(named)
    taken = {name for name, _ in sets}
    for path in paths:
        sets.append((set_name(path, taken), path))
        taken.add(sets[-1][0])
    return sets
