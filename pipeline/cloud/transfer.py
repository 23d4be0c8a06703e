"""Copies between a local folder and S3: skip what is already there, multipart for large files, progress.

"Already there" means same size and same ETag. The buckets use SSE-S3, under which S3's
ETag is the MD5 of the content, or for a multipart upload the MD5 of the parts' MD5s
followed by "-<parts>"; the client uploads with fixed part sizes, so it can compute the
ETag a local file would get and compare it without downloading anything.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, TextIO

from pipeline.cloud.errors import CloudError, Exit, from_aws

PART_BYTES = 8 * 1024 * 1024
"""Multipart threshold and part size (boto3's defaults, named here to recompute ETags)."""
FILES_AT_ONCE = 8
"""Files transferred in parallel; each large file also sends up to 4 parts at once."""


def local_etag(path: Path, part_bytes: int = PART_BYTES) -> str:
    """The ETag S3 gives `path` once uploaded by this client (SSE-S3)."""
    from s3transfer.utils import ChunksizeAdjuster

    size = path.stat().st_size
    if size < part_bytes:
        return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
    part_bytes = ChunksizeAdjuster().adjust_chunksize(part_bytes, size)  # what s3transfer does for huge files
    digests = []
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(part_bytes), b""):
            digests.append(hashlib.md5(chunk, usedforsecurity=False).digest())
    return f"{hashlib.md5(b''.join(digests), usedforsecurity=False).hexdigest()}-{len(digests)}"


def same_content(path: Path, remote_size: int, remote_etag: str) -> bool:
    return path.is_file() and path.stat().st_size == remote_size and local_etag(path) == remote_etag.strip('"')


def listing(s3, bucket: str, prefix: str) -> dict[str, tuple[int, str]]:
    """{key: (size, etag)} of every object under `prefix`."""
    found = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            found[item["Key"]] = (item["Size"], item["ETag"])
    return found


class Progress:
    """One line of progress on stderr: redrawn in place on a terminal, every 10 % otherwise."""

    def __init__(self, verb: str, files: int, total_bytes: int, stream: TextIO | None = None) -> None:
        self.verb, self.files, self.total = verb, files, max(total_bytes, 1)
        self.stream = stream if stream is not None else sys.stderr
        self.live = self.stream.isatty()
        self.done_bytes = self.done_files = 0
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._shown_at = 0.0
        self._shown_tenth = -1

    def add(self, count: int) -> None:
        with self._lock:
            self.done_bytes += count
            self._show()

    def file_done(self) -> None:
        with self._lock:
            self.done_files += 1
            self._show()

    def line(self) -> str:
        share = min(self.done_bytes / self.total, 1.0)
        rate = self.done_bytes / max(time.monotonic() - self.started, 1e-6)
        bar = "#" * int(share * 20)
        return (
            f"{self.verb} [{bar:<20}] {share:4.0%} {self.done_files}/{self.files} files, "
            f"{megabytes(self.done_bytes)}/{megabytes(self.total)}, {megabytes(rate)}/s"
        )

    def _show(self) -> None:
        now = time.monotonic()
        tenth = int(10 * self.done_bytes / self.total)
        if self.live and now - self._shown_at >= 0.2:
            self.stream.write("\r" + self.line())
            self._shown_at = now
        elif not self.live and tenth > self._shown_tenth:
            self.stream.write(self.line() + "\n")
            self._shown_tenth = tenth
        self.stream.flush()

    def finish(self) -> None:
        with self._lock:
            self.stream.write(("\r" if self.live else "") + self.line() + "\n")
            self.stream.flush()


def megabytes(count: float) -> str:
    """A byte count for people: kB below a megabyte, MB above."""
    return f"{count / 1e3:.0f} kB" if count < 1e6 else f"{count / 1e6:.1f} MB"


def transfer_config():
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(multipart_threshold=PART_BYTES, multipart_chunksize=PART_BYTES, max_concurrency=4)


@dataclass(frozen=True)
class Copy:
    local: Path
    key: str
    size: int


def run_copies(copies: list[Copy], work: Callable[[Copy, Progress], None], verb: str, stream: TextIO | None) -> None:
    """Run `work` on every copy, FILES_AT_ONCE at a time; every file is tried, then failures are reported."""
    from botocore.exceptions import BotoCoreError, ClientError

    progress = Progress(verb, len(copies), sum(c.size for c in copies), stream)
    failures: list[tuple[Copy, Exception]] = []

    def one(copy: Copy) -> None:
        try:
            work(copy, progress)
        except (BotoCoreError, ClientError, OSError) as error:
            failures.append((copy, error))
        else:
            progress.file_done()

    with ThreadPoolExecutor(FILES_AT_ONCE) as pool:
        list(pool.map(one, copies))
    progress.finish()
    if failures:
        copy, error = failures[0]
        detail = from_aws(error) if not isinstance(error, OSError) else error
        raise CloudError(
            f"{len(failures)} of {len(copies)} files failed ({copy.local}: {detail}); run the same command "
            "again to retry them (files already copied are skipped)",
            Exit.AWS_ERROR,
        )


def upload_files(s3, bucket: str, copies: list[Copy], stream: TextIO | None = None) -> None:
    config = transfer_config()
    run_copies(
        copies,
        lambda c, progress: s3.upload_file(str(c.local), bucket, c.key, Config=config, Callback=progress.add),
        "upload",
        stream,
    )


def download_files(s3, bucket: str, copies: list[Copy], stream: TextIO | None = None) -> None:
    run_copies(copies, lambda copy, progress: download_one(s3, bucket, copy, progress.add), "download", stream)


def download_one(s3, bucket: str, copy: Copy, callback: Callable[[int], None] | None = None) -> None:
    copy.local.parent.mkdir(parents=True, exist_ok=True)
    partial = copy.local.with_name(copy.local.name + ".part")  # a cut download never looks complete
    s3.download_file(bucket, copy.key, str(partial), Config=transfer_config(), Callback=callback)
    os.replace(partial, copy.local)


def local_path(target: Path, relative: str) -> Path:
    """Where the object `relative` (its key below the downloaded prefix) goes: inside `target`, or refused.

    S3 keys are not paths: `a/../../x`, `a//tmp/x` or `a\\..\\x` are valid keys that would
    write above `target` or at an absolute path if joined as they are. Refused: empty, `.`
    and `..` segments, a leading `/`, backslashes and NUL; then the resolved path (symbolic
    links followed) must still be inside `target`.
    """
    segments = relative.split("/")
    if "\\" in relative or "\0" in relative or any(segment in ("", ".", "..") for segment in segments):
        raise unsafe_key(relative, target)
    local = target / relative
    if not local.resolve().is_relative_to(target.resolve()):
        raise unsafe_key(relative, target)
    return local


def unsafe_key(relative: str, target: Path) -> CloudError:
    return CloudError(
        f"refused to download {relative!r}: that key would be written outside {target} "
        "(empty, '.' or '..' folders, a leading '/' or a backslash); nothing was downloaded",
        Exit.UNSAFE_KEY,
    )


def download_prefix(
    s3,
    bucket: str,
    prefix: str,
    target: Path,
    wanted: Callable[[str], bool] = lambda _relative: True,
    last: Iterable[str] = ("_SUCCESS",),  # paths relative to `prefix`
    stream: TextIO | None = None,
) -> tuple[int, int]:
    """Copy the objects under `prefix` into `target` (skipping identical files); `last` goes last.

    Returns (downloaded, skipped). Folder markers (keys ending in "/") are ignored. Every local
    path is checked (`local_path`) before anything is downloaded.
    """
    objects = {k: v for k, v in listing(s3, bucket, prefix).items() if not k.endswith("/")}
    copies, skipped = [], 0
    for key, (size, etag) in sorted(objects.items()):
        relative = key[len(prefix) :]
        local = local_path(target, relative)  # every key, wanted or not: a bucket holding one is refused
        if not wanted(relative):
            continue
        if same_content(local, size, etag):
            skipped += 1
        else:
            copies.append(Copy(local, key, size))
    final = [c for c in copies if c.key[len(prefix) :] in set(last)]
    if len(final) < len(copies):
        download_files(s3, bucket, [c for c in copies if c not in final], stream)
    for copy in final:  # the run's own _SUCCESS: only once everything else is there
        download_one(s3, bucket, copy)
    return len(copies), skipped
