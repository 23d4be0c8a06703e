"""`predict`: name the fruit in new photos with a finished run, without Spark.

The run is loaded once (its TF Lite or Keras embedder, PCA numbers and classifier);
each photo then costs one decode and one model call. Features are computed exactly as
the job computes them: same decoding, preprocessing and model file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from pipeline.classify import Classifier
from pipeline.images import UnreadableImage, decode_image
from pipeline.model import Embedder, ModelPayload, build_embedder
from pipeline.read import InputError


@dataclass(frozen=True)
class Predictor:
    image_size: int
    embed: Embedder
    classifier: Classifier

    def features(self, content: bytes) -> np.ndarray:
        return self.embed(decode_image(content, self.image_size)[np.newaxis])[0]

    def answer(self, photo: str, top: int = 3) -> dict[str, Any]:
        """Top labels with scores for one photo, or its error; never raises for a bad photo."""
        path = Path(photo)
        if not path.is_file():
            return {"photo": photo, "error": "file not found"}
        try:
            features = self.features(path.read_bytes())
        except UnreadableImage as error:
            return {"photo": photo, "error": str(error)}
        return {"photo": photo, "top": self.classifier.top(self.classifier.project(features[np.newaxis]), top)[0]}


def load_predictor(run: str) -> Predictor:
    """Load a local finished run (download one from S3 first, e.g. with `aws s3 sync`)."""
    if "://" in run and not run.startswith("file:"):
        raise InputError(f"predict reads a local run folder; download {run} first (aws s3 sync {run} ./run)")
    folder = Path(run.removeprefix("file://"))
    if not (folder / "_SUCCESS").is_file():
        raise InputError(f"{run} is not a finished run (no _SUCCESS): give the folder of a run that succeeded")
    if not (folder / "classifier.json").is_file():
        report = json.loads((folder / "report.json").read_text())
        if report.get("command") == "transform":
            raise InputError(
                f"{run} is the output of `transform` (photos projected with run {report['source_run']}), "
                "not a fitted run: predict with --run on that run"
            )
        raise InputError(f"{run} has no classifier.json: its fit set had a single label, predict needs two or more")
    info = json.loads((folder / "feature_model" / "model.json").read_text())
    payload = ModelPayload(
        info["engine"], info["image_size"], info["preprocessing"], (folder / info["file"]).read_bytes()
    )
    classifier = Classifier.from_json((folder / "classifier.json").read_bytes())
    return Predictor(payload.image_size, build_embedder(payload), classifier)


def predict(run: str, photos: Iterable[str]) -> Iterator[dict[str, Any]]:
    predictor = load_predictor(run)
    for photo in photos:
        yield predictor.answer(photo)
