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
{"name": {"vcpu_hour": x, "gb_hour": y}, ...}). AWS's pricing page fills its tables in
by script and could not be read from this offline machine; the defaults come from
PerfKitBenchmarker's EMR Serverless price list, generated from AWS's price list (x86,
commit 804d012 of 2023-02-03, unchanged in its 2026 snapshot). No source found gives
the ARM rates for eu-west-3; every published ARM/x86 pair we found (us-east-1, and
aws-samples' calculator for eu-west-1) is exactly 0.80, so ARM = 0.80 x x86 here,
labelled as derived. Check https://aws.amazon.com/emr/pricing/ before quoting a figure.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.table import report  # noqa: E402

WORKER_VCPU = 4
WORKER_GB = 16
MAX_EXECUTORS = 6
STARTUP_S = 90.0  # assumed: a worker fetching the Python environment and starting Spark + TensorFlow
FIXED_S = 60.0  # assumed: driver-only stages (listing, model conversion, PCA, CSV, report) on large runs
MINIMUM_S = 60.0

ARM_DISCOUNT = 0.80
"""ARM price / x86 price in every published pair found (us-east-1 0.042094/0.052624)."""

X86_PRICES = {  # PerfKitBenchmarker aws_dpb_emr_serverless_prices.py (from AWS's price list, 2023)
    "eu-west-3": {"vcpu_hour": 0.06318, "gb_hour": 0.00689},
    "eu-west-1": {"vcpu_hour": 0.052624, "gb_hour": 0.0057785},
}


def default_prices() -> dict[str, dict[str, float]]:
    prices = {}
    for region, x86 in X86_PRICES.items():
        prices[f"{region} x86_64"] = x86
        prices[f"{region} arm64 (derived: x86 x {ARM_DISCOUNT})"] = {
            unit: round(rate * ARM_DISCOUNT, 7) for unit, rate in x86.items()
        }
    return prices


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
            cost = usage["vcpu_hours"] * price["vcpu_hour"] + usage["gb_hours"] * price["gb_hour"]
            rows.append({"photos": photos, "executors": executors, **usage, "prices": name, "usd": round(cost, 2)})
    report(rows, {"benchmark": "cost", "photos_per_vcpu_second": args.photos_per_vcpu_second})


if __name__ == "__main__":
    main()
