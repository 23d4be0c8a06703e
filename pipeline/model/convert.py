"""`python -m pipeline.model.convert WEIGHTS ENGINE OUTPUT`: the driver's model conversion (any input size).

Run as a child process by pipeline.model.embedder.convert_in_child, so that TensorFlow and Keras
live and die here, not in the Spark driver.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pipeline.model.embedder import CONVERT_USER_ERROR, WeightsError, build_keras_model, convert


def main(argv: list[str]) -> int:
    weights, engine, output = argv
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        blob = convert(build_keras_model(None, weights), engine)
    except WeightsError as error:
        print(error, file=sys.stderr)
        return CONVERT_USER_ERROR
    Path(output).write_bytes(blob)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
