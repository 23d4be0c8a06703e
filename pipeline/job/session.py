"""The Spark session, with defaults measured for this workload."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pyspark import SparkConf, SparkContext
from pyspark.sql import SparkSession

from pipeline.job import prerequisites

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


QUIET_LOG4J2 = Path(__file__).with_name("log4j2-quiet.properties")
"""The JVM's logging of a local run without --verbose: errors only, from its start."""


def submitted() -> bool:
    """True when spark-submit started this driver (EMR Serverless, YARN, Kubernetes, standalone...).

    spark-submit starts the JVM first and hands the Python driver its gateway through these
    variables; a `SparkConf()` made before the gateway exists reads nothing of what spark-submit
    was given (its master included), so the environment is the only early sign.
    """
    return "PYSPARK_GATEWAY_PORT" in os.environ


def local_defaults(verbose: bool = False) -> dict[str, str]:
    """What `python -m pipeline` gets when started directly: every local core, UI off, and unless
    `verbose`, a JVM that logs errors only (its log4j2 configuration is read before any session exists)."""
    java_options = LOCAL_JVM_OPTIONS
    if not verbose:  # a URI: no space for Spark to split the options on
        java_options += f" -Dlog4j2.configurationFile={QUIET_LOG4J2.as_uri()}"
    return {
        "spark.master": os.environ.get("PIPELINE_SPARK_MASTER", "local[*]"),
        "spark.driver.memory": os.environ.get("PIPELINE_DRIVER_MEMORY", "2g"),
        "spark.driver.extraJavaOptions": java_options,
        # Executors exist only with PIPELINE_SPARK_MASTER=local-cluster[...]: the same JVM as the driver.
        "spark.executor.extraJavaOptions": java_options,
        "spark.ui.enabled": "false",
    }


def job_defaults() -> dict[str, str]:
    """Settings of this workload, wherever it runs; a submitter's own value wins."""
    return {
        **{f"spark.executorEnv.{name}": value for name, value in SINGLE_THREAD_ENV.items()},
        "spark.sql.execution.arrow.maxRecordsPerBatch": str(ARROW_BATCH_ROWS),
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.session.timeZone": "UTC",
    }


def create_session(app_name: str = "fruit-features", verbose: bool = False) -> SparkSession:
    """A session for `python -m pipeline` (local mode) or spark-submit (EMR Serverless and any cluster).

    Under spark-submit the master, resources, UI and logging configuration are the submitter's,
    untouched; started directly, the job runs in local mode with the defaults measured on a laptop.
    Unless `verbose`, Spark logs errors only (`verbose`: Spark's own start-up lines and warnings).
    """
    builder = SparkSession.builder
    if submitted():
        SparkContext._ensure_initialized()  # joins spark-submit's JVM, so that SparkConf() sees its settings
        given = SparkConf()
        settings = {key: value for key, value in job_defaults().items() if not given.contains(key)}
    else:
        prerequisites.check()  # one line on a missing or unfit Python or Java, not a Py4J stack trace
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        builder = builder.appName(app_name)
        settings = {**local_defaults(verbose), **job_defaults()}
    for key, value in settings.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    if not verbose:
        session.sparkContext.setLogLevel("ERROR")
    return session
