"""The photos and weights every benchmark uses unless told otherwise: the workplace's shared copies."""

from __future__ import annotations

import argparse
from pathlib import Path

SHARED = Path(__file__).resolve().parents[2] / "shared"
PHOTOS = SHARED / "data" / "fruits360-10"
WEIGHTS = SHARED / "models" / "mobilenet_v2_imagenet_no_top.weights.h5"


def add_input_options(options: argparse.ArgumentParser) -> None:
    options.add_argument("--input", default=str(PHOTOS), help="photos as <root>/<label>/<photo> (default: %(default)s)")
    options.add_argument("--weights", default=str(WEIGHTS), help="MobileNetV2 weights file (default: %(default)s)")
