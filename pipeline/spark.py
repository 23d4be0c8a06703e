"""The Spark session, with defaults measured for this workload."""

from __future__ import annotations

import os
import shutil
import sys

from pyspark import SparkConf
from pyspark.sql import SparkSession

ARROW_BATCH_ROWS = 256
"""Rows per Arrow batch into the featurizer: a few hundred photos, about 40 MB at 224 px."""

SINGLE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "TF_NUM_INTRAOP_THREADS": "1",
    "TF_NUM_INTEROP_THREADS": "1",
    "TF_CPP_MIN_LOG_LEVEL": "2",
}
"""One compute thread per Python worker: Spark runs one worker per core already."""


LOCAL_JVM_OPTIONS = "-XX:TieredStopAtLevel=1"
"""Local mode: the JVM's quick compiler only. Its optimising compiler burns CPU that the Python workers
need on a laptop (measured on 2 cores: JVM CPU of a cold 96 px run 48 -> 28 s; a 224 px run 103 -> 92 s)."""


class MissingJava(RuntimeError):
    pass


def check_java() -> None:
    """Spark needs a JVM; say so in one line instead of a Py4J stack trace."""
    java_home = os.environ.get("JAVA_HOME")
    if java_home and os.access(os.path.join(java_home, "bin", "java"), os.X_OK):
        return
    if shutil.which("java") is None:
        raise MissingJava(
            "Java 17 is required by Spark but was not found: install it "
            "(e.g. `apt-get install openjdk-17-jre-headless` or `brew install openjdk@17`) "
            "or set JAVA_HOME"
        )


def create_session(app_name: str = "fruit-features") -> SparkSession:
    """A session for `python -m pipeline` (local mode) or spark-submit (EMR Serverless).

    Under spark-submit the master and resources come from the submitter; run directly,
    the job uses every local core.
    """
    conf = SparkConf()
    builder = SparkSession.builder.appName(app_name)
    if not conf.contains("spark.master"):
        check_java()
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = (
            builder.master(os.environ.get("PIPELINE_SPARK_MASTER", "local[*]"))
            .config("spark.driver.memory", os.environ.get("PIPELINE_DRIVER_MEMORY", "2g"))
            .config("spark.driver.extraJavaOptions", LOCAL_JVM_OPTIONS)
            .config("spark.ui.enabled", "false")
        )
    for name, value in SINGLE_THREAD_ENV.items():
        builder = builder.config(f"spark.executorEnv.{name}", value)
    session = (
        builder.config("spark.sql.execution.arrow.maxRecordsPerBatch", str(ARROW_BATCH_ROWS))
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.session.timeZone", "UTC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session
