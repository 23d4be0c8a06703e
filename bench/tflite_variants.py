"""TF Lite variants of the same model: speed on one thread and how close the features stay.

fp32 (the job's default), fp16 weights, and dynamic-range int8, each converted from the
Keras model with the shared weights and compared with Keras `predict` on the same photos.
Prints a table and one JSON line. Usage: python bench/tflite_variants.py [--image-size 224]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from bench.inputs import add_input_options  # noqa: E402
from bench.table import report  # noqa: E402


def convert(model, variant: str) -> bytes:
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if variant in ("fp16", "int8-dynamic"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if variant == "fp16":
        converter.target_spec.supported_types = [tf.float16]
    with contextlib.redirect_stdout(io.StringIO()):
        return bytes(converter.convert())


def main() -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    options = argparse.ArgumentParser(description=__doc__)
    add_input_options(options)
    options.add_argument("--image-size", type=int, default=224)
    options.add_argument("--photos", type=int, default=300)
    args = options.parse_args()

    import numpy as np

    from pipeline.model.decoding import decode_image
    from pipeline.model.embedder import ModelPayload, build_embedder, build_keras_model, preprocess

    paths = sorted(Path(args.input).rglob("*.jpg"))
    photos = np.stack(
        [decode_image(p.read_bytes(), args.image_size) for p in paths[:: max(1, len(paths) // args.photos)]]
    )
    model = build_keras_model(args.image_size, args.weights)
    reference = model.predict(preprocess(photos, "torch"), batch_size=64, verbose=0)
    rows = []
    for variant in ("fp32", "fp16", "int8-dynamic"):
        blob = convert(model, variant)
        embed = build_embedder(ModelPayload("tflite", args.image_size, "torch", blob))
        embed(photos[:8])  # warm up
        start = time.perf_counter()
        features = embed(photos)
        seconds = time.perf_counter() - start
        cosine = (features * reference).sum(1) / np.linalg.norm(features, axis=1) / np.linalg.norm(reference, axis=1)
        rows.append(
            {
                "variant": variant,
                "size_mb": round(len(blob) / 1e6, 1),
                "photos_per_s_one_thread": round(len(photos) / seconds, 1),
                "cosine_min": round(float(cosine.min()), 4),
                "cosine_mean": round(float(cosine.mean()), 4),
            }
        )
    report(rows, {"benchmark": "tflite_variants", "image_size": args.image_size, "photos": len(photos)})


if __name__ == "__main__":
    main()
