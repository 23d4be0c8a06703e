"""`pca_<set>.csv`: one RFC 4180 file, written by every task at once and assembled without a copy.

The file is what users open in pandas, R or a spreadsheet, so it follows RFC 4180 (fields in
double quotes where they are text, quotes inside doubled, CRLF line ends), UTF-8 without a byte
order mark, one header line `path,label,pc_1..pc_k`. Spark's CSV writer escapes quotes with a
backslash, which those tools misread.

At scale the file must not pass through one core: each Spark task formats its rows with Arrow's
CSV writer and writes them as one part (about PART_BYTES), in parallel; the first part carries
the header. The single file is then assembled without reading the data back:
- on local disk, the parts are appended in the kernel (`copy_file_range`) and renamed;
- on S3, by a multipart upload whose parts are server-side copies of the task parts
  (UploadPartCopy). S3 wants every part but the last to be at least 5 MiB, so a task part
  below that is joined with its neighbours: those few bytes (at most 5 MiB an upload part)
  are the only ones the driver downloads and sends, and the result says how many there were.
A small output (below 2 x PART_BYTES) is one part written straight to its final name.
Parts are written through Python (local files or boto3), not Hadoop: the same code serves both,
and the S3 path can be tested against a local S3 stand-in.
"""

from __future__ import annotations

import functools
import math
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from typing import IO, Any, Iterable, Iterator, Sequence

import pyarrow as pa
import pyarrow.csv as pa_csv
from pyspark.sql import DataFrame

from pipeline.storage import files, s3

MIB = 1 << 20
PART_BYTES = 16 * MIB
"""Bytes a task part aims at: well above S3's 5 MiB minimum part, small enough for many tasks."""
BYTES_PER_COMPONENT = 12
"""Estimated CSV bytes of one float32 component (shortest round-trip digits, sign, comma)."""
BYTES_PER_PATH_AND_LABEL = 150
"""Estimated CSV bytes of a row's path and label (photo URIs are 50-120 characters)."""
BATCH_ROWS = 4096
"""Rows formatted at once: Arrow batches reach a task 256 rows at a time, too few to amortise."""

S3_MIN_PART = 5 * MIB
S3_MAX_PART = 5 * (1 << 30)
S3_MAX_PARTS = 10_000
ASSEMBLY_CONCURRENCY = 16
"""UploadPartCopy requests in flight while assembling (each one a server-side copy)."""

CONTENT_TYPE = "text/csv; charset=utf-8; header=present"
WRITE_OPTIONS = {"eol": "\r\n", "quoting_style": "needed", "quoting_header": "needed"}
RESULT_SCHEMA = "index int, uri string, bytes long, rows long"
_RESULT_FIELDS = [("index", pa.int32()), ("uri", pa.string()), ("bytes", pa.int64()), ("rows", pa.int64())]


@dataclass(frozen=True, order=True)
class Part:
    """One task's rows, as written: `uri` is empty when an empty task wrote nothing."""

    index: int
    uri: str
    bytes: int
    rows: int


def header(k: int) -> list[str]:
    return ["path", "label", *(f"pc_{i}" for i in range(1, k + 1))]


def estimated_parts(rows: int, k: int, partitions: int, part_bytes: int = PART_BYTES) -> int:
    """Parts of at least about `part_bytes` each, no more than the frame has partitions."""
    estimate = rows * (k * BYTES_PER_COMPONENT + BYTES_PER_PATH_AND_LABEL)
    return int(max(1, min(partitions, estimate // part_bytes)))


def csv_table(batch: pa.RecordBatch | pa.Table, k: int) -> pa.Table:
    """(path, label, pca list of k floats) -> (path, label, pc_1..pc_k): CSV has no list columns."""
    pca = batch.column("pca")
    if isinstance(pca, pa.ChunkedArray):
        pca = pca.combine_chunks()
    values = pca.flatten().to_numpy(zero_copy_only=False)
    if pca.null_count or len(values) != len(pca) * k:
        raise ValueError(f"every row's pca must hold {k} numbers")
    matrix = values.reshape(len(pca), k)
    columns = [batch.column("path"), batch.column("label"), *(pa.array(matrix[:, j]) for j in range(k))]
    return pa.Table.from_arrays(columns, names=header(k))


def write_rows(batches: Iterable[pa.RecordBatch], k: int, sink: str | IO[bytes], include_header: bool) -> int:
    """Write the rows of `batches` as RFC 4180 CSV to `sink`; returns the row count."""
    schema = pa.schema([("path", pa.string()), ("label", pa.string())] + [(c, pa.float32()) for c in header(k)[2:]])
    options = pa_csv.WriteOptions(include_header=include_header, **WRITE_OPTIONS)
    rows, pending = 0, []
    with pa_csv.CSVWriter(sink, schema, write_options=options) as writer:
        for batch in [*batches, None]:
            if batch is not None and batch.num_rows:
                pending.append(batch)
            if pending and (batch is None or sum(b.num_rows for b in pending) >= BATCH_ROWS):
                table = csv_table(pa.Table.from_batches(pending), k)
                writer.write_table(table.cast(schema))
                rows, pending = rows + table.num_rows, []
    return rows


@contextmanager
def _staging(destination: str, attempt: int) -> Iterator[str]:
    """A local file to write `destination`'s bytes to first, removed afterwards if still there.

    Beside a local destination (same filesystem: the publishing rename is atomic, and a retried
    or speculative attempt never writes into another's file); in a temporary folder for S3.
    """
    if s3.is_s3(destination):
        with tempfile.TemporaryDirectory(prefix="csv-part-") as folder:
            yield os.path.join(folder, "part.csv")
        return
    staging = f"{files.local_path(destination)}.attempt-{attempt}"
    try:
        yield staging
    finally:
        if os.path.exists(staging):
            os.remove(staging)


def _publish(staging: str, destination: str) -> None:
    if s3.is_s3(destination):
        bucket, key = s3.split(destination)
        s3.client().upload_file(staging, bucket, key, ExtraArgs={"ContentType": CONTENT_TYPE})
    else:
        os.replace(staging, files.local_path(destination))


def write_part(batches: Iterable[pa.RecordBatch], k: int, destination: str, index: int, attempt: int = 0) -> Part:
    """Write one part (the header too if it is the first); an empty part other than the first is not written."""
    with _staging(destination, attempt) as staging:
        rows = write_rows(batches, k, staging, include_header=index == 0)
        if rows == 0 and index != 0:
            return Part(index, "", 0, 0)
        size = os.path.getsize(staging)
        _publish(staging, destination)
    return Part(index, destination, size, rows)


def part_uri(parts_dir: str, index: int) -> str:
    return files.join(parts_dir, f"part-{index:05d}.csv")


def _write_task_part(batches: Iterator[pa.RecordBatch], k: int, target: str, parts_dir: str | None):
    """mapInArrow body: this task's rows as one part (straight to `target` when it is the only part)."""
    from pyspark import TaskContext

    context = TaskContext.get()
    index = context.partitionId()
    destination = target if parts_dir is None else part_uri(parts_dir, index)
    part = write_part(batches, k, destination, index, context.attemptNumber())
    yield pa.RecordBatch.from_pylist([asdict(part)], schema=pa.schema(_RESULT_FIELDS))


def write_csv(frame: DataFrame, k: int, target: str, part_bytes: int = PART_BYTES) -> dict[str, Any]:
    """Write (path, label, pca) rows as the single CSV file `target` (a `file:` or `s3://` URI).

    Returns what was written: rows, bytes, parts and the bytes that passed through the driver.
    """
    if not (files.is_local(target) or s3.is_s3(target)):
        raise ValueError(f"CSV output must be a local path or s3://, got {target}")
    partitions = frame.rdd.getNumPartitions()
    parts = estimated_parts(frame.count(), k, partitions, part_bytes) if partitions else 1
    rows = frame.select("path", "label", "pca")
    if parts < partitions:
        rows = rows.coalesce(parts)
    parts_dir = None if parts == 1 else f"{target}.parts"
    if parts_dir is not None and files.is_local(parts_dir):
        os.makedirs(files.local_path(parts_dir), exist_ok=True)
    body = functools.partial(_write_task_part, k=k, target=target, parts_dir=parts_dir)
    written = sorted(Part(**row.asDict()) for row in rows.mapInArrow(body, RESULT_SCHEMA).collect())
    if not written:  # a frame without partitions (no photo of the set was readable): the header alone
        written = [write_part([], k, target, 0)]
    written = [part for part in written if part.uri]
    driver_bytes = 0
    if parts_dir is not None:
        driver_bytes = assemble(written, target)
        _remove_parts(written, parts_dir)
    return {
        "file": target.rstrip("/").rsplit("/", 1)[-1],
        "rows": sum(part.rows for part in written),
        "bytes": sum(part.bytes for part in written),
        "parts": len(written),
        "driver_bytes": driver_bytes,
    }


def assemble(parts: Sequence[Part], target: str) -> int:
    """Join the parts, in order, into `target`; returns the bytes that passed through this process."""
    if s3.is_s3(target):
        return _assemble_s3(parts, target)
    staging = f"{files.local_path(target)}.assembling"
    with open(staging, "wb", buffering=0) as out:
        for part in parts:
            with open(files.local_path(part.uri), "rb", buffering=0) as source:
                _append(source, out)
    os.replace(staging, files.local_path(target))
    return 0


def _append(source: IO[bytes], target: IO[bytes]) -> None:
    """Append `source` to `target` inside the kernel (a reflink where the filesystem has them)."""
    remaining = os.fstat(source.fileno()).st_size
    try:
        while remaining > 0:
            copied = os.copy_file_range(source.fileno(), target.fileno(), remaining)
            if copied == 0:
                break
            remaining -= copied
    except (AttributeError, OSError):  # not Linux, or a filesystem pair that refuses it: copy the rest
        shutil.copyfileobj(source, target, MIB)


@dataclass(frozen=True)
class Copy:
    """A multipart part copied server-side from bytes [start, end) of source part `source`."""

    source: int
    start: int
    end: int


@dataclass(frozen=True)
class Upload:
    """A multipart part made of byte ranges (source, start, end) downloaded and sent together."""

    ranges: tuple[tuple[int, int, int], ...]

    @property
    def size(self) -> int:
        return sum(end - start for _, start, end in self.ranges)


def plan_parts(sizes: Sequence[int], min_part: int = S3_MIN_PART, max_part: int = S3_MAX_PART) -> list[Copy | Upload]:
    """The multipart parts that join sources of `sizes` bytes, in order, with the fewest bytes downloaded.

    Every part but the last holds at least `min_part` bytes and none more than `max_part`.
    A source of `min_part` bytes or more is copied server-side; smaller sources are gathered into
    an upload of exactly `min_part` bytes, topped up with the head of the next source if needed.
    """
    plan: list[Copy | Upload] = []
    pending: list[tuple[int, int, int]] = []
    pending_bytes = 0
    for source, size in enumerate(sizes):
        if size == 0:
            continue
        start = 0
        if pending:
            start = min(size, min_part - pending_bytes)
            pending.append((source, 0, start))
            pending_bytes += start
            if pending_bytes >= min_part:
                plan.append(Upload(tuple(pending)))
                pending, pending_bytes = [], 0
        rest = size - start
        if rest >= min_part:
            slices = math.ceil(rest / max_part)
            bounds = [start + rest * i // slices for i in range(slices + 1)]
            plan += [Copy(source, a, b) for a, b in zip(bounds, bounds[1:])]
        elif rest > 0:
            pending.append((source, start, size))
            pending_bytes += rest
    if pending:
        plan.append(Upload(tuple(pending)))
    return plan


def _assemble_s3(parts: Sequence[Part], target: str) -> int:
    client = s3.client(ASSEMBLY_CONCURRENCY)
    bucket, key = s3.split(target)
    sources = [s3.split(part.uri) for part in parts]
    plan = plan_parts([part.bytes for part in parts])
    if len(plan) > S3_MAX_PARTS:
        raise OSError(f"{target} would need {len(plan)} parts, S3 allows {S3_MAX_PARTS}")

    def download(upload: Upload) -> bytes:
        return b"".join(
            client.get_object(Bucket=sources[i][0], Key=sources[i][1], Range=f"bytes={start}-{end - 1}")["Body"].read()
            for i, start, end in upload.ranges
        )

    if len(plan) == 1 and isinstance(plan[0], Upload):  # small: one request, no multipart upload
        client.put_object(Bucket=bucket, Key=key, Body=download(plan[0]), ContentType=CONTENT_TYPE)
        return plan[0].size
    upload_id = client.create_multipart_upload(Bucket=bucket, Key=key, ContentType=CONTENT_TYPE)["UploadId"]

    def send(numbered: tuple[int, Copy | Upload]) -> dict[str, Any]:
        number, piece = numbered
        common = {"Bucket": bucket, "Key": key, "UploadId": upload_id, "PartNumber": number}
        if isinstance(piece, Upload):
            return {"PartNumber": number, "ETag": client.upload_part(Body=download(piece), **common)["ETag"]}
        source_bucket, source_key = sources[piece.source]
        whole = piece.start == 0 and piece.end == parts[piece.source].bytes
        copy_range = {} if whole else {"CopySourceRange": f"bytes={piece.start}-{piece.end - 1}"}
        source = {"Bucket": source_bucket, "Key": source_key}
        result = client.upload_part_copy(CopySource=source, **common, **copy_range)
        return {"PartNumber": number, "ETag": result["CopyPartResult"]["ETag"]}

    try:
        with ThreadPoolExecutor(ASSEMBLY_CONCURRENCY) as pool:
            sent = list(pool.map(send, enumerate(plan, start=1)))
        client.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": sent})
    except BaseException:
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise
    return sum(piece.size for piece in plan if isinstance(piece, Upload))


def _remove_parts(parts: Sequence[Part], parts_dir: str) -> None:
    if not s3.is_s3(parts_dir):
        shutil.rmtree(files.local_path(parts_dir))
        return
    client = s3.client()
    bucket, _ = s3.split(parts_dir)
    keys = [{"Key": s3.split(part.uri)[1]} for part in parts]
    for first in range(0, len(keys), 1000):  # DeleteObjects takes at most 1,000 keys
        answer = client.delete_objects(Bucket=bucket, Delete={"Objects": keys[first : first + 1000], "Quiet": True})
        if answer.get("Errors"):
            error = answer["Errors"][0]
            raise OSError(f"cannot delete CSV part s3://{bucket}/{error['Key']}: {error['Message']}")
