"""Quality check: does the PCA output separate the fruits?

Runs the job on every shared photo (or --input), then fits a logistic regression on
the PCA components of a stratified 80 % and scores it on the held-out 20 %. Prints a
table and one JSON line. Usage: python bench/quality.py [--input DIR] [--weights FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SHARED = REPO.parent / "shared"


def held_out_accuracy(csv_file: Path, seed: int = 0) -> tuple[float, int, int]:
    """Accuracy of a logistic regression on a stratified 20 % held-out split."""
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    table = pd.read_csv(csv_file)
    features, labels = table.filter(like="pc_").to_numpy(), table["label"].to_numpy()
    train_x, test_x, train_y, test_y = train_test_split(
        features, labels, test_size=0.2, stratify=labels, random_state=seed
    )
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    classifier.fit(train_x, train_y)
    return float(classifier.score(test_x, test_y)), len(train_y), len(test_y)


def main() -> int:
    from pipeline.cli import main as pipeline_main
    from pipeline.job import DEFAULT_IMAGE_SIZE

    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--input", default=str(SHARED / "data" / "fruits360-10"))
    options.add_argument("--weights", default=str(SHARED / "models" / "mobilenet_v2_imagenet_no_top.weights.h5"))
    options.add_argument("--image-size", type=int, default=DEFAULT_IMAGE_SIZE)
    options.add_argument("--output", default=None, help="keep the run here (default: a temporary folder)")
    args = options.parse_args()

    output = args.output or tempfile.mkdtemp(prefix="quality-")
    code = pipeline_main(
        [
            "run",
            "--input",
            args.input,
            "--output",
            output,
            "--weights",
            args.weights,
            "--image-size",
            str(args.image_size),
            "--run-id",
            "quality",
        ]
    )
    if code:
        return code
    run_dir = Path(output) / "quality"
    report = json.loads((run_dir / "report.json").read_text())
    accuracy, fitted, held_out = held_out_accuracy(run_dir / "pca_train.csv")
    result = {
        "photos": report["sets"]["train"]["featurized"],
        "image_size": args.image_size,
        "k": report["pca"]["k"],
        "explained_variance": round(sum(report["pca"]["explained_variance"]), 4),
        "accuracy": round(accuracy, 4),
        "train": fitted,
        "held_out": held_out,
    }
    print("\n| metric | value |\n|---|---|")
    for name, value in result.items():
        print(f"| {name} | {value} |")
    print(json.dumps(result))
    return 0 if accuracy >= 0.98 else 1


if __name__ == "__main__":
    raise SystemExit(main())
