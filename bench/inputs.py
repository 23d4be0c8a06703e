"""What the benchmarks give the job: the shared photos and weights unless told otherwise, and its command line."""

from __future__ import annotations

import argparse
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
PHOTOS = SHARED / "data" / "fruits360-10"
WEIGHTS = SHARED / "models" / "mobilenet_v2_imagenet_no_top.weights.h5"


def add_input_options(options: argparse.ArgumentParser) -> None:
    options.add_argument("--input", default=str(PHOTOS), help="photos as <root>/<label>/<photo> (default: %(default)s)")
    options.add_argument("--weights", default=str(WEIGHTS), help="MobileNetV2 weights file (default: %(default)s)")


def run_arguments(photos: str, output: str, weights: str, image_size: int, run_id: str, *more: str) -> list[str]:
    """`python -m pipeline`'s arguments for one `run` (`more`: e.g. "--apply", FOLDER)."""
    job = ["run", "--input", photos, *more, "--output", output, "--weights", weights]
    return job + ["--image-size", str(image_size), "--run-id", run_id]
