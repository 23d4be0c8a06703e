"""Compute cost of one EMR Serverless run, from the measured throughput.

Usage: python bench/cost.py --photos-per-vcpu-second 60 [--prices prices.json]

EMR Serverless bills vCPU-hours, GB-hours (and disk beyond 20 GB a worker) per second
with a one-minute minimum per worker, from worker start to worker release. The
region-independent part, the resources one run uses, follows from:
- the photos per second one vCPU achieves (measured here by bench/benchmark.py: the
  warm feature stage divided by this machine's cores);
- the workers: the CDK app's defaults (executors of 4 vCPU and 16 GB, the driver
  alike, at most 6 executors) and a start-up per worker (image or archive download,
  Spark and TensorFlow start) that is billed but featurizes nothing;
- the job's fixed stages (PCA, CSV, report) on the driver, from the local runs.
The prices turn that into money (`--prices FILE` replaces them: JSON
{"name": {"vcpu_hour": x, "gb_hour": y}, ...}); the defaults and their sources are in
pipeline/prices.py, which the cloud client and the dashboard use too.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.table import report  # noqa: E402
from pipeline.prices import ARM_DISCOUNT, cost_usd, default_prices  # noqa: E402, F401 (ARM_DISCOUNT: for the tests)

WORKER_VCPU = 4
WORKER_GB = 16
MAX_EXECUTORS = 6
STARTUP_S = 90.0  # assumed: a worker fetching the Python environment and starting Spark + TensorFlow
FIXED_S = 60.0  # assumed: driver-only stages (listing, model conversion, PCA, CSV, report) on large runs
MINIMUM_S = 60.0


def run_resources(photos: int, photos_per_vcpu_second: float, executors: int = MAX_EXECUTORS) -> dict[str, float]:
    """vCPU-hours and GB-hours of one run: driver for the whole run, executors for the featurize stage."""
    featurize_s = photos / (photos_per_vcpu_second * WORKER_VCPU * executors)
    executor_s = max(MINIMUM_S, STARTUP_S + featurize_s)
    driver_s = max(MINIMUM_S, STARTUP_S + featurize_s + FIXED_S)
    worker_seconds = driver_s + executors * executor_s
    return {
        "wall_minutes": round(driver_s / 60, 1),
        "vcpu_hours": round(worker_seconds * WORKER_VCPU / 3600, 3),
        "gb_hours": round(worker_seconds * WORKER_GB / 3600, 3),
    }


def executors_for(photos: int, photos_per_vcpu_second: float) -> int:
    """Enough executors that featurizing takes about as long as starting one; at most the cap."""
    return max(1, min(MAX_EXECUTORS, math.ceil(photos / (photos_per_vcpu_second * WORKER_VCPU * STARTUP_S))))


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--photos-per-vcpu-second", type=float, required=True)
    options.add_argument("--prices", help="JSON file of regional prices (see the docstring)")
    args = options.parse_args()
    prices = json.loads(open(args.prices).read()) if args.prices else default_prices()
    rows = []
    for photos in (90_000, 1_000_000):
        executors = executors_for(photos, args.photos_per_vcpu_second)
        usage = run_resources(photos, args.photos_per_vcpu_second, executors)
        for name, price in prices.items():
            cost = cost_usd(usage["vcpu_hours"], usage["gb_hours"], price)
            rows.append({"photos": photos, "executors": executors, **usage, "prices": name, "usd": round(cost, 2)})
    report(rows, {"benchmark": "cost", "photos_per_vcpu_second": args.photos_per_vcpu_second})


if __name__ == "__main__":
    main()
