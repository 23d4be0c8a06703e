"""One TF Lite model of any input size against one model per size: speed and features at each size.

The any-size model (what `cdk deploy` converts and uploads) is resized per run; a fixed model is
converted at the run's size (the job's model before deploy-time conversion). Each runs the job's
own embedder (LiteRT, one thread, the job's photos per call) on the same photos and is compared
with Keras `predict` at that size. Prints a table and one JSON line.
Usage: python bench/model_sizes.py [--sizes 96 128 224] [--photos 300]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.inputs import add_input_options  # noqa: E402
from bench.table import report  # noqa: E402

ROUNDS = 3
"""Timed passes over the photos per model; the best is kept (the machine is shared)."""


def main() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    options = argparse.ArgumentParser(description=__doc__)
    add_input_options(options)
    options.add_argument("--sizes", type=int, nargs="+", default=[96, 128, 224])
    options.add_argument("--photos", type=int, default=300)
    options.add_argument("--preprocessing", default="torch", help="of the weights (the shared ones: torch)")
    args = options.parse_args()

    import numpy as np

    from pipeline.model.decoding import decode_image
    from pipeline.model.embedder import ModelPayload, build_embedder, build_keras_model, convert, preprocess

    paths = sorted(Path(args.input).rglob("*.jpg"))
    paths = paths[:: max(1, len(paths) // args.photos)]
    any_size = convert(build_keras_model(None, args.weights), "tflite")
    rows = []
    for size in args.sizes:
        photos = np.stack([decode_image(p.read_bytes(), size) for p in paths])
        keras_model = build_keras_model(size, args.weights)
        reference = keras_model.predict(preprocess(photos, args.preprocessing), batch_size=64, verbose=0)
        fixed = convert(keras_model, "tflite")
        for model, blob in (("fixed size", fixed), ("any size", any_size)):
            embed = build_embedder(ModelPayload("tflite", size, args.preprocessing, blob))
            embed(photos[:8])  # warm up
            best = float("inf")
            for _ in range(ROUNDS):
                started = time.perf_counter()
                features = embed(photos)
                best = min(best, time.perf_counter() - started)
            cosine = (
                (features * reference).sum(1) / np.linalg.norm(features, axis=1) / np.linalg.norm(reference, axis=1)
            )
            rows.append(
                {
                    "image_size": size,
                    "model": model,
                    "size_mb": round(len(blob) / 1e6, 2),
                    "photos_per_s_one_thread": round(len(photos) / best, 1),
                    "cosine_min": round(float(cosine.min()), 5),
                }
            )
    report(rows, {"benchmark": "model_sizes", "photos": len(paths), "rounds": ROUNDS})


if __name__ == "__main__":
    main()
