"""The single CSV file: RFC 4180 that pandas and Python's csv module read back exactly, on disk and on S3."""

from __future__ import annotations

import csv
import io
import itertools
import random

import numpy as np
import pandas as pd
import pytest

from pipeline.job.csv_output import (
    S3_MIN_PART,
    Copy,
    Part,
    Upload,
    assemble,
    estimated_parts,
    header,
    plan_parts,
    write_csv,
)
from pipeline.storage import s3

K = 3
AWKWARD = [
    'Apple, "Golden" 1',
    "Pomme d'Api",
    "100% juice",
    "#1 Kiwi",
    "{Berry}",
    " Lime with spaces ",
    "Pêche é ü",
    "りんご",
    "苹果",
    "two\nlines",
]
"""Labels (and folder names) that break naive CSV: delimiters, quotes, markup, spaces, scripts, newlines."""


def awkward_rows(copies: int = 2) -> list[tuple[str, str, list[float]]]:
    rng = np.random.default_rng(0)
    rows = []
    for copy, label in itertools.product(range(copies), AWKWARD):
        values = (rng.standard_normal(K) * 10.0 ** rng.integers(-6, 6)).astype(np.float32)
        rows.append((f"file:/photos/{label}/{copy} {label}.jpg", label, values.tolist()))
    return rows


def awkward_frame(spark, partitions: int):
    rows = spark.sparkContext.parallelize(awkward_rows(), partitions)
    return spark.createDataFrame(rows, "path string, label string, pca array<float>")


def assert_round_trip(data: bytes, rows: list[tuple[str, str, list[float]]]) -> None:
    """RFC 4180 bytes that pandas and csv.DictReader both read back as exactly `rows` (any order)."""
    assert not data.startswith(b"\xef\xbb\xbf")  # no byte order mark: DictReader would glue it to "path"
    text = data.decode("utf-8")
    assert text.startswith('"path","label","pc_1"') and text.endswith("\r\n")
    assert "\\" not in text  # no backslash escaping anywhere
    expected = {path: (label, np.float32(values)) for path, label, values in rows}

    frame = pd.read_csv(io.BytesIO(data), dtype={"path": str, "label": str}, keep_default_na=False)
    assert list(frame.columns) == header(K) and len(frame) == len(rows)
    for record in frame.itertuples(index=False):
        label, values = expected[record.path]
        assert record.label == label
        np.testing.assert_array_equal(np.float32(record[2:]), values)

    records = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(records) == len(rows)
    for record in records:
        label, values = expected[record["path"]]
        assert record["label"] == label
        np.testing.assert_array_equal(np.float32([record[c] for c in header(K)[2:]]), values)


@pytest.mark.parametrize("partitions,part_bytes,parts", [(3, 1, 3), (3, 1 << 30, 1)], ids=["three-parts", "one-part"])
def test_local_csv_round_trips_awkward_labels(spark, tmp_path, partitions, part_bytes, parts):
    folder = tmp_path / "out #1 ?%20 {x}"  # not URL-encoded: '#' and '?' are part of the path
    folder.mkdir()
    target = folder / "pca_x.csv"
    written = write_csv(awkward_frame(spark, partitions), K, f"file://{target}", part_bytes=part_bytes)
    rows = awkward_rows()
    assert written == {
        "file": "pca_x.csv",
        "rows": len(rows),
        "bytes": target.stat().st_size,
        "parts": parts,
        "driver_bytes": 0,
    }
    assert_round_trip(target.read_bytes(), rows)
    assert [p.name for p in folder.iterdir()] == ["pca_x.csv"]  # parts and staging files removed


def test_empty_frame_gives_the_header_alone(spark, tmp_path):
    target = tmp_path / "pca_empty.csv"
    empty = spark.createDataFrame([], "path string, label string, pca array<float>")
    assert write_csv(empty, K, f"file://{target}")["rows"] == 0
    assert target.read_bytes() == b'"path","label","pc_1","pc_2","pc_3"\r\n'


def test_other_schemes_are_refused(spark):
    with pytest.raises(ValueError, match="local path or s3://"):
        write_csv(awkward_frame(spark, 1), K, "hdfs://namenode/pca.csv")


def test_parts_aim_at_the_part_size_within_the_partitions():
    assert estimated_parts(rows=100_000, k=100, partitions=4) == 4
    assert estimated_parts(rows=100_000, k=100, partitions=400) == 8  # ~135 MB in 16 MiB parts
    assert estimated_parts(rows=1_000, k=100, partitions=400) == 1  # ~1.4 MB: one task writes it


def covered(plan: list[Copy | Upload]) -> list[tuple[int, int, int]]:
    pieces = [[(p.source, p.start, p.end)] if isinstance(p, Copy) else list(p.ranges) for p in plan]
    return [r for piece in pieces for r in piece]


def sizes_of(plan: list[Copy | Upload]) -> list[int]:
    return [p.end - p.start if isinstance(p, Copy) else p.size for p in plan]


@pytest.mark.parametrize("seed", range(200))
def test_plan_joins_every_byte_once_in_order_within_s3_limits(seed):
    rng = random.Random(seed)
    sizes = [rng.choice([0, 1, 3, 5, 7, 12, 30]) for _ in range(rng.randint(1, 12))]
    plan = plan_parts(sizes, min_part=5, max_part=12)
    merged = []
    for source, start, end in covered(plan):
        assert start < end
        if merged and merged[-1][0] == source and merged[-1][2] == start:
            merged[-1] = (source, merged[-1][1], end)
        else:
            merged.append((source, start, end))
    assert merged == [(i, 0, size) for i, size in enumerate(sizes) if size]
    assert all(5 <= size <= 12 for size in sizes_of(plan)[:-1])
    for piece in plan:  # only small pieces are downloaded: an upload is at most one minimum part
        assert isinstance(piece, Copy) or piece.size <= 5


def test_plan_copies_large_parts_and_tops_up_small_ones():
    assert plan_parts([6, 6], min_part=5) == [Copy(0, 0, 6), Copy(1, 0, 6)]
    assert plan_parts([2, 9, 1], min_part=5) == [Upload(((0, 0, 2), (1, 0, 3))), Copy(1, 3, 9), Upload(((2, 0, 1),))]
    assert plan_parts([2, 6], min_part=5) == [Upload(((0, 0, 2), (1, 0, 3))), Upload(((1, 3, 6),))]
    assert plan_parts([25], min_part=5, max_part=10) == [Copy(0, 0, 8), Copy(0, 8, 16), Copy(0, 16, 25)]


@pytest.fixture
def bucket(s3_environment) -> str:
    s3.client().create_bucket(Bucket="results", CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})
    yield "results"
    client = s3.client()
    for listed in client.get_paginator("list_objects_v2").paginate(Bucket="results"):
        for item in listed.get("Contents", []):
            client.delete_object(Bucket="results", Key=item["Key"])
    client.delete_bucket(Bucket="results")


def s3_keys(bucket: str) -> list[str]:
    return sorted(item["Key"] for item in s3.client().list_objects_v2(Bucket=bucket).get("Contents", []))


def s3_bytes(bucket: str, key: str) -> bytes:
    return s3.client().get_object(Bucket=bucket, Key=key)["Body"].read()


@pytest.mark.parametrize("part_bytes,parts", [(1, 3), (1 << 30, 1)], ids=["three-parts", "one-part"])
def test_s3_csv_round_trips_awkward_labels(spark, bucket, part_bytes, parts):
    written = write_csv(awkward_frame(spark, 3), K, f"s3://{bucket}/run/pca_x.csv", part_bytes=part_bytes)
    assert written["parts"] == parts and written["rows"] == len(awkward_rows())
    assert written["driver_bytes"] == (written["bytes"] if parts > 1 else 0)  # small parts: one upload
    assert s3_keys(bucket) == ["run/pca_x.csv"]
    assert s3.client().head_object(Bucket=bucket, Key="run/pca_x.csv")["ContentType"].startswith("text/csv")
    assert_round_trip(s3_bytes(bucket, "run/pca_x.csv"), awkward_rows())


def test_s3_assembly_copies_parts_above_5_mib_and_uploads_only_small_ones(bucket):
    sizes = [S3_MIN_PART + 1000, 3000, S3_MIN_PART * 2, 10, S3_MIN_PART + 7, 500]
    parts, expected = [], b""
    for index, size in enumerate(sizes):
        data = bytes([65 + index]) * size
        s3.client().put_object(Bucket=bucket, Key=f"parts/{index}", Body=data)
        parts.append(Part(index, f"s3://{bucket}/parts/{index}", size, 1))
        expected += data
    driver_bytes = assemble(parts, f"s3://{bucket}/joined.csv")
    assert s3_bytes(bucket, "joined.csv") == expected
    # downloaded: 3,000 bytes topped up to 5 MiB from the next part, 10 bytes likewise, then 17 + 500 at the end
    assert driver_bytes == 2 * S3_MIN_PART + 17 + 500 < sum(sizes) / 2


def test_s3_csv_with_parts_above_5_mib_is_copied_server_side(spark, bucket):
    rows = 2 * 6000  # two parts of about 7 MB with 100 components
    frame = spark.range(rows).selectExpr(
        "concat('s3://in/train/Label ', id % 7, '/photo_', id, '.jpg') as path",
        "concat('Label ', id % 7) as label",
        "transform(sequence(1, 100), i -> cast((id * 7919 + i * 104729) % 100003 / 997.0 - 50 as float)) as pca",
    )
    written = write_csv(frame.repartition(2), 100, f"s3://{bucket}/run/pca_big.csv", part_bytes=1)
    assert written["parts"] == 2 and written["bytes"] > 2 * S3_MIN_PART
    assert written["driver_bytes"] < S3_MIN_PART  # at most the head of the second part
    text = s3_bytes(bucket, "run/pca_big.csv").decode()
    assert len(pd.read_csv(io.StringIO(text))) == rows and text.count('"path"') == 1
    assert s3_keys(bucket) == ["run/pca_big.csv"]
