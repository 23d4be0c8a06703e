"""Save Keras's ImageNet MobileNetV2 feature extractor weights as a Keras weights file.

The weights `cdk deploy` converts to TF Lite for `-c weights=imagenet` (Keras's 224 px file),
as a file the job and the tests can be given with --weights (EMR jobs have no internet):
    python export_imagenet_weights.py OUTPUT_DIR
writes OUTPUT_DIR/mobilenet_v2_imagenet.weights.h5 and its sidecar
OUTPUT_DIR/mobilenet_v2_imagenet.json, which tells the job the preprocessing mode.
"""

import json
import sys
from pathlib import Path

STEM = "mobilenet_v2_imagenet"


def main(output_dir: Path) -> None:
    import keras  # heavy import: only when actually exporting

    model = keras.applications.MobileNetV2(include_top=False, pooling="avg", weights="imagenet")
    model.save_weights(output_dir / f"{STEM}.weights.h5")
    # keras.applications.mobilenet_v2.preprocess_input scales to [-1, 1]: "tf" mode.
    (output_dir / f"{STEM}.json").write_text(json.dumps({"preprocessing": "tf"}) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
