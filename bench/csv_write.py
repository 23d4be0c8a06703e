"""The CSV step at scale: one `pca_<set>.csv` from a PCA parquet of N rows and k components.

Before: what the job did until this change (Spark's CSV writer behind coalesce(1), i.e. one
task formats every row, then the part file is renamed into place). After: pipeline.job.csv_output
(every task writes an RFC 4180 part, the parts are joined without reading them back), to a
local folder and, with --s3, to moto's S3 server on 127.0.0.1 (multipart upload-copy: proves
the mechanism and counts the bytes through the driver; moto's speed is not S3's).
The parquet is generated like the job's (one file per task of at most 1,000 photos).
Each variant runs once untimed (JVM compiled, Python workers up: in the job they are by then),
then --repeats times, alternating; the table shows the median.
Usage: python bench/csv_write.py [--rows 100000] [--components 100] [--repeats 3] [--s3]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.cluster import cpu_model  # noqa: E402
from bench.table import report  # noqa: E402

LABELS = ["Apple Golden 1", "Banana", "Kiwi", 'Pêche, "plate"', "りんご", "Lemon", "Mango", "Pear", "Plum", "苹果"]


def make_parquet(spark, target: str, rows: int, k: int) -> None:
    from pyspark.sql import functions as F

    from pipeline.job.cluster import default_partitions

    partitions = default_partitions(rows, spark.sparkContext.defaultParallelism)
    label = F.element_at(F.array(*map(F.lit, LABELS)), (F.col("id") % len(LABELS) + 1).cast("int"))
    frame = spark.range(0, rows, numPartitions=partitions).select(
        F.concat(F.lit("s3://fruit-input/train/"), label, F.lit("/r_"), F.col("id"), F.lit("_100.jpg")).alias("path"),
        label.alias("label"),
        F.array(*[(F.randn(seed=i) * 10).cast("float") for i in range(k)]).alias("pca"),
    )
    frame.write.parquet(target)


def before(spark, parquet: str, k: int, target: Path) -> dict:
    """The job's CSV step until this change (job._write_projection + storage.move_single_part)."""
    from pyspark.sql import functions as F

    staging = target.parent / f"_{target.stem}_csv"
    frame = spark.read.parquet(parquet)
    columns = [F.col("pca")[i].alias(f"pc_{i + 1}") for i in range(k)]
    frame.select("path", "label", *columns).coalesce(1).write.option("header", True).csv(f"file://{staging}")
    (part,) = staging.glob("part-*")
    os.rename(part, target)
    shutil.rmtree(staging)
    return {"parts": 1, "driver_bytes": 0, "bytes": target.stat().st_size}


def after(spark, parquet: str, k: int, target: str) -> dict:
    from pipeline.job.csv_output import write_csv

    return write_csv(spark.read.parquet(parquet), k, target)


def start_s3(spark) -> tuple[object, str]:
    """moto's server on a free port; the driver and the workers pointed at it, a bucket made."""
    from moto.server import ThreadedMotoServer

    from pipeline.storage import s3

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    names = {
        "AWS_ENDPOINT_URL_S3": f"http://{host}:{port}",
        "AWS_ACCESS_KEY_ID": "bench",
        "AWS_SECRET_ACCESS_KEY": "bench",
        "AWS_DEFAULT_REGION": "eu-west-3",
        "NO_PROXY": "127.0.0.1",
    }
    os.environ.update(names)
    spark.sparkContext.environment.update(names)
    s3.client().create_bucket(Bucket="bench", CreateBucketConfiguration={"LocationConstraint": "eu-west-3"})
    return server, "s3://bench"


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--rows", type=int, default=100_000)
    options.add_argument("--components", type=int, default=100)
    options.add_argument("--repeats", type=int, default=3)
    options.add_argument("--s3", action="store_true", help="also write to moto's S3 server (multipart upload-copy)")
    args = options.parse_args()
    os.environ.setdefault("PIPELINE_SPARK_MASTER", "local[*]")
    from pipeline.job.session import create_session
    from pipeline.storage import s3

    spark = create_session("bench-csv")
    k = args.components
    timings: dict[str, list[float]] = {}
    written: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="bench-csv-") as scratch:
        parquet = f"file://{scratch}/pca_train.parquet"
        make_parquet(spark, parquet, args.rows, k)
        server, bucket = start_s3(spark) if args.s3 else (None, "")
        variants = {
            "before: Spark CSV writer, one task, then rename": lambda n: before(
                spark, parquet, k, Path(scratch) / f"before{n}.csv"
            ),
            "after: csv_output, local disk": lambda n: after(spark, parquet, k, f"file://{scratch}/after{n}.csv"),
        }
        if server is not None:
            variants["after: csv_output, S3 (moto on 127.0.0.1)"] = lambda n: after(
                spark, parquet, k, f"{bucket}/run/after{n}.csv"
            )
        for repeat in range(args.repeats + 1):  # the first round warms up
            for name, variant in variants.items():
                start = time.perf_counter()
                written[name] = variant(repeat)
                if repeat:
                    timings.setdefault(name, []).append(time.perf_counter() - start)
            for old in Path(scratch).glob("*.csv"):
                old.unlink()
            if server is not None:  # moto keeps objects in memory
                s3.client().delete_object(Bucket="bench", Key=f"run/after{repeat}.csv")
            print(f"round {repeat} of {args.repeats} done (0: warm-up)", file=sys.stderr, flush=True)
        if server is not None:
            server.stop()
    spark.stop()
    baseline = statistics.median(next(iter(timings.values())))
    rows = []
    for name, seconds in timings.items():
        median = statistics.median(seconds)
        size = written[name]["bytes"]
        rows.append(
            {
                "variant": name,
                "seconds": round(median, 2),
                "all_runs_s": " / ".join(f"{s:.2f}" for s in seconds),
                "csv_mb": round(size / 1e6, 1),
                "mb_per_s": round(size / 1e6 / median, 1),
                "parts": written[name]["parts"],
                "driver_mb": round(written[name]["driver_bytes"] / 1e6, 1),
                "speedup": round(baseline / median, 2),
            }
        )
    print(f"CPU: {cpu_model()}; Spark cores: local[*] = {os.cpu_count()}")
    report(rows, {"benchmark": "csv_write", "csv_rows": args.rows, "components": k, "cpu": cpu_model()})


if __name__ == "__main__":
    main()
