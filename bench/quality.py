"""Quality check: does the run's classifier name fruits it has not seen?

Fruits-360 photos are consecutive frames of one video per fruit (`<frame>_100.jpg`, other videos
of the same fruit prefixed `r_`, `r2_`), so neighbouring frames are near-duplicates, and a video
turns the fruit a full circle, so its last frames are neighbours of its first. Splits:
- `block` (the honest figure): per label and video, frames sorted by number, the last fifth held
  out as one contiguous block; the `--gap` frames on each side of it (cyclically) are dropped, so
  no held-out frame has a near neighbour in training.
- `interleaved`: every fifth photo by name, as earlier versions measured: near-duplicates on both
  sides, so it measures recall of frames more than recognition; kept for comparison.
- `--test DIR` (e.g. Fruits-360's own `Test/`): held out as given, no split of --input.
Each split is one `python -m pipeline run --input train --apply validation`, and its run is kept
under --output so that its report stays readable. Prints a table and one JSON line; exits 1 when
the first split's held-out accuracy is below --min-accuracy, 2 (one line) when a photo folder is missing.
Usage:
python bench/quality.py [--input DIR] [--weights FILE] [--image-size N] [--splits block interleaved]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from bench.inputs import PHOTOS, add_input_options, run_arguments  # noqa: E402
from bench.table import report  # noqa: E402

HELD_OUT = 5
"""One photo in this many is held out."""
GAP = 10
"""Frames dropped on each side of a held-out block: about 15 degrees of a Fruits-360 turn."""


def frame_of(stem: str) -> tuple[str, int]:
    """(video, frame number): the first all-digit `_`-separated part is the frame (`r2_17_100` -> r2#100, 17)."""
    parts = stem.split("_")
    for index, part in enumerate(parts):
        if part.isdigit():
            return "_".join(parts[:index]) + "#" + "_".join(parts[index + 1 :]), int(part)
    return stem, 0


def videos(photos: list[Path]) -> dict[str, list[Path]]:
    """Photos grouped by video (the name around the frame number), each sorted by frame number."""
    grouped: dict[str, list[tuple[int, Path]]] = defaultdict(list)
    for photo in photos:
        key, frame = frame_of(photo.stem)
        grouped[key].append((frame, photo))
    return {key: [p for _, p in sorted(frames, key=lambda f: (f[0], f[1].name))] for key, frames in grouped.items()}


def block_split(frames: list[Path], gap: int) -> tuple[list[Path], list[Path]]:
    """(train, held out) of one video: the last fifth held out, `gap` frames dropped around it."""
    held = max(1, len(frames) // HELD_OUT)
    gap = min(gap, (len(frames) - held) // 3)  # short videos keep most of their frames for training
    start = len(frames) - held
    return frames[gap : start - gap], frames[start:]


def interleaved_split(frames: list[Path], gap: int) -> tuple[list[Path], list[Path]]:
    """(train, held out): every fifth photo by name held out, as earlier versions of this script did."""
    by_name = sorted(frames, key=lambda p: p.name)
    return (
        [p for i, p in enumerate(by_name) if i % HELD_OUT != HELD_OUT - 1],
        [p for i, p in enumerate(by_name) if i % HELD_OUT == HELD_OUT - 1],
    )


SPLITS = {"block": block_split, "interleaved": interleaved_split}


def split(source: Path, target: Path, how: str, gap: int) -> dict[str, int]:
    """Copy each label's photos into target/train and target/validation; returns the counts."""
    counts = {"train": 0, "validation": 0, "dropped": 0}
    for label in sorted(p for p in source.iterdir() if p.is_dir()):
        photos = sorted(p for p in label.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        for frames in videos(photos).values():
            train, held = SPLITS[how](frames, gap)
            counts["dropped"] += len(frames) - len(train) - len(held)
            for part, chosen in (("train", train), ("validation", held)):
                (target / part / label.name).mkdir(parents=True, exist_ok=True)
                for photo in chosen:
                    shutil.copyfile(photo, target / part / label.name / photo.name)
                counts[part] += len(chosen)
    return counts


def measure(args: argparse.Namespace, how: str, stamp: str) -> dict:
    """One job run on one split; its report's figures."""
    from pipeline.cli import main as pipeline_main

    run_id = f"{stamp}-{how}"
    photos_dir = Path(args.output) / "photos" / run_id
    if how == "test":
        train, validation, counts = Path(args.input), Path(args.test), {}
    else:
        counts = split(Path(args.input), photos_dir, how, args.gap)
        train, validation = photos_dir / "train", photos_dir / "validation"
    arguments = run_arguments(str(train), args.output, args.weights, args.image_size, run_id)
    code = pipeline_main(arguments + ["--apply", str(validation)])
    shutil.rmtree(photos_dir, ignore_errors=True)
    if code:
        raise SystemExit(code)
    run_report = json.loads((Path(args.output) / run_id / "report.json").read_text())
    accuracy = run_report["classifier"]["accuracy"]
    held_out = next(name for name in run_report["sets"] if name != "train")
    return {
        "split": how,
        "train_photos": run_report["sets"]["train"]["featurized"],
        "validation_photos": run_report["sets"][held_out]["featurized"],
        "dropped_photos": counts.get("dropped", 0),
        "k": run_report["pca"]["k"],
        "explained_variance": round(sum(run_report["pca"]["explained_variance"]), 4),
        "train_accuracy": round(accuracy["train"], 4),
        "validation_accuracy": round(accuracy[held_out], 4),
        "report": str((Path(args.output) / run_id / "report.html").resolve()),
    }


def missing_folder(args: argparse.Namespace) -> str | None:
    """One line naming the photo folder that is not there and the option that gives another, or None.

    Checked before the split copies anything: the default --input is the Fruits-360 copy beside the
    repository (`../shared`), which a fresh clone does not have.
    """
    for option, folder in (("--input", args.input), ("--test", args.test)):
        if folder and not Path(folder).is_dir():
            where = " (the default: Fruits-360 in ../shared beside the repository)" if folder == str(PHOTOS) else ""
            return (
                f"error: no photo folder at {folder}{where}: "
                f"run python bench/quality.py {option} DIR, with photos as DIR/<Label>/<photo>.jpg"
            )
    return None


def main(argv: list[str] | None = None) -> int:
    from pipeline.job.run import DEFAULT_IMAGE_SIZE

    options = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_input_options(options)
    options.add_argument("--image-size", type=int, default=DEFAULT_IMAGE_SIZE)
    options.add_argument("--splits", nargs="+", choices=sorted(SPLITS), default=["block", "interleaved"])
    options.add_argument("--test", help="a separate held-out folder (e.g. Fruits-360's Test/): no split of --input")
    options.add_argument("--gap", type=int, default=GAP, help="frames dropped each side of a held-out block")
    options.add_argument("--output", default=str(REPO / "output" / "quality"), help="runs are kept here")
    options.add_argument("--min-accuracy", type=float, default=0.9, help="exit 1 below this held-out accuracy")
    args = options.parse_args(argv)
    missing = missing_folder(args)
    if missing:
        print(missing, file=sys.stderr)
        return 2

    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    rows = [measure(args, how, stamp) for how in (["test"] if args.test else args.splits)]
    report(rows, {"benchmark": "quality", "image_size": args.image_size, "gap": args.gap})
    for row in rows:
        print(f"report ({row['split']} split): {row['report']}", file=sys.stderr)
    return 0 if rows[0]["validation_accuracy"] >= args.min_accuracy else 1


if __name__ == "__main__":
    raise SystemExit(main())
