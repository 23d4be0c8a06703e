"""The plain baseline: what a user would write by hand, in one Python process.

Decode and resize every photo with Pillow, call the same Keras MobileNetV2 with the
same weights in batches (`model.predict`), PCA with scikit-learn to k components, a
CSV with pandas. Prints one JSON line of timings. Usage:
python bench/baseline.py --input DIR --weights FILE --image-size 224 --k 100 --csv OUT.csv
"""

from __future__ import annotations

import time

START = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
from pathlib import Path  # noqa: E402

CHUNK = 256


def main() -> None:
    options = argparse.ArgumentParser()
    options.add_argument("--input", required=True)
    options.add_argument("--weights", required=True)
    options.add_argument("--image-size", type=int, required=True)
    options.add_argument("--k", type=int, required=True)
    options.add_argument("--csv", required=True)
    options.add_argument("--preprocessing", default="torch", help="the shared weights' mode")
    args = options.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

    import keras
    import numpy as np
    import pandas as pd
    from PIL import Image
    from sklearn.decomposition import PCA

    size = args.image_size
    model = keras.applications.MobileNetV2(
        input_shape=(size, size, 3), include_top=False, pooling="avg", weights=args.weights
    )
    photos = sorted(p for p in Path(args.input).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    loaded = time.perf_counter()

    features = []
    for first in range(0, len(photos), CHUNK):
        batch = np.stack(
            [
                np.asarray(Image.open(p).convert("RGB").resize((size, size), Image.BILINEAR))
                for p in photos[first : first + CHUNK]
            ]
        ).astype(np.float32)
        batch = keras.applications.imagenet_utils.preprocess_input(batch, mode=args.preprocessing)
        features.append(model.predict(batch, batch_size=64, verbose=0))
    features = np.concatenate(features)
    featurized = time.perf_counter()

    reduced = PCA(n_components=args.k).fit_transform(features)
    table = pd.DataFrame(reduced, columns=[f"pc_{i + 1}" for i in range(args.k)])
    table.insert(0, "label", [p.parent.name for p in photos])
    table.insert(0, "path", [str(p) for p in photos])
    table.to_csv(args.csv, index=False)
    finished = time.perf_counter()
    print(
        json.dumps(
            {
                "photos": len(photos),
                "startup_s": round(loaded - START, 2),
                "features_s": round(featurized - loaded, 2),
                "pca_csv_s": round(finished - featurized, 2),
                "total_s": round(finished - START, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
