"""Quality check: does the PCA output name the fruits?

Splits the photos (every fifth photo of each label, by name, goes to validation), runs the
job with `--input train --apply validation`, and reads the run's own classifier accuracy
(a logistic regression fitted on the train set's PCA output) on the held-out validation set.
Prints a table and one JSON line; exits 1 below 98 %. Usage:
python bench/quality.py [--input DIR] [--weights FILE] [--image-size N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.inputs import add_input_options, run_arguments  # noqa: E402
from bench.table import report  # noqa: E402


def split(source: Path, target: Path, every: int = 5) -> dict[str, int]:
    """Copy every `every`-th photo of each label to validation/, the rest to train/."""
    counts = {"train": 0, "validation": 0}
    for label in sorted(p for p in source.iterdir() if p.is_dir()):
        for index, photo in enumerate(sorted(label.glob("*.jpg"))):
            part = "validation" if index % every == every - 1 else "train"
            (target / part / label.name).mkdir(parents=True, exist_ok=True)
            shutil.copyfile(photo, target / part / label.name / photo.name)
            counts[part] += 1
    return counts


def main() -> int:
    from pipeline.cli import main as pipeline_main
    from pipeline.job import DEFAULT_IMAGE_SIZE

    options = argparse.ArgumentParser(description=__doc__)
    add_input_options(options)
    options.add_argument("--image-size", type=int, default=DEFAULT_IMAGE_SIZE)
    args = options.parse_args()

    with tempfile.TemporaryDirectory(prefix="quality-") as scratch:
        photos = split(Path(args.input), Path(scratch) / "photos")
        code = pipeline_main(
            run_arguments(
                str(Path(scratch) / "photos" / "train"),
                str(Path(scratch) / "out"),
                args.weights,
                args.image_size,
                "quality",
                "--apply",
                str(Path(scratch) / "photos" / "validation"),
            )
        )
        if code:
            return code
        run_report = json.loads((Path(scratch) / "out" / "quality" / "report.json").read_text())
    accuracy = run_report["classifier"]["accuracy"]
    result = {
        "train_photos": run_report["sets"]["train"]["featurized"],
        "validation_photos": run_report["sets"]["validation"]["featurized"],
        "image_size": args.image_size,
        "k": run_report["pca"]["k"],
        "explained_variance": round(sum(run_report["pca"]["explained_variance"]), 4),
        "train_accuracy": round(accuracy["train"], 4),
        "validation_accuracy": round(accuracy["validation"], 4),
        "split": photos,
    }
    report([{"metric": name, "value": value} for name, value in result.items()], {"benchmark": "quality", **result})
    return 0 if accuracy["validation"] >= 0.98 else 1


if __name__ == "__main__":
    raise SystemExit(main())
