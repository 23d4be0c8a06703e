"""Finding the photos: Spark's binaryFile source over `<root>/<Label>/<photo>`."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import unquote

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from pipeline import storage
from pipeline.images import PHOTO_PATTERN, is_photo, label_from_path


class InputError(ValueError):
    """An input the job cannot use; the message says which and why."""


@dataclass(frozen=True)
class PhotoSet:
    """One input folder: its photos as a (path, content) DataFrame, listed once."""

    name: str
    uri: str
    frame: DataFrame
    photo_paths: list[str]
    ignored_paths: list[str]

    @property
    def per_label(self) -> dict[str, int]:
        return dict(sorted(Counter(label_from_path(p) for p in self.photo_paths).items()))


def open_photo_set(spark: SparkSession, name: str, path: str) -> PhotoSet:
    """List the photos under `path` (any depth; .jpg/.jpeg/.png in any case)."""
    uri = storage.to_uri(path)
    if not storage.exists(spark, uri):
        raise InputError(f"input path not found: {path}")
    frame = spark.read.format("binaryFile").option("recursiveFileLookup", "true").load(uri)
    listed = [as_scanned(uri) for uri in frame.inputFiles()]  # one call; unlike a scan, it keeps empty files
    photos = sorted(p for p in listed if is_photo(p))
    if not photos:
        raise InputError(f"no photos (.jpg, .jpeg, .png) found under {path}")
    ignored = sorted(p for p in listed if not is_photo(p))
    return PhotoSet(name, uri, frame.where(F.col("path").rlike(PHOTO_PATTERN)), photos, ignored)


def as_scanned(uri: str) -> str:
    """A listed file's URI as binaryFile's `path` column spells it (not URL-encoded, `file:/`)."""
    raw = unquote(uri)
    return "file:/" + raw[len("file:///") :] if raw.startswith("file:///") else raw


@contextmanager
def splits_at_least(spark: SparkSession, partitions: int) -> Iterator[None]:
    """Scans started inside split the files into at least about `partitions` parts, then coalesced.

    binaryFile splits by bytes and, by default, for the cores registered when the scan starts: on a
    cluster whose executors are still arriving, a few hundred photos would make fewer tasks than cores.
    """
    key = "spark.sql.files.minPartitionNum"
    before = spark.conf.get(key, None)
    spark.conf.set(key, str(partitions))
    try:
        yield
    finally:
        if before is None:
            spark.conf.unset(key)
        else:
            spark.conf.set(key, before)


def set_name(path: str, taken: set[str]) -> str:
    """A short, file-name-safe name for an input folder, unique among `taken`."""
    base = re.sub(r"[^a-z0-9]+", "_", path.rstrip("/").rsplit("/", 1)[-1].lower()).strip("_")
    name, n = base or "set", 2
    while name in taken:
        name, n = f"{base or 'set'}_{n}", n + 1
    return name
