"""`predict`: name the fruit in new photos with a finished run, without Spark.

The run is loaded once (its TF Lite or Keras embedder, PCA numbers and classifier);
each photo then costs one decode and one model call. Features are computed exactly as
the job computes them: same decoding, preprocessing and model file. A folder stands for
the photos the job would read in it (pipeline/storage/listing.py: at any depth, other files
ignored), label folders or not: predict needs no label.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from pipeline.contract.errors import InputError
from pipeline.model.classifier import Classifier
from pipeline.model.decoding import UnreadableImage, decode_image
from pipeline.model.embedder import Embedder, ModelPayload, build_embedder
from pipeline.storage.files import not_a_finished_run
from pipeline.storage.listing import NO_LABEL, list_local


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
            return {"photo": photo, "error": "no such file or folder"}
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
        raise InputError(not_a_finished_run(run, folder.is_dir()))
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


NO_PHOTOS = "no photos (.jpg, .jpeg, .png) in this folder"


@dataclass
class Photos:
    """The photos named on the command line, each folder replaced by the photos found in it."""

    found: list[tuple[str, str | None]] = field(default_factory=list)
    """(photo, why it cannot be read or None), in the order given, each folder's sorted by path."""
    ignored: list[tuple[str, str]] = field(default_factory=list)
    """(file, reason): files in the folders that are not photos, as the job ignores them."""


def list_photos(arguments: Iterable[str]) -> Photos:
    """Files as given, folders as the photos found in them (see `photos_in`)."""
    photos = Photos()
    for argument in arguments:
        if os.path.isdir(argument):
            found = photos_in(argument)
            photos.found += found.found
            photos.ignored += found.ignored
        else:
            photos.found.append((argument, None))
    return photos


def photos_in(folder: str) -> Photos:
    """The folder listed as the job lists its input, each path spelled below `folder` as given.

    A photo outside a label folder, which the job skips, is answered: predict needs no label.
    """
    listing = list_local(folder)

    def spelled(path: str) -> str:
        return os.path.join(folder, path[len(listing.uri) + 1 :])

    found = [(path, None) for path in listing.paths]
    found += [(path, None if reason == NO_LABEL else reason) for path, reason in listing.skipped]
    return Photos(
        sorted((spelled(path), why) for path, why in found) or [(folder, NO_PHOTOS)],
        [(spelled(path), reason) for path, reason in listing.ignored],
    )


def predict(run: str, photos: Iterable[tuple[str, str | None]]) -> Iterator[dict[str, Any]]:
    """One answer per photo: its top labels, or why it has none."""
    predictor = load_predictor(run)
    for photo, unreadable in photos:
        yield {"photo": photo, "error": unreadable} if unreadable else predictor.answer(photo)
