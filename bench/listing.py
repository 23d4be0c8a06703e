"""Listing: the time from an input folder to the photos Spark will read, before and after, on generated files.

`--files` files (default 100,000) of one byte are generated under `--labels` label folders (a
`.DS_Store` in each, as Finder leaves them), then listed by each side in its own process, in one
Spark session (local[2]): one warm-up, then `--repeats` measured runs, median reported.
Before: the job's code at `--before` (binaryFile's listing, turned into a Python list by
`inputFiles()`, one Py4J round trip per path); after: this tree (a scandir walk on the driver, then
the (path, size, label) DataFrame in the planned slices). Prints the CPU, a table and one JSON line.
Usage: python bench/listing.py [--files 100000] [--labels 100] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.cluster import cpu_model, last_json  # noqa: E402
from bench.read_latency import BEFORE, before_tree  # noqa: E402
from bench.table import report  # noqa: E402

PARTITIONS = 12
"""Tasks the frame is cut into (the stack's 3 executors x 4 cores)."""


def generate(folder: Path, files: int, labels: int) -> int:
    """`files` one-byte photos spread over `labels` folders, plus a .DS_Store in each; the files made."""
    for label in range(labels):
        (folder / f"label {label:03}").mkdir(parents=True)
        (folder / f"label {label:03}" / ".DS_Store").write_bytes(b"\0")
    for index in range(files):
        (folder / f"label {index % labels:03}" / f"IMG_{index:07}.jpg").write_bytes(b"x")
    return files + labels


def child(args: argparse.Namespace) -> None:
    """List `args.input` `1 + repeats` times with the code at `args.code`; the timings as JSON."""
    sys.path.insert(0, args.code)
    if args.side == "before":  # the code at --before: the package was flat then
        from pipeline.read import open_photo_set
        from pipeline.spark import create_session
    else:
        from pipeline.job.photo_rows import open_photo_set
        from pipeline.job.session import create_session

    spark = create_session()
    runs = []
    for _ in range(1 + args.repeats):
        began = time.perf_counter()
        if args.side == "before":
            photos = open_photo_set(spark, "train", args.input)
            listed, found = time.perf_counter(), len(photos.photo_paths)
            frame = photos.frame
        else:
            photos = open_photo_set("train", args.input)
            listed, found = time.perf_counter(), len(photos.listing.paths)
            frame = photos.frame(spark, PARTITIONS)
        runs.append(
            {
                "photos": found,
                "list_s": round(listed - began, 3),
                "total_s": round(time.perf_counter() - began, 3),
                "partitions": frame.rdd.getNumPartitions() if args.side == "after" else None,
            }
        )
    print(json.dumps({"runs": runs}))


def side(args: argparse.Namespace, name: str, code: Path, scratch: Path) -> dict:
    command = [sys.executable, __file__, "--child", "--side", name, "--code", str(code), "--input", args.input]
    command += ["--repeats", str(args.repeats)]
    env = dict(os.environ, PIPELINE_SPARK_MASTER="local[2]", PYTHONPATH=str(code))
    result = last_json(subprocess.run(command, env=env, cwd=scratch, capture_output=True, text=True), name)
    measured = result["runs"][1:]
    return {
        "code": name,
        "photos": measured[0]["photos"],
        "list_s": statistics.median(r["list_s"] for r in measured),
        "total_s": statistics.median(r["total_s"] for r in measured),
        "total_s_runs": [r["total_s"] for r in measured],
        "warmup_s": result["runs"][0]["total_s"],
    }


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    options.add_argument("--files", type=int, default=100_000)
    options.add_argument("--labels", type=int, default=100)
    options.add_argument("--repeats", type=int, default=3)
    options.add_argument("--before", default=BEFORE, help="git ref of the code to compare with (default %(default)s)")
    for hidden in ("--side", "--code", "--input"):
        options.add_argument(hidden, help=argparse.SUPPRESS)
    options.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = options.parse_args()
    if args.child:
        return child(args)
    print(f"CPU: {cpu_model()}", file=sys.stderr)
    scratch = Path(tempfile.mkdtemp(prefix="bench-listing-"))
    try:
        began = time.perf_counter()
        files = generate(scratch / "photos", args.files, args.labels)
        print(f"{files} files generated in {time.perf_counter() - began:.0f} s", file=sys.stderr)
        args.input = str(scratch / "photos")
        rows = [
            side(args, "before", before_tree(args.before, scratch), scratch),
            side(args, "after", REPO, scratch),
        ]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    summary = {
        "benchmark": "listing",
        "files": files,
        "before": args.before,
        "speed_up": round(rows[0]["total_s"] / rows[1]["total_s"], 1),
        "cpu": cpu_model(),
    }
    report(rows, summary)


if __name__ == "__main__":
    main()
