"""File operations that work the same on local disk and S3, through Hadoop's FileSystem.

Spark already carries the right connector (local files here, EMRFS on EMR), so the
driver uses it for everything that is not a DataFrame: the run directory, the
report, the weights. (The CSV files are written from Python: see csv_output.)
"""

from __future__ import annotations

import os
from urllib.parse import urlparse

from py4j.protocol import Py4JJavaError
from pyspark.sql import SparkSession

from pipeline.storage import s3

MISSING_CONNECTOR = ("org.apache.hadoop.fs.UnsupportedFileSystemException", "java.lang.ClassNotFoundException")
"""What Hadoop throws for a scheme it has no FileSystem for: `s3` (no mapping), `s3a` (mapped to a class
that pip's pyspark does not ship)."""


class NoConnector(OSError):
    """A path whose scheme this Spark cannot open; the message says where it does work."""


def to_uri(path: str) -> str:
    """Absolute `file:` URI for a local path; URIs with a scheme are kept as they are."""
    if urlparse(path).scheme and len(urlparse(path).scheme) > 1:  # not a Windows drive
        return path
    return "file://" + os.path.abspath(os.path.expanduser(path))


def is_local(uri: str) -> bool:
    return uri.startswith("file:")


def local_path(uri: str) -> str:
    """The path of a `file:` URI as this module and Spark spell them (not URL-encoded: a `#` or `?`
    in a folder name is part of the path, not a fragment or a query)."""
    rest = uri[len("file:") :]
    return "/" + rest.lstrip("/") if rest.startswith("//") else rest


def join(uri: str, *names: str) -> str:
    return "/".join([uri.rstrip("/"), *names])


def _filesystem(spark: SparkSession, uri: str):
    """Hadoop's FileSystem for `uri`: the job's first touch of every path that Hadoop opens."""
    path = spark._jvm.org.apache.hadoop.fs.Path(uri)
    try:
        return path.getFileSystem(spark._jsc.hadoopConfiguration()), path
    except Py4JJavaError as error:
        if not _is_missing_connector(error.java_exception):
            raise
        raise NoConnector(no_connector_message(uri)) from None


def _is_missing_connector(java_error) -> bool:
    while java_error is not None:
        if java_error.getClass().getName() in MISSING_CONNECTOR:
            return True
        java_error = java_error.getCause()
    return False


def no_connector_message(uri: str) -> str:
    scheme = urlparse(uri).scheme
    if s3.is_s3(uri):
        return (
            f"{uri}: this Spark has no S3 connector (pip's pyspark has none), so {scheme}:// paths run on "
            "EMR Serverless (python -m pipeline cloud start); here, use local folders, and move photos and results "
            "with python -m pipeline cloud upload / cloud results"
        )
    return f"{uri}: this Spark has no connector for {scheme}:// paths; use a local folder (or s3:// on EMR Serverless)"


def not_a_finished_run(run: str, folder_exists: bool) -> str:
    """Why the run folder `run` cannot be used: missing (a typo, not a run that failed) or without _SUCCESS."""
    if not folder_exists:
        return f"no such folder: {run} (give the folder of a run that succeeded)"
    return f"{run} is not a finished run (no _SUCCESS): give the folder of a run that succeeded"


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


def list_files(spark: SparkSession, uri: str) -> list[tuple[str, int]]:
    """Every file under the folder `uri` (at any depth, hidden ones too): (path relative to it, bytes).

    Local folders are walked directly: Hadoop's local filesystem hides the `.crc` checksum files
    it writes beside Spark's outputs, and they are on the disk all the same.
    """
    if is_local(uri):
        root = local_path(uri)
        return sorted(
            (os.path.relpath(os.path.join(folder, name), root), os.path.getsize(os.path.join(folder, name)))
            for folder, _, names in os.walk(root)
            for name in names
        )
    fs, path = _filesystem(spark, uri)
    root = fs.makeQualified(path).toString().rstrip("/") + "/"
    found, files = [], fs.listFiles(path, True)
    while files.hasNext():
        status = files.next()
        found.append((status.getPath().toString().removeprefix(root), int(status.getLen())))
    return sorted(found)
