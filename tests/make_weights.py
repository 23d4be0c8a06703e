"""`python -m tests.make_weights FILE`: seeded MobileNetV2 weights for tests of the job's mechanics.

Random but reproducible (seed 0), saved like any user's weights file with its JSON sidecar.
The features mean nothing about fruit; tests that judge quality use ImageNet weights instead
(tests/conftest.py). Run in a child process so that the test process never imports TensorFlow.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

SEED = 0
PREPROCESSING = "torch"
"""The sidecar's mode: the same as the offline ImageNet file's, so both exercise the sidecar path alike."""


def rescale(model) -> None:
    """He-normal kernels: Keras's default (Glorot) shrinks the activations to ~1e-11 after 50 layers,
    where features would test float rounding rather than the job; these keep them near 1."""
    import numpy as np

    rng = np.random.default_rng(SEED)
    for layer in model.layers:
        kind = type(layer).__name__
        if kind not in ("Conv2D", "DepthwiseConv2D"):
            continue
        kernel, *rest = layer.get_weights()
        height, width, channels = kernel.shape[:3]
        fan_in = height * width * (1 if kind == "DepthwiseConv2D" else channels)
        layer.set_weights([rng.normal(0, np.sqrt(2 / fan_in), kernel.shape).astype(kernel.dtype), *rest])


def main(target: Path) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras

    keras.utils.set_random_seed(SEED)
    model = keras.applications.MobileNetV2(input_shape=(96, 96, 3), include_top=False, pooling="avg", weights=None)
    rescale(model)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{os.getpid()}.partial.weights.h5")
    model.save_weights(partial)
    target.with_name(target.name.removesuffix(".weights.h5") + ".json").write_text(
        json.dumps({"preprocessing": PREPROCESSING, "note": f"random MobileNetV2 weights, seed {SEED}, tests only"})
    )
    partial.replace(target)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
