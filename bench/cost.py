"""Cost of one EMR Serverless run: compute (vCPU- and GB-hours) and S3 requests.

Usage: python bench/cost.py --photos-per-vcpu-second 69 [--prices prices.json] [--s3-get-wait-ms 40 ...]
       [--read-path after|before ...]

EMR Serverless bills vCPU-hours, GB-hours (and disk beyond 20 GB a worker) per second with a
one-minute minimum per worker, from worker start to worker release. The resources of one run
follow from:
- the photos per second one vCPU achieves (measured by bench/benchmark.py: the warm feature
  stage divided by this machine's cores);
- the workers: the CDK app's defaults (infra/config.py AppConfig: driver and executor sizes,
  at most `max_executors` executors);
- each worker's start-up, billed but featurizing nothing: downloading the Python environment
  archive at one S3 stream's throughput, unpacking it (both measured by
  bench/environment_size.py), and starting Spark and the Python workers (assumed);
- the job's fixed stages (listing, PCA, CSV, report) on the driver, from the local runs.
- the wait of each photo's GET (`--s3-get-wait-ms`, its time to first byte, 40 ms by default) times
  the share of it that reaches the cores, measured by bench/read_latency.py for each read path
  (`EXPOSED_WAIT`): before, binaryFile read a task's photos one after another and every wait
  stalled a core; after, the workers read ahead in threads and hide nearly all of it.
S3 requests are billed per request: one GET per photo, LISTs of 1,000 keys, and PUTs (each
file the job writes, as multipart uploads) besides the reads of its own outputs; see
`s3_requests`.
An incremental run (`--new-share`, `run --reuse`) reads and embeds only its new photos; the
others' features are read from the earlier run's Parquet files, joined and written again with the
new ones (`FEATURE_BYTES_PER_PHOTO`, at `REUSE_MB_PER_CORE_S`), and its executors are sized for
the new photos. Its listing, PCA and outputs cost what a full run's do.

The prices turn that into money (`--prices FILE` replaces them: JSON {"name": {"vcpu_hour": x,
"gb_hour": y, "put_per_1000": z, "get_per_1000": w}, ...}). AWS's pricing pages fill their tables
by script and could not be read from this offline machine; the defaults' sources are named beside
each figure: EMR Serverless's in pipeline/contract/prices.py (which the cloud client and the dashboard use
too), S3's below. Check https://aws.amazon.com/emr/pricing/ and https://aws.amazon.com/s3/pricing/
before quoting a figure.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.table import report  # noqa: E402
from infra.config import AppConfig  # noqa: E402
from pipeline.contract.prices import ARM_DISCOUNT, X86_PRICES, cost_usd, rates  # noqa: E402
from pipeline.job.cluster import default_partitions  # noqa: E402

DEFAULTS = AppConfig()
DRIVER_VCPU = DEFAULTS.driver_cores
DRIVER_GB = DEFAULTS.driver_memory_gb + DEFAULTS.driver_memory_overhead_gb
EXECUTOR_VCPU = DEFAULTS.executor_cores
EXECUTOR_GB = DEFAULTS.executor_memory_gb + DEFAULTS.executor_memory_overhead_gb
MAX_EXECUTORS = DEFAULTS.max_executors

ENVIRONMENT_ARCHIVE_MB = 187.8
"""Compressed Python environment archive, measured by bench/environment_size.py (docs/performance.md)."""
ENVIRONMENT_UNPACK_S = 5.1
"""Its unpacking (tar -xzf) on one core of the development machine, same script."""
S3_STREAM_MB_PER_S = 85.0
"""One GET stream's throughput: AWS's "Performance guidelines for Amazon S3" size one connection
at 85-90 MB/s; Spark fetches `spark.archives` with one stream per worker."""
SPARK_START_S = 30.0
"""Assumed: the worker's JVM, its registration with the driver, Python workers importing the job
(LiteRT itself imports in 0.2 s, measured). To be measured on EMR."""
STARTUP_S = ENVIRONMENT_ARCHIVE_MB / S3_STREAM_MB_PER_S + ENVIRONMENT_UNPACK_S + SPARK_START_S
FIXED_S = 60.0  # assumed: driver-only stages (listing, PCA, CSV, report) on large runs
MINIMUM_S = 60.0

GET_WAIT_MS = 40.0
"""Assumed time to first byte of a photo's GET: small objects take tens of milliseconds on S3."""
EXPOSED_WAIT = {"before": 0.90, "after": 0.02}
"""Share of each GET's wait that lengthened the feature stage: (stage at 40 ms - stage at 0 ms) x cores /
(photos x 40 ms), measured by bench/read_latency.py on 2026-11-26 (5,107 photos, 224 px, 2 cores), the
larger of local[2] and local-cluster[2,1,3072]. Before (binaryFile, one read after another): 0.90 and 0.87.
After (read ahead in threads, S3 stand-in): 0.02 and below zero (the 40 ms run was the faster)."""
GETS_PER_PHOTO = 1
"""Each photo is read with one GET (its size comes from the listing)."""
KEYS_PER_LIST = 1000
"""ListObjectsV2 returns at most 1,000 keys a request."""
PUTS_PER_FILE = 3
"""Each file written through EMRFS's S3-optimized committer is a multipart upload: create, one
part, complete (PUT-class requests; the committer's HEADs and LISTs are counted in OTHER_REQUESTS)."""
OUTPUT_READS = 6
"""Passes over the run's own Parquet files (features: label counts, PCA moments, projection,
skipped-file check; PCA output: CSV, classifier sample), each a footer and a data GET per file."""
FIXED_FILES = 20
"""Files written whatever the photo count: pca_model/ (about 10), feature_model/ (2), classifier,
report.json and .html, CSV, _SUCCESS markers."""
FEATURE_BYTES_PER_PHOTO = 5_300
"""A photo's row in features_<set>.parquet: 1,280 float32 (5,120 bytes, which do not compress) and its
path, size, version and label."""
READ_CHUNK_MB = 8
"""Bytes per GET when Spark reads a Parquet file's column chunks (ranged GETs)."""
REUSE_MB_PER_CORE_S = 7.9
"""Earlier features read, joined (shuffled by path) and written again per core-second: 467 MB (90,000 rows)
in 29.5 s on 2 cores, bench/incremental.py's join at 100,000 rows on 2026-12-06 (docs/performance.md)."""
OTHER_REQUESTS = 200
"""Per run, PUT-priced: the committers' and the driver's HEAD/LIST calls on the run folder,
artifacts fetched by each worker; a generous round figure (a few cents per 10,000 runs)."""

S3_REQUEST_PRICES = {
    # eu-west-3: AWS's own bill lines EUW3-Requests-Tier1 "$0.0053 per 1,000 PUT, COPY, POST, or LIST
    # requests" and EUW3-Requests-Tier2 "$0.0042 per 10,000 GET and all other requests" (quoted in a
    # July 2019 blog post, "Serverless Blog - Retour sur les coûts", delsoir.com), the same figures
    # in a public S3 price table dated 2026-02.
    "eu-west-3": {"put_per_1000": 0.0053, "get_per_1000": 0.00042},
    # eu-west-1: S3 Standard's base rates ($0.005 / $0.0004 per 1,000), those of Ireland in the
    # same 2026-02 table.
    "eu-west-1": {"put_per_1000": 0.005, "get_per_1000": 0.0004},
}


def default_prices() -> dict[str, dict[str, float]]:
    prices = {}
    for region in X86_PRICES:
        requests = S3_REQUEST_PRICES[region]
        prices[f"{region} x86_64"] = {**rates(region, "X86_64"), **requests}
        prices[f"{region} arm64 (derived: x86 x {ARM_DISCOUNT})"] = {**rates(region, "ARM64"), **requests}
    return prices


def run_resources(
    photos: int,
    photos_per_vcpu_second: float,
    executors: int = MAX_EXECUTORS,
    s3_get_wait_s: float = GET_WAIT_MS / 1000,
    read_path: str = "after",
    reused: int = 0,
) -> dict[str, float]:
    """vCPU-hours and GB-hours of one run: driver for the whole run, executors for the featurize stage.

    `s3_get_wait_s`: each photo's GET's time to first byte, of which the share `EXPOSED_WAIT[read_path]`
    keeps a core waiting beyond what the photos/s measured on local files include. `reused`: photos
    of the `photos` whose features an earlier run lends (not read, not embedded: their features rewritten).
    """
    cores = EXECUTOR_VCPU * executors
    embedded = photos - reused
    waited = EXPOSED_WAIT[read_path] * embedded * s3_get_wait_s / cores
    rewrite_s = reused * FEATURE_BYTES_PER_PHOTO / 1e6 / (REUSE_MB_PER_CORE_S * cores)
    featurize_s = embedded / (photos_per_vcpu_second * cores) + waited + rewrite_s
    executor_s = max(MINIMUM_S, STARTUP_S + featurize_s)
    driver_s = max(MINIMUM_S, STARTUP_S + featurize_s + FIXED_S)
    return {
        "wall_minutes": round(driver_s / 60, 1),
        "vcpu_hours": round((driver_s * DRIVER_VCPU + executors * executor_s * EXECUTOR_VCPU) / 3600, 3),
        "gb_hours": round((driver_s * DRIVER_GB + executors * executor_s * EXECUTOR_GB) / 3600, 3),
    }


def s3_requests(photos: int, executors: int = MAX_EXECUTORS, reused: int = 0) -> dict[str, int]:
    """S3 requests of one run over one input set, by price class (GET-priced, PUT/LIST-priced);
    `reused` photos are not read, their earlier features are (ranged GETs of `READ_CHUNK_MB`)."""
    partitions = default_partitions(photos, EXECUTOR_VCPU * executors)
    parquet_files = 2 * partitions  # features_train.parquet and pca_train.parquet, one file a task
    earlier_gets = math.ceil(reused * FEATURE_BYTES_PER_PHOTO / (READ_CHUNK_MB * 1e6)) + partitions if reused else 0
    gets = (photos - reused) * GETS_PER_PHOTO + earlier_gets + OUTPUT_READS * 2 * partitions
    lists = math.ceil(photos / KEYS_PER_LIST)
    puts = PUTS_PER_FILE * (parquet_files + FIXED_FILES) + OTHER_REQUESTS
    return {"get": gets, "put_list": lists + puts}


def executors_for(photos: int, photos_per_vcpu_second: float) -> int:
    """Enough executors that featurizing takes about as long as starting one; at most the cap."""
    return max(1, min(MAX_EXECUTORS, math.ceil(photos / (photos_per_vcpu_second * EXECUTOR_VCPU * STARTUP_S))))


def run_cost(usage: dict[str, float], requests: dict[str, int], price: dict[str, float]) -> dict[str, float]:
    compute = cost_usd(usage["vcpu_hours"], usage["gb_hours"], price)
    s3 = requests["get"] / 1000 * price["get_per_1000"] + requests["put_list"] / 1000 * price["put_per_1000"]
    return {"compute_usd": round(compute, 3), "s3_requests_usd": round(s3, 3), "usd": round(compute + s3, 2)}


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    options.add_argument("--photos-per-vcpu-second", type=float, required=True)
    options.add_argument("--prices", help="JSON file of regional prices (see above)")
    options.add_argument(
        "--s3-get-wait-ms", type=float, nargs="+", default=[GET_WAIT_MS], help="each GET's time to first byte"
    )
    options.add_argument("--read-path", nargs="+", default=["after"], choices=sorted(EXPOSED_WAIT))
    options.add_argument("--photos", type=int, nargs="+", default=[90_000, 1_000_000])
    options.add_argument("--price-names", nargs="+", help="only these of the prices (default: all)")
    options.add_argument(
        "--new-share",
        type=float,
        nargs="+",
        default=[1.0, 0.01],
        help="share of the photos new since the run reused (1: a full run)",
    )
    args = options.parse_args()
    prices = json.loads(Path(args.prices).read_text()) if args.prices else default_prices()
    if args.price_names:
        unknown = sorted(set(args.price_names) - set(prices))
        if unknown:
            options.error(f"unknown --price-names {', '.join(unknown)}; known: {', '.join(prices)}")
        prices = {name: prices[name] for name in args.price_names}
    rows = []
    for photos, share in ((photos, share) for photos in args.photos for share in args.new_share):
        reused = photos - math.ceil(photos * share)
        executors = executors_for(photos - reused, args.photos_per_vcpu_second)
        requests = s3_requests(photos, executors, reused)
        for read_path in args.read_path:
            for wait_ms in args.s3_get_wait_ms:
                usage = run_resources(photos, args.photos_per_vcpu_second, executors, wait_ms / 1000, read_path, reused)
                for name, price in prices.items():
                    rows.append(
                        {"photos": photos, "new_share": share, "read_path": read_path, "s3_get_wait_ms": wait_ms}
                        | {"executors": executors}
                        | usage
                        | requests
                        | {"prices": name}
                        | run_cost(usage, requests, price)
                    )
    report(
        rows,
        {
            "benchmark": "cost",
            "photos_per_vcpu_second": args.photos_per_vcpu_second,
            "startup_s": round(STARTUP_S, 1),
            "exposed_wait": EXPOSED_WAIT,
        },
    )


if __name__ == "__main__":
    main()
