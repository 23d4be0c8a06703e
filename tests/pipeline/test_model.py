import json

import numpy as np
import pytest

from pipeline.images import decode_image
from pipeline.model import (
    FEATURE_DIM,
    WeightsError,
    build_embedder,
    build_keras_model,
    make_payload,
    preprocess,
    preprocessing_from_sidecar,
    sidecar_path,
)
from tests.conftest import SAMPLE


@pytest.mark.parametrize("mode", ["tf", "torch"])
def test_preprocessing_matches_keras(mode):
    from keras.applications.imagenet_utils import preprocess_input

    images = np.random.default_rng(1).integers(0, 256, (2, 8, 8, 3), dtype=np.uint8)
    expected = preprocess_input(images.astype(np.float32), mode=mode)
    np.testing.assert_allclose(preprocess(images, mode), expected, rtol=1e-5, atol=1e-5)


def test_unknown_preprocessing_is_refused():
    with pytest.raises(WeightsError, match="unknown preprocessing"):
        preprocess(np.zeros((1, 2, 2, 3), np.uint8), "caffe2")


@pytest.mark.parametrize(
    "weights,sidecar",
    [
        ("m/x.weights.h5", "m/x.json"),
        ("s3://b/w/x.h5", "s3://b/w/x.json"),
        ("x.keras", "x.json"),
        ("x.bin", "x.bin.json"),
    ],
)
def test_sidecar_sits_beside_the_weights(weights, sidecar):
    assert sidecar_path(weights) == sidecar


def test_sidecar_declares_the_preprocessing(weights):
    assert preprocessing_from_sidecar(open(sidecar_path(weights)).read(), weights) == "torch"


@pytest.mark.parametrize(
    "text,message",
    [
        (None, "has no sidecar"),
        ("not json", "must be JSON"),
        (json.dumps({"preprocessing": "x"}), "unknown preprocessing"),
    ],
)
def test_missing_or_bad_sidecar_says_what_to_do(text, message):
    with pytest.raises(WeightsError, match=message):
        preprocessing_from_sidecar(text, "w.weights.h5")


def test_missing_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(WeightsError, match="cannot load weights"):
        build_keras_model(96, str(tmp_path / "nope.weights.h5"))


@pytest.fixture(scope="module")
def keras_model(weights):
    return build_keras_model(96, weights)


@pytest.fixture(scope="module")
def photos():
    return np.stack([decode_image(p.read_bytes(), 96) for p in sorted(SAMPLE.glob("*/*.jpg"))[::10]])


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("model_cache")


@pytest.mark.parametrize("engine", ["tflite", "keras"])
def test_engines_reproduce_the_keras_model(keras_model, photos, engine, cache):
    reference = keras_model.predict(preprocess(photos, "torch"), verbose=0)
    features = build_embedder(make_payload(keras_model, engine, "torch", cache))(photos)
    assert features.shape == (len(photos), FEATURE_DIM) and features.dtype == np.float32
    cosine = (features * reference).sum(1) / np.linalg.norm(features, axis=1) / np.linalg.norm(reference, axis=1)
    assert cosine.min() >= 0.999


def test_converted_model_is_cached_by_weights(keras_model, cache):
    first = make_payload(keras_model, "tflite", "torch", cache)
    assert [p.name.split("-")[:2] for p in cache.glob("tflite-*.bin")] == [["tflite", "96"]]
    (file,) = cache.glob("tflite-*.bin")
    file.write_bytes(first.blob + b"cached")  # proves the next call reads the cache, not converts
    assert make_payload(keras_model, "tflite", "torch", cache).blob == first.blob + b"cached"
