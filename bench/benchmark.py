"""Speed: the job against the plain single-process Keras loop, at several image sizes.

For each size: the job in a fresh process runs twice on the same photos (the first run
is cold: Spark start-up, model conversion with an empty cache, worker start; the second
measures the feature stage warm), then `python -m pipeline run` once more in a new process
(cold again, but the converted model is cached, as on any later run with the same weights),
then the baseline (bench/baseline.py) runs in its own process with the job's k. Prints a
table and one JSON line. Usage:
python bench/benchmark.py [--input DIR] [--weights FILE] [--sizes 96 128 224]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.inputs import add_input_options, run_arguments  # noqa: E402
from bench.proctree import Measured, peak_columns, run_measured  # noqa: E402
from bench.table import report  # noqa: E402


def child(args: argparse.Namespace) -> None:
    """Two job runs in one process: cold, then warm; prints their timings as JSON."""
    start = time.perf_counter()
    # Cold converts the model into an empty cache (PIPELINE_MODEL_CACHE, set by the parent); warm
    # finds it there, so that the gap between the two feature stages stays short of PySpark's
    # one-minute idle timeout for Python workers.
    from pipeline.job.progress import Console
    from pipeline.job.run import RunConfig, run
    from pipeline.job.session import create_session

    spark = create_session()
    reports = []
    for run_id in ("cold", "warm"):
        config = RunConfig(args.input, args.output, weights=args.weights, image_size=args.image_size, run_id=run_id)
        began = time.perf_counter()
        reports.append(run(spark, config, Console()))
        reports[-1]["wall_s"] = time.perf_counter() - began
    cold, warm = reports
    print(
        json.dumps(
            {
                "photos": warm["sets"]["train"]["featurized"],
                "k": warm["pca"]["k"],
                "cold_in_process_s": round(time.perf_counter() - start - warm["wall_s"], 2),
                "cold_featurize_s": cold["timings_s"]["featurize train"],
                "warm_featurize_s": warm["timings_s"]["featurize train"],
                "warm_run_s": round(warm["wall_s"], 2),
                "cold_timings_s": cold["timings_s"],
            }
        )
    )


def last_json(measured: Measured, what: str) -> dict:
    """The JSON line a measured child printed last; its error output if it failed."""
    if measured.returncode:
        raise SystemExit(f"{what} failed:\n{measured.stderr[-3000:]}")
    return json.loads(measured.stdout.strip().splitlines()[-1])


def measure(size: int, args: argparse.Namespace, scratch: Path) -> dict:
    output = scratch / f"job-{size}"
    cache = dict(os.environ, PIPELINE_MODEL_CACHE=str(scratch / f"model-cache-{size}"))
    job = run_measured(
        [
            sys.executable,
            __file__,
            "--child",
            "--input",
            args.input,
            "--weights",
            args.weights,
            "--image-size",
            str(size),
            "--output",
            str(output),
        ],
        env=cache,
    )
    result = last_json(job, f"job at {size} px")
    cached = run_measured(  # a later run in a new process: the converted model is in the cache
        [sys.executable, "-m", "pipeline"] + run_arguments(args.input, str(output), args.weights, size, "cached"),
        env=dict(cache, PYTHONPATH=str(REPO)),
    )
    if cached.returncode:
        raise SystemExit(f"cached job at {size} px failed:\n{cached.stderr[-3000:]}")
    cold_s = job.seconds - result["warm_run_s"]  # the whole first run, interpreter start included
    baseline = run_measured(
        [
            sys.executable,
            str(REPO / "bench" / "baseline.py"),
            "--input",
            args.input,
            "--weights",
            args.weights,
            "--image-size",
            str(size),
            "--k",
            str(result["k"]),
            "--csv",
            str(scratch / f"baseline-{size}.csv"),
        ]
    )
    base = last_json(baseline, f"baseline at {size} px")
    photos = result["photos"]
    return {
        "image_size": size,
        "photos": photos,
        "k": result["k"],
        "baseline_features_per_s": round(photos / base["features_s"], 1),
        "job_warm_features_per_s": round(photos / result["warm_featurize_s"], 1),
        "warm_ratio": round(base["features_s"] / result["warm_featurize_s"], 2),
        "baseline_total_s": round(baseline.seconds, 1),
        "job_cold_total_s": round(cold_s, 1),
        "cold_ratio": round(baseline.seconds / cold_s, 2),
        "job_cached_total_s": round(cached.seconds, 1),
        "cached_ratio": round(baseline.seconds / cached.seconds, 2),
        **peak_columns(job, "job_"),
        "baseline_peak_rss_gb": round(baseline.peak_rss_bytes / 1e9, 2),
        "job_cold_stages_s": result["cold_timings_s"],
    }


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__)
    add_input_options(options)
    options.add_argument("--sizes", type=int, nargs="+", default=[96, 128, 224])
    options.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    options.add_argument("--image-size", type=int, help=argparse.SUPPRESS)
    options.add_argument("--output", help=argparse.SUPPRESS)
    args = options.parse_args()
    if args.child:
        return child(args)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-") as scratch:
        for size in args.sizes:
            rows.append(measure(size, args, Path(scratch)))
            print(f"measured {size} px", file=sys.stderr, flush=True)
    columns = [
        "image_size",
        "photos",
        "k",
        "baseline_features_per_s",
        "job_warm_features_per_s",
        "warm_ratio",
        "baseline_total_s",
        "job_cold_total_s",
        "cold_ratio",
        "job_cached_total_s",
        "cached_ratio",
        "job_peak_rss_gb",
        "job_peak_jvm_gb",
        "job_peak_workers_gb",
        "baseline_peak_rss_gb",
    ]
    report(rows, {"benchmark": "speed", "cores": os.cpu_count()}, columns)


if __name__ == "__main__":
    main()
