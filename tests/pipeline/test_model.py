import json
import os
import subprocess
import sys

import numpy as np
import pytest

from pipeline.model.decoding import decode_image
from pipeline.model.embedder import (
    FEATURE_DIM,
    QUIET_ENV,
    ModelPayload,
    WeightsError,
    build_embedder,
    build_keras_model,
    convert,
    load_payload,
    preprocess,
    preprocessing_from_sidecar,
    sidecar_path,
    tflite_batch_size,
    tflite_payload,
    without_litert_notices,
    write_tflite_model,
)
from tests.conftest import REPO, SAMPLE


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
        ("s3://b/model/abc/x.tflite", "s3://b/model/abc/x.json"),
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
def fixed_blob(keras_model):
    """The Keras model converted at its own size (96 px), as the job converted before any-size models."""
    return convert(keras_model, "tflite")


@pytest.fixture(scope="module")
def photos():
    return np.stack([decode_image(p.read_bytes(), 96) for p in sorted(SAMPLE.glob("*/*.jpg"))[::10]])


@pytest.mark.parametrize("engine", ["tflite", "keras"])
def test_engines_reproduce_the_keras_model(keras_model, fixed_blob, photos, engine):
    reference = keras_model.predict(preprocess(photos, "torch"), verbose=0)
    payload = ModelPayload(engine, 96, "torch", fixed_blob if engine == "tflite" else convert(keras_model, engine))
    features = build_embedder(payload)(photos)  # 10 photos: the last TF Lite call is padded
    assert features.shape == (len(photos), FEATURE_DIM) and features.dtype == np.float32
    cosine = (features * reference).sum(1) / np.linalg.norm(features, axis=1) / np.linalg.norm(reference, axis=1)
    assert cosine.min() >= 0.999


@pytest.fixture(scope="module")
def any_size_blob(keras_model, weights):
    """The deployed model's conversion: one TF Lite model for every input size."""
    return convert(build_keras_model(None, weights), "tflite")


@pytest.mark.parametrize("size", [96, 128, 224])
def test_one_any_size_model_gives_the_keras_features_at_each_size(any_size_blob, weights, size):
    photos = np.stack([decode_image(p.read_bytes(), size) for p in sorted(SAMPLE.glob("*/*.jpg"))[::20]])
    reference = build_keras_model(size, weights).predict(preprocess(photos, "torch"), verbose=0)
    features = build_embedder(ModelPayload("tflite", size, "torch", any_size_blob))(photos)
    cosine = (features * reference).sum(1) / np.linalg.norm(features, axis=1) / np.linalg.norm(reference, axis=1)
    assert cosine.min() >= 0.999


def test_a_written_model_is_read_back_with_its_sidecar(any_size_blob, tmp_path):
    target = tmp_path / "model.tflite"
    write_tflite_model(ModelPayload("tflite", 96, "torch", any_size_blob), target, "seeded test weights")
    sidecar = (tmp_path / "model.json").read_text()
    assert json.loads(sidecar)["sha256"] == ModelPayload("tflite", 96, "torch", any_size_blob).sha256
    assert preprocessing_from_sidecar(sidecar, str(target)) == "torch"
    assert tflite_payload(target.read_bytes(), 160, "torch", sidecar, str(target)).image_size == 160


def test_a_model_mixed_with_another_sidecar_is_refused(any_size_blob):
    sidecar = json.dumps({"preprocessing": "torch", "sha256": "0" * 64})
    with pytest.raises(WeightsError, match="does not match its sidecar"):
        tflite_payload(any_size_blob, 96, "torch", sidecar, "m.tflite")


def test_a_fixed_size_model_refuses_another_size(fixed_blob):
    # e.g. an older run's embedder.tflite, converted for 96 px only
    assert tflite_payload(fixed_blob, 96, "torch", None, "old.tflite").image_size == 96
    with pytest.raises(WeightsError, match="takes 96x96 px photos only"):
        tflite_payload(fixed_blob, 128, "torch", None, "old.tflite")


@pytest.mark.parametrize("size,batch", [(32, 64), (96, 8), (128, 4), (160, 2), (224, 1), (512, 1)])
def test_tflite_calls_take_about_the_same_number_of_pixels(size, batch):
    assert tflite_batch_size(size) == batch


def test_converted_model_is_cached_by_weights_file(weights, tmp_path):
    first = load_payload(weights, 96, "tflite", "torch", tmp_path)
    (file,) = tmp_path.glob("tflite-anysize-*.bin")
    file.write_bytes(first.blob + b"cached")  # proves that the next call reads the cache, not converts
    assert load_payload(weights, 160, "tflite", "torch", tmp_path).blob == first.blob + b"cached"  # any size
    other = tmp_path / "other.weights.h5"
    other.write_bytes(open(weights, "rb").read()[:4096])
    with pytest.raises(WeightsError, match="cannot load weights"):  # another file is a miss, not the old model
        load_payload(str(other), 96, "tflite", "torch", tmp_path)


def test_the_driver_never_loads_tensorflow(weights, tmp_path):
    script = (
        "import sys; from pathlib import Path; from pipeline.model.embedder import load_payload; "
        f"converted = load_payload({weights!r}, 96, 'tflite', 'tf', Path({str(tmp_path)!r})); "
        f"cached = load_payload({weights!r}, 96, 'tflite', 'tf', Path({str(tmp_path)!r})); "
        "assert converted.blob == cached.blob; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, sorted(sys.modules)"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=REPO)


def test_unusable_weights_are_a_clear_error_from_the_conversion(tmp_path):
    broken = tmp_path / "broken.weights.h5"
    broken.write_bytes(b"not hdf5")
    with pytest.raises(WeightsError, match="cannot load weights .*broken.weights.h5"):
        load_payload(str(broken), 96, "tflite", "tf", None)


@pytest.mark.parametrize("quiet", [True, False])
def test_litert_notices_are_dropped_from_stderr_and_the_rest_kept(quiet, monkeypatch, capfd):
    """At the file descriptor LiteRT's C++ logger writes to; TF_CPP_MIN_LOG_LEVEL does not reach it."""
    if quiet:
        monkeypatch.setenv(QUIET_ENV, "1")
    else:
        monkeypatch.delenv(QUIET_ENV, raising=False)
    with without_litert_notices():
        os.write(2, b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.\nERROR: something else\n")
        print("a Python line", file=sys.stderr)
    lines = sorted(capfd.readouterr().err.splitlines())  # pytest's sys.stderr is not file descriptor 2
    notice = ["INFO: Created TensorFlow Lite XNNPACK delegate for CPU."]
    assert lines == sorted(([] if quiet else notice) + ["ERROR: something else", "a Python line"])
