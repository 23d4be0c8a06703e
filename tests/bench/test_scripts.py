"""The benchmark scripts still run end to end (on a few photos, tiny images) and print their JSON line.

No timing is asserted: the figures only mean something on the full data (see docs/performance.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.cost import (
    ARM_DISCOUNT,
    DRIVER_VCPU,
    EXECUTOR_VCPU,
    MINIMUM_S,
    default_prices,
    run_cost,
    run_resources,
    s3_requests,
)
from bench.proctree import run_measured
from tests.conftest import REPO, SAMPLE, copy_sample


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


def test_quality_script_reports_held_out_accuracy_and_keeps_the_run(few_photos, weights, tmp_path):
    command = [sys.executable, "bench/quality.py", "--input", str(few_photos), "--weights", weights]
    result = last_json(command + ["--image-size", "32", "--splits", "block", "--gap", "0", "--output", str(tmp_path)])
    (row,) = result["rows"]
    assert (row["split"], row["train_photos"], row["validation_photos"]) == ("block", 12, 3)
    assert 0 <= row["validation_accuracy"] <= 1
    assert Path(row["report"]).is_file()  # the run is kept: its report link works after the script ends


def test_incremental_benchmark_joins_without_the_driver_holding_the_features():
    """The join alone (the runs' part starts six jobs: measured in docs/performance.md, not here)."""
    result = last_json([sys.executable, "bench/incremental.py", "--skip-runs", "--join-rows", "300"])
    (row,) = result["rows"]
    assert (row["rows"], row["to_embed"], row["reused"]) == (300, 30, 270)


@pytest.mark.parametrize("option", ["--input", "--test", "default"])
def test_quality_script_names_a_missing_photo_folder_in_one_line(option, tmp_path, capsys, monkeypatch):
    """A fresh clone has no ../shared: `make quality` says so and what to pass, without a traceback."""
    import bench.inputs
    from bench import quality

    monkeypatch.setattr(quality, "measure", lambda *_: pytest.fail("measured without its photos"))
    missing = tmp_path / "fruits360-10"
    if option == "default":
        monkeypatch.setattr(bench.inputs, "PHOTOS", missing)
        monkeypatch.setattr(quality, "PHOTOS", missing)
        arguments = ["--weights", "imagenet"]
    else:
        arguments = ["--input", str(SAMPLE), option, str(missing)]
    assert quality.main(arguments) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith(f"error: no photo folder at {missing}")
    assert ("--input DIR" if option == "default" else f"{option} DIR") in line
    assert ("../shared" in line) == (option == "default")


def test_block_split_keeps_neighbouring_frames_apart():
    from bench.quality import block_split, interleaved_split, videos

    names = [f"{i}_100.jpg" for i in range(50)] + [f"r_{i}_100.jpg" for i in range(20)]
    grouped = videos([Path("Kiwi") / n for n in names])
    assert sorted(len(frames) for frames in grouped.values()) == [20, 50]
    frames = grouped[next(k for k, v in grouped.items() if len(v) == 50)]
    train, held = block_split(frames, gap=3)
    number = {p: int(p.name.split("_")[0]) for p in frames}
    assert [number[p] for p in held] == list(range(40, 50)) and len(train) == 34
    # no held-out frame within the gap of a training frame, counting the turn's wrap-around
    assert min(min(abs(number[a] - number[b]), 50 - abs(number[a] - number[b])) for a in train for b in held) > 3
    interleaved_train, interleaved_held = interleaved_split(frames, gap=3)
    assert len(interleaved_held) == 10 and len(interleaved_train) == 40


def test_csv_benchmark_compares_the_writers_on_the_same_rows():
    command = [sys.executable, "bench/csv_write.py", "--rows", "2000", "--components", "8", "--repeats", "1", "--s3"]
    result = last_json(command)
    before, local, on_s3 = result["rows"]
    assert result["csv_rows"] == 2000 and before["variant"].startswith("before")
    assert local["csv_mb"] == on_s3["csv_mb"] > 0 and local["parts"] == on_s3["parts"] == 1
    assert min(row["seconds"] for row in result["rows"]) > 0


def test_peak_memory_counts_grandchildren():
    allocate = "import time; x = bytearray(300_000_000); time.sleep(1.5)"
    measured = run_measured(
        [sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, '-c', {allocate!r}])"]
    )
    assert measured.returncode == 0
    assert measured.peak_parts["workers"] >= 300_000_000 > measured.peak_parts["driver"]


def test_cost_counts_the_one_minute_minimum_and_derives_arm_prices():
    tiny = run_resources(photos=10, photos_per_vcpu_second=50, executors=1)
    assert tiny["vcpu_hours"] >= MINIMUM_S * (DRIVER_VCPU + EXECUTOR_VCPU) / 3600  # driver and executor, a minute each
    prices = default_prices()
    x86, arm = prices["eu-west-3 x86_64"], prices[f"eu-west-3 arm64 (derived: x86 x {ARM_DISCOUNT})"]
    assert arm["vcpu_hour"] == pytest.approx(x86["vcpu_hour"] * ARM_DISCOUNT)


def test_cost_counts_s3_requests_one_get_per_photo_and_a_list_per_thousand_keys():
    requests = s3_requests(90_000, executors=3)
    assert 90_000 < requests["get"] < 95_000  # the photos, plus the job reading back its own Parquet files
    assert requests["put_list"] >= 90  # 90 LISTs of 1,000 keys, and the PUTs of every file written
    paris = default_prices()["eu-west-3 x86_64"]
    cost = run_cost(run_resources(90_000, 69.0, 3), requests, paris)
    assert cost["s3_requests_usd"] == pytest.approx(
        requests["get"] * 0.00042 / 1000 + requests["put_list"] * 0.0053 / 1000, abs=1e-3
    )
    assert cost["usd"] == pytest.approx(cost["compute_usd"] + cost["s3_requests_usd"], abs=0.006)


def test_an_incremental_run_reads_only_its_new_photos_and_pays_for_rewriting_the_earlier_features():
    full, incremental = s3_requests(1_000_000, executors=1), s3_requests(1_000_000, executors=1, reused=990_000)
    assert incremental["put_list"] == full["put_list"]  # the same listing and outputs
    assert 10_000 < incremental["get"] < full["get"] - 980_000  # the new photos, and the features in chunks
    embed_only = run_resources(10_000, 88.3, 1)
    with_rewrite = run_resources(1_000_000, 88.3, 1, reused=990_000)
    assert with_rewrite["vcpu_hours"] > embed_only["vcpu_hours"]  # 5 GB of features read and written again


def test_a_slow_get_lengthens_the_run_it_is_billed_for_the_old_read_path_most():
    no_wait = run_resources(90_000, 69.0, 3, s3_get_wait_s=0.0)
    read_ahead = run_resources(90_000, 69.0, 3, s3_get_wait_s=0.04)
    one_by_one = run_resources(90_000, 69.0, 3, s3_get_wait_s=0.04, read_path="before")
    assert no_wait["vcpu_hours"] < read_ahead["vcpu_hours"] < one_by_one["vcpu_hours"]


def test_a_run_that_hangs_is_killed_with_its_children_after_the_timeout():
    hang = "import time; time.sleep(600)"
    parent = f"import subprocess, sys; child = subprocess.Popen([sys.executable, '-c', {hang!r}]); print(child.pid)"
    measured = run_measured([sys.executable, "-c", f"{parent}; sys.stdout.flush(); exec({hang!r})"], timeout_s=2)
    assert measured.timed_out and measured.returncode == -9
    status = Path(f"/proc/{int(measured.stdout.split()[0])}/stat")  # the grandchild: gone, or a zombie
    assert not status.exists() or status.read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_cluster_benchmark_compares_local_cluster_with_local_mode(few_photos, weights):
    command = [sys.executable, "bench/cluster.py", "--input", str(few_photos), "--weights", weights]
    result = last_json(command + ["--image-size", "32", "--runs", "1"])
    local, cluster = result["rows"]
    assert local["master"] == "local[2]" and cluster["master"].startswith("local-cluster[2,1,")
    assert local["photos"] == cluster["photos"] == 15 and result["cluster_vs_local"] > 0
    assert "driver" not in cluster["tasks_photos_per_executor"]
