"""File operations that work the same on local disk and S3, through Hadoop's FileSystem.

Spark already carries the right connector (local files here, EMRFS on EMR), so the
driver uses it for everything that is not a DataFrame: the run directory, the
report, the single CSV file, the weights.
"""

from __future__ import annotations

import os
from urllib.parse import urlparse

from pyspark.sql import SparkSession


def to_uri(path: str) -> str:
    """Absolute `file:` URI for a local path; URIs with a scheme are kept as they are."""
    if urlparse(path).scheme and len(urlparse(path).scheme) > 1:  # not a Windows drive
        return path
    return "file://" + os.path.abspath(os.path.expanduser(path))


def is_local(uri: str) -> bool:
    return uri.startswith("file:")


def local_path(uri: str) -> str:
    return urlparse(uri).path


def join(uri: str, *names: str) -> str:
    return "/".join([uri.rstrip("/"), *names])


def _filesystem(spark: SparkSession, uri: str):
    path = spark._jvm.org.apache.hadoop.fs.Path(uri)
    return path.getFileSystem(spark._jsc.hadoopConfiguration()), path


def exists(spark: SparkSession, uri: str) -> bool:
    fs, path = _filesystem(spark, uri)
    return bool(fs.exists(path))


def make_dirs(spark: SparkSession, uri: str) -> None:
    fs, path = _filesystem(spark, uri)
    if not fs.mkdirs(path):
        raise OSError(f"cannot create {uri}")


def write_bytes(spark: SparkSession, uri: str, data: bytes) -> None:
    """Write a new file; refuses to overwrite one."""
    fs, path = _filesystem(spark, uri)
    fs.setWriteChecksum(False)  # no hidden .crc beside each local file (a no-op on S3)
    stream = fs.create(path, False)
    try:
        stream.write(bytearray(data))
    finally:
        stream.close()


def read_bytes(spark: SparkSession, uri: str) -> bytes:
    fs, path = _filesystem(spark, uri)
    stream = fs.open(path)
    try:
        return bytes(spark._jvm.org.apache.commons.io.IOUtils.toByteArray(stream))
    finally:
        stream.close()


def read_text_if_exists(spark: SparkSession, uri: str) -> str | None:
    return read_bytes(spark, uri).decode("utf-8") if exists(spark, uri) else None


def copy_to_local(spark: SparkSession, uri: str, local_file: str) -> None:
    fs, path = _filesystem(spark, uri)
    fs.copyToLocalFile(False, path, spark._jvm.org.apache.hadoop.fs.Path(to_uri(local_file)), True)


def move_single_part(spark: SparkSession, directory_uri: str, target_uri: str) -> None:
    """Turn Spark's one-part output directory into the single file `target_uri`."""
    fs, directory = _filesystem(spark, directory_uri)
    parts = [s.getPath() for s in fs.listStatus(directory) if s.getPath().getName().startswith("part-")]
    if len(parts) != 1:
        raise OSError(f"expected one part file in {directory_uri}, found {len(parts)}")
    target = spark._jvm.org.apache.hadoop.fs.Path(target_uri)
    if not fs.rename(parts[0], target):
        raise OSError(f"cannot move {parts[0]} to {target_uri}")
    fs.delete(directory, True)
