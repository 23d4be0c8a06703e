"""Save Keras's ImageNet MobileNetV2 feature extractor weights for the job.

Run by `cdk deploy` on the deploying machine (EMR Serverless jobs have no internet):
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
