"""Incremental runs: `run --reuse` on a collection that grew by a share of new photos, against a full run.

Two measurements, each printed as a table and one JSON line:
- runs: the shared photos, of which every 10th (by default) is "new": an earlier run embeds the
  others, then the new ones are added and the same collection is run `--repeats` times in full and
  as many times `--reuse`-ing the earlier run, alternately, each `python -m pipeline run` in a fresh
  process (wall time and the peak RSS of its process tree, bench/proctree.py). The feature stage is
  the report's `featurize train` plus, for a reusing run, its `match train with ...`; medians of
  the repeats. Photos are links to the shared ones (the listing follows links: same sizes and times).
- join: the matching alone at `--join-rows` rows (synthetic 1,280-float features, a listing of the
  same paths of which `--new-share` are new), in a fresh local Spark process: the time of the
  left-anti join (whose paths come back to the driver) and of the inner join written to Parquet,
  and the peak RSS of that process tree: the features never pass through the driver.
Usage: python bench/incremental.py [--new-share 0.1] [--repeats 3] [--image-size 224] [--join-rows 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.cluster import cpu_model  # noqa: E402
from bench.inputs import add_input_options, run_arguments  # noqa: E402
from bench.proctree import peak_columns, run_measured  # noqa: E402
from bench.table import report  # noqa: E402

FEATURE_DIM = 1280


def link_photos(source: Path, target: Path, new_every: int, new: bool) -> int:
    """Links under `target` to the photos of `source`: the new ones (every `new_every`-th) or the others."""
    count = 0
    for i, photo in enumerate(sorted(source.rglob("*.jpg"))):
        if (i % new_every == 0) is new:
            folder = target / photo.parent.name
            folder.mkdir(parents=True, exist_ok=True)
            (folder / photo.name).symlink_to(photo.resolve())
            count += 1
    return count


def _job(photos: Path, output: Path, args: argparse.Namespace, run_id: str, *more: str) -> dict:
    command = [sys.executable, "-m", "pipeline"]
    command += run_arguments(str(photos), str(output), args.weights, args.image_size, run_id, *more)
    measured = run_measured(command, env=dict(os.environ, PYTHONPATH=str(REPO)))
    if measured.returncode:
        raise SystemExit(f"{run_id} failed:\n{measured.stderr[-3000:]}")
    run_report = json.loads((output / run_id / "report.json").read_text())
    timings, train = run_report["timings_s"], run_report["sets"]["train"]
    feature_s = sum(seconds for stage, seconds in timings.items() if stage.startswith(("featurize ", "match ")))
    return {
        "run": run_id,
        "reuse": bool(more),
        "embedded": train["embedded"],
        "reused": train["reused"],
        "feature_stage_s": round(feature_s, 1),
        "job_total_s": timings["total"],
        "wall_s": round(measured.seconds, 1),
        **peak_columns(measured),
    }


def measure_runs(args: argparse.Namespace, scratch: Path) -> None:
    new_every = round(1 / args.new_share)
    photos, output = scratch / "photos", scratch / "runs"
    earlier = link_photos(Path(args.input), photos, new_every, new=False)
    _job(photos, output, args, "earlier")
    added = link_photos(Path(args.input), photos, new_every, new=True)
    rows = []
    for repeat in range(1, args.repeats + 1):
        rows.append(_job(photos, output, args, f"full-{repeat}"))
        rows.append(_job(photos, output, args, f"reuse-{repeat}", "--reuse", str(output / "earlier")))
    median = {
        kind: {
            column: statistics.median(row[column] for row in rows if row["reuse"] is reuse)
            for column in ("feature_stage_s", "job_total_s", "wall_s")
        }
        for kind, reuse in (("full", False), ("reuse", True))
    }
    print(f"CPU: {cpu_model()}; {earlier} photos in the earlier run, {added} new", file=sys.stderr)
    report(
        rows,
        {
            "benchmark": "incremental_runs",
            "photos": earlier + added,
            "new": added,
            "image_size": args.image_size,
            "median": median,
            "reuse_vs_full": {
                column: round(median["reuse"][column] / median["full"][column], 3) for column in median["full"]
            },
            "cpu": cpu_model(),
        },
    )


def join_child(rows: int, new_share: float, scratch: Path) -> None:
    """In its own process (measured from outside): make the features, then time the two joins."""
    import numpy as np
    import pandas as pd

    from pipeline.job.reuse import FEATURE_COLUMNS, EarlierRun, earlier_features, reused, to_embed
    from pipeline.job.session import create_session

    spark = create_session("incremental-join")
    features = scratch / "earlier" / "features_train.parquet"
    paths = [f"file:/photos/L{i % 10}/{i:07d}.jpg" for i in range(rows)]
    chunk = 10_000
    for start in range(0, rows, chunk):  # written in parts: the driver never holds them all
        block = paths[start : start + chunk]
        vectors = np.random.default_rng(start).random((len(block), FEATURE_DIM), dtype=np.float32)
        pd.DataFrame(
            {
                "path": block,
                "label": [p.split("/")[2] for p in block],
                "size": np.full(len(block), 1000, dtype=np.int64),
                "version": "mtime_ns:1",
                "features": list(vectors),
                "embedded_in": "earlier",
            }
        )[FEATURE_COLUMNS].to_parquet(features / f"part-{start:08d}.parquet")
    new_every = round(1 / new_share)
    versions = ["mtime_ns:2" if i % new_every == 0 else "mtime_ns:1" for i in range(rows)]
    listing = pd.DataFrame({"path": paths, "size": np.int64(1000), "version": versions, "label": "L"})
    listed = spark.createDataFrame(listing, schema="path string, size long, version string, label string")
    known = earlier_features(spark, EarlierRun(str(scratch / "earlier"), "earlier", {"train": str(features)}))
    began = time.perf_counter()
    unread = to_embed(listed, known).select("path").toPandas()
    anti_s = time.perf_counter() - began
    began = time.perf_counter()
    reused(listed, known).write.parquet(str(scratch / "reused.parquet"))
    inner_s = time.perf_counter() - began
    written = spark.read.parquet(str(scratch / "reused.parquet")).count()
    print(json.dumps({"to_embed": len(unread), "reused": written, "anti_join_s": anti_s, "inner_join_s": inner_s}))


def measure_join(args: argparse.Namespace, scratch: Path) -> None:
    (scratch / "earlier" / "features_train.parquet").mkdir(parents=True)
    command = [sys.executable, __file__, "--join-child", "--join-rows", str(args.join_rows)]
    command += ["--new-share", str(args.new_share), "--scratch", str(scratch)]
    measured = run_measured(command, env=dict(os.environ, PYTHONPATH=str(REPO)))
    if measured.returncode:
        raise SystemExit(f"the join failed:\n{measured.stderr[-3000:]}")
    found = json.loads(measured.stdout.strip().splitlines()[-1])
    row = {
        "rows": args.join_rows,
        "features_mb": round(sum(f.stat().st_size for f in (scratch / "earlier").rglob("*.parquet")) / 1e6),
        "to_embed": found["to_embed"],
        "reused": found["reused"],
        "anti_join_s": round(found["anti_join_s"], 1),
        "inner_join_write_s": round(found["inner_join_s"], 1),
        **peak_columns(measured),
    }
    print(f"CPU: {cpu_model()}", file=sys.stderr)
    report([row], {"benchmark": "incremental_join", "cpu": cpu_model()})


def main() -> None:
    from pipeline.job.run import DEFAULT_IMAGE_SIZE

    options = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_input_options(options)
    options.add_argument("--new-share", type=float, default=0.1, help="share of the photos that are new")
    options.add_argument("--repeats", type=int, default=3, help="full and reusing runs each (medians)")
    options.add_argument("--image-size", type=int, default=DEFAULT_IMAGE_SIZE)
    options.add_argument("--join-rows", type=int, default=100_000, help="rows of the join measurement (0: none)")
    options.add_argument("--skip-runs", action="store_true", help="only the join measurement")
    options.add_argument("--join-child", action="store_true", help=argparse.SUPPRESS)
    options.add_argument("--scratch", help=argparse.SUPPRESS)
    args = options.parse_args()
    if args.join_child:
        join_child(args.join_rows, args.new_share, Path(args.scratch))
        return
    with tempfile.TemporaryDirectory(prefix="incremental-") as scratch:
        if not args.skip_runs:
            measure_runs(args, Path(scratch) / "runs")
        if args.join_rows:
            measure_join(args, Path(scratch) / "join")


if __name__ == "__main__":
    main()
