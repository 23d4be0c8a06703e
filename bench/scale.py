"""Scale: the whole job on 1x, 4x and 16x the shared photos (copies under new names).

Each run is `python -m pipeline run` in a fresh process; wall time and the peak RSS of
its whole process tree (JVM + Python workers) are measured. Time should grow linearly
and memory stay flat. Prints a table and one JSON line. Usage:
python bench/scale.py [--factors 1 4 16] [--image-size 224]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.inputs import add_input_options, run_arguments  # noqa: E402
from bench.proctree import peak_columns, run_measured  # noqa: E402
from bench.table import report  # noqa: E402


def replicate(source: Path, target: Path, copies: int) -> int:
    """`copies` copies of every photo under new names, labels kept."""
    count = 0
    for photo in sorted(source.rglob("*.jpg")):
        folder = target / photo.parent.name
        folder.mkdir(parents=True, exist_ok=True)
        for copy in range(copies):
            shutil.copyfile(photo, folder / f"c{copy}_{photo.name}")
            count += 1
    return count


def main() -> None:
    from pipeline.job.run import DEFAULT_IMAGE_SIZE

    options = argparse.ArgumentParser(description=__doc__)
    add_input_options(options)
    options.add_argument("--factors", type=int, nargs="+", default=[1, 4, 16])
    options.add_argument("--image-size", type=int, default=DEFAULT_IMAGE_SIZE)
    args = options.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="scale-") as scratch:
        for factor in args.factors:
            photos_dir = Path(scratch) / f"x{factor}"
            photos = replicate(Path(args.input), photos_dir, factor)
            measured = run_measured(
                [sys.executable, "-m", "pipeline"]
                + run_arguments(str(photos_dir), f"{scratch}/out", args.weights, args.image_size, f"x{factor}"),
                # Each run converts the model into an empty cache: same conditions at every size.
                env=dict(os.environ, PYTHONPATH=str(REPO), PIPELINE_MODEL_CACHE=f"{scratch}/cache-x{factor}"),
            )
            if measured.returncode:
                raise SystemExit(f"x{factor} failed:\n{measured.stderr[-3000:]}")
            run_report = json.loads((Path(scratch) / "out" / f"x{factor}" / "report.json").read_text())
            rows.append(
                {
                    "factor": factor,
                    "photos": photos,
                    "wall_s": round(measured.seconds, 1),
                    "ms_per_photo": round(1000 * measured.seconds / photos, 2),
                    **peak_columns(measured),
                    "k": run_report["pca"]["k"],
                    "featurize_s": run_report["timings_s"]["featurize train"],
                }
            )
            shutil.rmtree(photos_dir)
            print(f"measured x{factor}", file=sys.stderr, flush=True)
    base = rows[0]
    for row in rows:
        row["time_vs_linear"] = round(row["wall_s"] / (base["wall_s"] * row["photos"] / base["photos"]), 2)
        row["memory_vs_1x"] = round(row["peak_rss_gb"] / base["peak_rss_gb"], 2)
    report(rows, {"benchmark": "scale", "image_size": args.image_size})


if __name__ == "__main__":
    main()
