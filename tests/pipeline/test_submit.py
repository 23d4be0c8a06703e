"""The job submitted as EMR Serverless submits it, on a Spark cluster of several processes.

What is EMR's here: the job zip and entry point built by the code `cdk deploy` runs
(infra/packaging.py `_bundle_job`), the entry point and SparkSubmitParameters exactly as the
synthesized state machine passes them to StartJobRun. What is local instead: S3 URIs point to the
local files, memory and cores are scaled down to this 2-core machine, and the Python environment
archive (`spark.archives`, built by Docker at deploy time) is replaced by this test's own Python.
The cluster is Spark's `local-cluster`: a master, two workers and an executor JVM each, with their
own Python workers; dynamic allocation is on, as EMR Serverless runs it, so executors arrive
seconds after the driver started.
"""

from __future__ import annotations

import csv
import json
import os
import shlex
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from bench.cluster import submit_command
from tests.conftest import REPO, copy_sample

CLUSTER = "local-cluster[2,1,1536]"  # 2 workers of 1 core and 1.5 GB
ENV_PYTHON = "./environment/bin/python"  # where spark.archives unpacks the environment on EMR
SCALED = {  # the stack's EMR sizes -> this machine
    "spark.driver.cores": "1",
    "spark.driver.memory": "1g",
    "spark.driver.memoryOverhead": "384m",
    "spark.executor.cores": "1",
    "spark.executor.memory": "1g",
    "spark.executor.memoryOverhead": "384m",
    "spark.dynamicAllocation.maxExecutors": "2",
}
EMR_DEFAULTS = {  # as EMR Serverless runs a job by default (not in the stack's parameters)
    "spark.dynamicAllocation.enabled": "true",
    "spark.dynamicAllocation.initialExecutors": "2",  # some executors requested at start, the rest on demand
    # Standalone has no external shuffle service: executors keep their shuffle files instead.
    "spark.dynamicAllocation.shuffleTracking.enabled": "true",
}
STEPS = ("featurize train", "fit PCA", "project train")  # feature, PCA-moment and projection tasks
IMAGE_SIZE = "32"


def rendered(value: object, buckets: dict[str, str]) -> str:
    """A resolved CloudFormation string (Fn::Join of text and bucket Refs) with the buckets named."""
    if isinstance(value, str):
        return value
    if "Ref" in value:
        return buckets.get(value["Ref"], f"bucket-{value['Ref'].lower()}")
    separator, parts = value["Fn::Join"]
    return separator.join(rendered(part, buckets) for part in parts)


@pytest.fixture(scope="module")
def stack_submission(tmp_path_factory) -> dict[str, str]:
    """EntryPoint and SparkSubmitParameters of the state machine's StartJobRun, from the CDK stack."""
    from infra.config import AppConfig
    from tests.infra.infra_synth import build_app, synth_context

    tmp = tmp_path_factory.mktemp("stack")
    app, stack = build_app(synth_context(tmp), tmp / "cdk.out")  # the app as `cdk synth` builds it
    state_machine = stack.orchestration.state_machine.node.default_child
    substitutions = stack.resolve(state_machine.definition_substitutions)
    artifacts = stack.resolve(stack.storage.artifacts_bucket.bucket_name)["Ref"]
    buckets = {artifacts: "artifacts"}
    return {
        "entry_point": rendered(substitutions["EntryPoint"], buckets),
        "parameters": rendered(substitutions["SparkSubmitParameters"], buckets),
        "package_dir": str(AppConfig.from_context(app).job_package_path),
    }


def local_conf(parameters: str, artifacts: Path) -> dict[str, str]:
    """The stack's --conf pairs with S3 replaced by local files, sizes scaled, this Python for the archive."""
    words = shlex.split(parameters)
    assert words[::2] == ["--conf"] * (len(words) // 2), parameters
    conf = dict(word.split("=", 1) for word in words[1::2])
    assert conf.pop("spark.archives").endswith("#environment")  # the packed Python: this test's instead
    assert SCALED.keys() <= conf.keys(), "the stack no longer sets a size this test scales"
    for key, value in conf.items():
        if value == ENV_PYTHON:
            conf[key] = sys.executable
        elif value.startswith("s3://artifacts/"):
            conf[key] = str(artifacts / value.removeprefix("s3://artifacts/"))
    return {**conf, **SCALED, **EMR_DEFAULTS}


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    return copy_sample(tmp_path_factory.mktemp("submit_photos") / "train", per_label=3)


@pytest.fixture(scope="module")
def submitted_run(stack_submission, photos, weights, keras_home, tmp_path_factory):
    """One run through spark-submit on the cluster; returns (run dir, report, event log, stderr)."""
    from infra.packaging import _bundle_job

    work = tmp_path_factory.mktemp("submit")
    artifacts, events, output = work / "artifacts", work / "events", work / "output"
    events.mkdir()
    entry_point = artifacts / stack_submission["entry_point"].removeprefix("s3://artifacts/")
    entry_point.parent.mkdir(parents=True)
    _bundle_job(Path(stack_submission["package_dir"]), entry_point.parent)  # what `cdk deploy` uploads there
    conf = local_conf(stack_submission["parameters"], artifacts)
    assert Path(conf["spark.submit.pyFiles"]).is_file()  # the zip, beside the entry point
    conf |= {
        "spark.eventLog.enabled": "true",
        "spark.eventLog.dir": events.as_uri(),
        # As the local-mode tests: executors have an empty Keras home and no network.
        "spark.executorEnv.KERAS_HOME": str(keras_home),
        "spark.executorEnv.HTTPS_PROXY": "http://127.0.0.1:9",
    }
    job = ["run", "--input", str(photos), "--output", str(output), "--weights", weights]
    command = submit_command(
        conf, str(entry_point), *job, "--image-size", IMAGE_SIZE, "--run-id", "emr", master=CLUSTER
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PIPELINE_SPARK_MASTER")}
    env |= {
        "PYSPARK_PYTHON": sys.executable,
        "PIPELINE_MODEL_CACHE": os.environ.get("PIPELINE_MODEL_CACHE", str(REPO / ".pytest_cache" / "model-cache")),
    }
    # From a folder without the repository: the job can only import itself from the zip.
    done = subprocess.run(command, cwd=work, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-4000:]
    (log,) = [p for p in events.iterdir() if not p.name.endswith(".inprogress")]
    run_dir = output / "emr"
    return run_dir, json.loads((run_dir / "report.json").read_text()), read_events(log), done.stderr


def read_events(log: Path) -> dict:
    """From Spark's event log: master, UI setting, and (step, executor) of every finished task."""
    stage_step, tasks, properties = {}, [], {}
    for line in log.read_text().splitlines():
        event = json.loads(line)
        kind = event["Event"]
        if kind == "SparkListenerEnvironmentUpdate":
            properties = dict(event["Spark Properties"])
        elif kind == "SparkListenerJobStart":
            step = (event.get("Properties") or {}).get("spark.job.description")
            for stage in event["Stage IDs"]:
                stage_step[stage] = step
        elif kind == "SparkListenerTaskEnd" and event["Task End Reason"]["Reason"] == "Success":
            tasks.append((event["Stage ID"], event["Task Info"]["Executor ID"]))
    return {
        "properties": properties,
        "tasks": [(stage_step.get(stage), executor) for stage, executor in tasks],
    }


@pytest.fixture(scope="module")
def local_run(spark, photos, weights, tmp_path_factory):
    """The same photos in local mode (the tests' session, `python -m pipeline run`'s code path)."""
    from pipeline.cli import main

    output = tmp_path_factory.mktemp("local_output")
    arguments = ["run", "--input", str(photos), "--output", str(output), "--weights", weights]
    assert main(arguments + ["--image-size", IMAGE_SIZE, "--run-id", "local"]) == 0
    return output / "local", json.loads((output / "local" / "report.json").read_text())


def test_spark_submit_keeps_the_submitters_master_and_ui(submitted_run):
    _, report, events, _ = submitted_run
    assert events["properties"]["spark.master"] == CLUSTER
    assert events["properties"].get("spark.ui.enabled", "true") == "true"
    assert events["properties"]["spark.executor.cores"] == "1"  # the submitter's resources
    assert report["placement"]["master"] == CLUSTER and report["placement"]["started_by"] == "spark-submit"


def test_feature_pca_and_projection_tasks_ran_on_executors(submitted_run):
    _, _, events, _ = submitted_run
    assert "driver" not in {executor for _, executor in events["tasks"]}  # no task at all ran in the driver
    ran = {step: {executor for s, executor in events["tasks"] if s == step} for step in STEPS}
    assert all(ran.values()), ran  # each step had tasks, on executors


def test_report_placement_is_what_the_event_log_shows(submitted_run):
    _, report, events, _ = submitted_run
    placement = report["placement"]
    for step in STEPS:
        logged = Counter(executor for s, executor in events["tasks"] if s == step)
        assert {e: counts["tasks"] for e, counts in placement["steps"][step]["executors"].items()} == logged
    featurized = placement["steps"]["featurize train"]["executors"]
    assert sum(counts["photos"] for counts in featurized.values()) == report["sets"]["train"]["photos"] == 30
    # Sized for dynamic allocation's maximum, not for the executors there when photos were listed.
    assert (placement["sized_for_cores"], report["sets"]["train"]["partitions"]) == (2, 2)
    cores = {e["id"]: e["cores"] for e in placement["executors"]}
    assert all(cores[e] == 1 for e in featurized)


def test_each_executor_python_worker_built_the_model_at_most_once(submitted_run, keras_home):
    _, report, _, _ = submitted_run
    featurized = report["placement"]["steps"]["featurize train"]["executors"]
    assert all(counts["model_builds"] <= 1 for counts in featurized.values()), featurized  # 1 core: 1 worker
    assert report["model"]["builds_on_workers"] == sum(c["model_builds"] for c in featurized.values()) >= 1
    assert [p.name for p in keras_home.rglob("*") if p.name != "keras.json"] == []  # no weights read there


def test_outputs_equal_a_local_mode_run(spark, submitted_run, local_run):
    (cluster_dir, cluster_report, _, _), (local_dir, local_report) = submitted_run, local_run
    assert cluster_report["pca"]["k"] == local_report["pca"]["k"]

    def features(run_dir: Path) -> dict[str, np.ndarray]:
        rows = spark.read.parquet(str(run_dir / "features_train.parquet")).collect()
        return {r.path: np.array(r.features, dtype=np.float64) for r in rows}

    cluster, local = features(cluster_dir), features(local_dir)
    assert cluster.keys() == local.keys() and len(cluster) == 30
    cosine = [cluster[p] @ local[p] / np.linalg.norm(cluster[p]) / np.linalg.norm(local[p]) for p in cluster]
    assert min(cosine) >= 0.9999

    def rows(run_dir: Path) -> list[list[str]]:
        with open(run_dir / "pca_train.csv", newline="") as file:
            return sorted(row[:2] for row in list(csv.reader(file))[1:])  # path, label

    assert rows(cluster_dir) == rows(local_dir)


def test_report_html_shows_the_work_on_the_executors(submitted_run):
    run_dir, report, _, _ = submitted_run
    page = (run_dir / "report.html").read_text()
    assert "Where the work ran" in page and CLUSTER in page
    for executor in report["placement"]["steps"]["featurize train"]["executors"]:
        assert f"<td>featurize train</td><td>{executor}</td>" in page
