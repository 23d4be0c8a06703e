"""The benchmark scripts still run end to end (on a few photos, tiny images) and print their JSON line.

No timing is asserted: the figures only mean something on the full data (see the README).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench.cost import ARM_DISCOUNT, MINIMUM_S, WORKER_VCPU, default_prices, run_resources
from bench.proctree import run_measured
from tests.conftest import REPO, copy_sample


@pytest.fixture(scope="module")
def few_photos(tmp_path_factory):
    return copy_sample(tmp_path_factory.mktemp("bench_photos"), per_label=5, labels=3)


def last_json(command: list[str]) -> dict:
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
    assert done.returncode in (0, 1), done.stderr[-3000:]  # quality exits 1 below its accuracy bar
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_speed_benchmark_prints_ratios(few_photos, weights):
    result = last_json(
        [sys.executable, "bench/benchmark.py", "--input", str(few_photos), "--weights", weights, "--sizes", "32"]
    )
    (row,) = result["rows"]
    assert row["photos"] == 15 and min(row["warm_ratio"], row["cold_ratio"], row["cached_ratio"]) > 0
    assert row["job_peak_rss_gb"] >= row["job_peak_jvm_gb"] > 0


def test_scale_benchmark_copies_the_photos(few_photos, weights):
    command = [sys.executable, "bench/scale.py", "--input", str(few_photos), "--weights", weights]
    result = last_json(command + ["--factors", "1", "2", "--image-size", "32"])
    assert [row["photos"] for row in result["rows"]] == [15, 30]


def test_quality_script_reports_validation_accuracy(few_photos, weights):
    command = [sys.executable, "bench/quality.py", "--input", str(few_photos), "--weights", weights]
    result = last_json(command + ["--image-size", "32"])
    assert (result["train_photos"], result["validation_photos"]) == (12, 3)
    assert 0 <= result["validation_accuracy"] <= 1


def test_peak_memory_counts_grandchildren():
    allocate = "import time; x = bytearray(300_000_000); time.sleep(1.5)"
    measured = run_measured(
        [sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, '-c', {allocate!r}])"]
    )
    assert measured.returncode == 0
    assert measured.peak_parts["workers"] >= 300_000_000 > measured.peak_parts["driver"]


def test_cost_counts_the_one_minute_minimum_and_derives_arm_prices():
    tiny = run_resources(photos=10, photos_per_vcpu_second=50, executors=1)
    assert tiny["vcpu_hours"] >= 2 * MINIMUM_S * WORKER_VCPU / 3600  # driver and executor, a minute each
    prices = default_prices()
    x86, arm = prices["eu-west-3 x86_64"], prices[f"eu-west-3 arm64 (derived: x86 x {ARM_DISCOUNT})"]
    assert arm["vcpu_hour"] == pytest.approx(x86["vcpu_hour"] * ARM_DISCOUNT)


def test_cluster_benchmark_compares_local_cluster_with_local_mode(few_photos, weights):
    command = [sys.executable, "bench/cluster.py", "--input", str(few_photos), "--weights", weights]
    result = last_json(command + ["--image-size", "32", "--runs", "1"])
    local, cluster = result["rows"]
    assert local["master"] == "local[2]" and cluster["master"].startswith("local-cluster[2,1,")
    assert local["photos"] == cluster["photos"] == 15 and result["cluster_vs_local"] > 0
    assert "driver" not in cluster["tasks_photos_per_executor"]
