"""Reading photos in the Python workers: many at once, in order, within a budget of bytes.

On S3 every photo is a GET that waits tens of milliseconds for its first byte; read one after
another (as Spark's binaryFile source reads a task's files) a core would mostly wait. Here each
task reads ahead with a pool of threads (the waits overlap; the worker's one compute thread
decodes and runs the model meanwhile) and hands the photos over in the order listed. What is
read ahead is bounded by bytes, not photos (sizes come from the listing): at most `window_bytes`
of files read but not yet handed over, or one file when it alone is larger, so that 12-megapixel
phone photos cost no more memory than thumbnails. Local files are read with `open`, S3 objects
with the shared boto3 client (pipeline/storage/s3.py: a connection per thread, standard retries, the
job role's credentials on EMR).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor

from pipeline.storage import files, s3

MIB = 1 << 20
READ_THREADS = 16
"""Reads in flight per task (per Python worker): enough to hide 40 ms per GET at 400 photos/s."""
WINDOW_BYTES = 64 * MIB
"""Bytes read ahead per task at most (one larger photo alone may exceed it)."""
AHEAD_PER_THREAD = 4
"""Photos read ahead per thread at most: the window in photos, for many tiny ones."""
STREAM_ATTEMPTS = 3
"""Attempts at a GET whose body broke off (botocore retries the request itself, not the body)."""

Read = tuple[str, bytes | None, str | None]
"""(path, content, None) or (path, None, why it could not be read)."""


def read_photo(path: str) -> bytes:
    """The bytes of a photo at `file:/...` or `s3://...`; OSError with the reason if it cannot be read."""
    if files.is_local(path):
        with open(files.local_path(path), "rb") as file:
            return file.read()
    if s3.is_s3(path):
        return _get_object(*s3.split(path))
    raise OSError(f"cannot read {path}: not a local file or s3://")


def _get_object(bucket: str, key: str) -> bytes:
    from botocore.exceptions import BotoCoreError, ClientError

    client = s3.client(READ_THREADS)
    for attempt in range(1, STREAM_ATTEMPTS + 1):
        try:
            return client.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as error:  # an answer from S3 (NoSuchKey, AccessDenied...): final
            info = error.response.get("Error", {})
            raise OSError(f"{info.get('Code', 'error')}: {info.get('Message', error)}") from None
        except BotoCoreError as error:  # the connection or the body broke off after botocore's retries
            if attempt == STREAM_ATTEMPTS:
                raise OSError(str(error)) from None
    raise AssertionError("unreachable")


def _attempt(read: Callable[[str], bytes], path: str) -> tuple[bytes | None, str | None]:
    try:
        return read(path), None
    except OSError as error:
        return None, f"cannot read: {error.strerror or error}"


def read_ahead(
    photos: Iterable[tuple[str, int]],
    read: Callable[[str], bytes] = read_photo,
    threads: int = READ_THREADS,
    window_bytes: int = WINDOW_BYTES,
) -> Iterator[Read]:
    """Each (path, size) of `photos` as (path, content, error), in order, read ahead by `threads` threads.

    A photo is started only while the sizes of those started and not yet handed over stay within
    `window_bytes` (and `AHEAD_PER_THREAD` x `threads` photos); a photo counts until the caller asks
    for the next one. So the bytes held are at most `window_bytes` plus the photo the caller holds
    (or one photo larger than the window, read alone). `photos` is consumed lazily, as the window moves.
    """
    upcoming = iter(photos)
    pending: deque[tuple[str, int, Future]] = deque()
    held: tuple[str, int] | None = None
    in_window = 0
    most = AHEAD_PER_THREAD * threads
    with ThreadPoolExecutor(threads, thread_name_prefix="read") as pool:
        try:
            while True:
                while len(pending) < most:
                    if held is None and (held := next(upcoming, None)) is None:
                        break
                    path, size = held
                    if pending and in_window + size > window_bytes:
                        break
                    pending.append((path, size, pool.submit(_attempt, read, path)))
                    in_window += size
                    held = None
                if not pending:
                    return
                path, size, future = pending.popleft()
                content, error = future.result()
                yield path, content, error
                in_window -= size
        finally:  # the task ended early (failed, or was cancelled): no more reads
            for _, _, future in pending:
                future.cancel()
