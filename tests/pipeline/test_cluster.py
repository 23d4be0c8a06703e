"""Sizing for the cluster the job gets, and placement measured per task (local mode here; the
multi-process cluster is tests/pipeline/test_submit.py)."""

from __future__ import annotations

import pytest

from pipeline.job.cluster import Placement, default_partitions, per_executor, planned_cores, settled_count
from pipeline.job.session import LOCAL_JVM_OPTIONS, QUIET_LOG4J2, job_defaults, local_defaults


@pytest.mark.parametrize(
    "photos,cores,expected",
    [(30, 2, 2), (5107, 2, 6), (5107, 24, 24), (1, 8, 1), (90_000, 2, 90), (90_000, 64, 128), (0, 2, 1)],
)
def test_partitions_are_full_waves_of_bounded_tasks(photos, cores, expected):
    assert default_partitions(photos, cores) == expected


EMR = {  # what the stack's SparkSubmitParameters give, plus EMR Serverless's own default
    "spark.master": "yarn",  # any non-local master
    "spark.executor.cores": "4",
    "spark.dynamicAllocation.enabled": "true",
    "spark.dynamicAllocation.maxExecutors": "3",
}


@pytest.mark.parametrize(
    "conf,expected",
    [
        (EMR, 12),
        ({**EMR, "spark.executor.instances": "2"}, 12),  # dynamic allocation grows past the initial count
        ({**EMR, "spark.dynamicAllocation.maxExecutors": "infinity"}, None),
        ({**EMR, "spark.dynamicAllocation.maxExecutors": str(2**31 - 1)}, None),
        ({**EMR, "spark.dynamicAllocation.enabled": "false", "spark.executor.instances": "3"}, 12),
        ({**EMR, "spark.dynamicAllocation.enabled": "false"}, None),
        ({"spark.master": "k8s://https://host", "spark.executor.instances": "5"}, None),  # cores unknown
        ({"spark.master": "local-cluster[2, 1, 1024]"}, 2),
        ({"spark.master": "local-cluster[3,2,1024]", "spark.executor.cores": "1"}, 6),
        ({"spark.master": "local[*]"}, None),  # Spark's defaultParallelism is exact there
    ],
)
def test_cores_come_from_what_the_job_was_given_not_what_has_registered(conf, expected):
    planned = planned_cores(conf)
    assert (planned[0] if planned else None) == expected


def test_the_wait_for_executors_is_bounded_and_stops_once_they_stop_arriving():
    now = [0.0]
    arrivals = {0.0: 0, 3.0: 4, 4.0: 8}  # executors register 3 and 4 s after the driver

    def count() -> int:
        return max(cores for at, cores in arrivals.items() if at <= now[0])

    def sleep(seconds: float) -> None:
        now[0] += seconds

    assert settled_count(count, timeout_s=60, settle_s=5, clock=lambda: now[0], sleep=sleep) == 8
    assert 9.0 <= now[0] < 10.0  # 5 s after the last arrival, not the whole minute
    now[0] = 0.0
    assert settled_count(lambda: 0, timeout_s=60, settle_s=5, clock=lambda: now[0], sleep=sleep) == 0
    assert now[0] == pytest.approx(60, abs=0.5)


def test_tasks_photos_and_builds_add_up_per_executor():
    tasks = [(1, "0"), (2, "1"), (3, "0")]
    assert per_executor(tasks, {1: (10, 1), 2: (12, 1), 3: (8, 0)}) == {
        "0": {"tasks": 2, "photos": 18, "model_builds": 1},
        "1": {"tasks": 1, "photos": 12, "model_builds": 1},
    }
    assert per_executor(tasks) == {"0": {"tasks": 2}, "1": {"tasks": 1}}


def test_local_defaults_only_when_started_directly(monkeypatch):
    monkeypatch.delenv("PIPELINE_SPARK_MASTER", raising=False)
    local = local_defaults()
    assert local["spark.master"] == "local[*]" and local["spark.ui.enabled"] == "false"
    assert not {"spark.master", "spark.ui.enabled", "spark.driver.memory"} & set(job_defaults())


def test_local_runs_log_errors_only_from_the_jvms_start_unless_verbose():
    quiet = f"{LOCAL_JVM_OPTIONS} -Dlog4j2.configurationFile={QUIET_LOG4J2.as_uri()}"
    assert local_defaults()["spark.driver.extraJavaOptions"] == quiet
    assert local_defaults(verbose=True)["spark.driver.extraJavaOptions"] == LOCAL_JVM_OPTIONS
    assert "rootLogger.level = error" in QUIET_LOG4J2.read_text()
    assert not any("log4j" in value for value in job_defaults().values())  # spark-submit: the cluster's logging


def test_placement_is_measured_per_task_in_local_mode(spark):
    placement = Placement(spark)
    counts = spark.sparkContext.accumulator(0)
    with placement.step("count"):
        spark.range(0, 100, numPartitions=3).foreach(lambda _: counts.add(1))
    assert placement.steps["count"] == {"tasks": 3, "executors": {"driver": {"tasks": 3}}}
    assert placement.cores == 2  # the test session is local[2]
    report = placement.report()
    assert report["master"] == "local[2]" and report["started_by"] == "python -m pipeline"
    assert report["executors"] == [{"id": "driver", "host": report["executors"][0]["host"], "cores": 2, "active": True}]
    assert report["sized_for_cores"] == 2 and report["cores_from"] == "local[2]"
