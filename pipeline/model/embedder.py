"""The MobileNetV2 feature extractor: weights, preprocessing and the two inference engines.

The driver turns the weights into a `ModelPayload` (a TF Lite flatbuffer, or the Keras
weight arrays) that Spark broadcasts; each Python worker rebuilds an `Embedder` from it
once and reuses it. Executors therefore never read weights files, use the network or
Keras's cache. The TF Lite model takes any square input size (resized per run), so one
conversion serves every `--image-size`: locally it is made from Keras weights (and cached),
on EMR Serverless it was made at deploy time and is read as a `.tflite` file with its
JSON sidecar, without TensorFlow.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Callable, Iterator, Protocol

import numpy as np

from pipeline.contract.execution_input import IMAGE_SIZE_RANGE

FEATURE_DIM = 1280
IMAGENET = "imagenet"
TFLITE_SUFFIX = ".tflite"
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = IMAGE_SIZE_RANGE
"""`--image-size` range (pixels per side): MobileNetV2 needs at least 32, and 1024 already costs
(1024/224)^2 = 21x the default's work per photo. The deployed model accepts any size in it.
Named once, in the execution-input contract, which the state machine checks before a run."""
ENGINES = ("tflite", "keras")
PREPROCESSING_MODES = ("tf", "torch")

_TORCH_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_TORCH_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


QUIET_ENV = "PIPELINE_QUIET"
"""`1`: hide LiteRT's start-up notices. Set by `python -m pipeline` without --verbose before Spark starts,
so that the local Python workers inherit it; under spark-submit the executors never see it."""
LITERT_NOTICES = frozenset({"INFO: Created TensorFlow Lite XNNPACK delegate for CPU."})


class WeightsError(ValueError):
    """Weights that cannot be used; the message says what to do."""


def preprocess(images: np.ndarray, mode: str) -> np.ndarray:
    """Scale uint8 RGB images the way the weights were trained.

    "tf" (Keras's own ImageNet weights): [-1, 1]. "torch" (torchvision-derived weights):
    x/255, then ImageNet mean/std. Same as keras.applications' preprocess_input.
    """
    pixels = images.astype(np.float32)  # the only copy: the rest is in place
    if mode == "tf":
        pixels *= 1 / 127.5
        pixels -= 1.0
        return pixels
    if mode == "torch":
        pixels *= 1 / 255.0
        pixels -= _TORCH_MEAN
        pixels /= _TORCH_STD
        return pixels
    raise WeightsError(f"unknown preprocessing mode {mode!r}: use one of {PREPROCESSING_MODES}")


def sidecar_path(weights: str) -> str:
    """`X.weights.h5` (or `X.h5`, `X.keras`, `X.tflite`) is described by `X.json` beside it."""
    for suffix in (".weights.h5", ".h5", ".keras", TFLITE_SUFFIX):
        if weights.endswith(suffix):
            return weights[: -len(suffix)] + ".json"
    return weights + ".json"


def preprocessing_from_sidecar(sidecar_text: str | None, weights: str) -> str:
    """The preprocessing mode a weights file declares in its JSON sidecar."""
    if sidecar_text is None:
        raise WeightsError(
            f"weights file {weights} has no sidecar {sidecar_path(weights)} declaring its "
            'preprocessing: add one ({"preprocessing": "tf"} or "torch") or pass '
            "--preprocessing tf|torch"
        )
    try:
        mode = json.loads(sidecar_text)["preprocessing"]
    except (ValueError, KeyError, TypeError):
        raise WeightsError(f'sidecar {sidecar_path(weights)} must be JSON with a "preprocessing" key') from None
    if mode not in PREPROCESSING_MODES:
        raise WeightsError(f"sidecar {sidecar_path(weights)}: unknown preprocessing {mode!r}")
    return mode


def build_keras_model(image_size: int | None, weights: str | None):
    """MobileNetV2 without its top, average-pooled to 1,280 features.

    `image_size` None gives a model of any input size (what is converted to TF Lite; its
    weights do not depend on the size). `weights` is "imagenet" (Keras downloads and
    caches it: driver only; Keras's 224 px file when the size is None), a local weights
    file, or None (random, then set from broadcast arrays on workers).
    """
    import keras

    try:
        return keras.applications.MobileNetV2(
            input_shape=(image_size, image_size, 3),
            include_top=False,
            pooling="avg",
            weights=weights,
        )
    except Exception as error:  # Keras raises several types for bad or missing files
        raise WeightsError(f"cannot load weights {weights}: {error}") from None


@dataclass(frozen=True)
class ModelPayload:
    """What the driver broadcasts: enough to rebuild the embedder on any worker."""

    engine: str
    image_size: int
    preprocessing: str
    blob: bytes  # TF Lite flatbuffer, or the Keras weight arrays as .npz

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.blob).hexdigest()

    @property
    def fingerprint(self) -> str:
        """Identifies the model on workers (a Broadcast's id is not usable there)."""
        return f"{self.engine}-{self.image_size}-{self.preprocessing}-{self.sha256[:16]}"


def convert(keras_model, engine: str) -> bytes:
    """The Keras model as `engine` runs it: a TF Lite flatbuffer (10-20 s) or the weight arrays."""
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}: use one of {ENGINES}")
    if engine == "tflite":
        import tensorflow as tf

        with contextlib.redirect_stdout(io.StringIO()):  # the converter prints the SavedModel signature
            return bytes(tf.lite.TFLiteConverter.from_keras_model(keras_model).convert())
    buffer = io.BytesIO()
    np.savez(buffer, *keras_model.get_weights())
    return buffer.getvalue()


def convert_in_child(weights: str, engine: str) -> bytes:
    """`convert` of the any-size model, run by `python -m pipeline.model.convert`, so that the driver never
    loads TensorFlow: its ~1 GB is returned before the Spark workers start, and a cached model never needs it."""
    with tempfile.TemporaryDirectory(prefix="fruit-features-") as folder:
        output = Path(folder) / "model.bin"
        child = subprocess.run(
            [sys.executable, "-m", "pipeline.model.convert", weights, engine, str(output)],
            env=dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p)),  # also a zip under Spark
            capture_output=True,
            text=True,
        )
        if child.returncode == CONVERT_USER_ERROR:
            raise WeightsError(child.stderr.strip().splitlines()[-1])
        if child.returncode:
            raise RuntimeError(f"converting the model failed:\n{child.stderr[-3000:]}")
        return output.read_bytes()


CONVERT_USER_ERROR = 2
"""Exit status of `python -m pipeline.model.convert` for weights that cannot be used (message on stderr)."""


def load_payload(
    weights: str, image_size: int, engine: str, preprocessing: str, cache: Path | None = None
) -> ModelPayload:
    """The payload for `weights` ("imagenet" or a local Keras file), from `cache` when it was made before.

    The cache is keyed by the weights file's content (or Keras's version for "imagenet"), the
    engine and the installed TensorFlow, not the image size (the model takes any); a hit starts
    a run 10-20 s sooner.
    """
    cached = cache / _cache_name(weights, engine) if cache is not None else None
    if cached is not None and cached.is_file():
        return ModelPayload(engine, image_size, preprocessing, cached.read_bytes())
    blob = convert_in_child(weights, engine)
    if cached is not None:
        try:
            cached.parent.mkdir(parents=True, exist_ok=True)
            partial = cached.with_suffix(f".{os.getpid()}.partial")
            partial.write_bytes(blob)
            partial.replace(cached)
        except OSError:
            pass  # a cache that cannot be written only costs time
    return ModelPayload(engine, image_size, preprocessing, blob)


def default_cache_dir() -> Path | None:
    """`$XDG_CACHE_HOME/fruit-features` (or ~/.cache/...); PIPELINE_MODEL_CACHE=off disables it."""
    setting = os.environ.get("PIPELINE_MODEL_CACHE")
    if setting == "off":
        return None
    if setting:
        return Path(setting)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fruit-features"


def _cache_name(weights: str, engine: str) -> str:
    if weights == IMAGENET:
        source = f"imagenet-keras{installed_version('keras')}"
    else:
        try:
            source = hashlib.sha256(Path(weights).read_bytes()).hexdigest()[:24]
        except OSError as error:
            raise WeightsError(f"cannot load weights {weights}: {error}") from None
    converter = installed_version("tensorflow-cpu") or installed_version("tensorflow")
    return f"{engine}-anysize-tf{converter}-{source}.bin"


def is_tflite_file(weights: str) -> bool:
    return weights.endswith(TFLITE_SUFFIX)


def tflite_sidecar(payload: ModelPayload, source: str) -> str:
    """The JSON beside a `.tflite` model file: how to feed it, which blob it describes, what made it."""
    converter = installed_version("tensorflow-cpu") or installed_version("tensorflow")
    return json.dumps(
        {
            "preprocessing": payload.preprocessing,
            "input": f"any square size, {MIN_IMAGE_SIZE}-{MAX_IMAGE_SIZE} px (resized per run)",
            "sha256": payload.sha256,
            "converted_from": source,
            "converter": f"tensorflow {converter}",
        },
        indent=2,
    )


def write_tflite_model(payload: ModelPayload, target: Path, source: str) -> None:
    """`target` (X.tflite) and its sidecar X.json: what `cdk deploy` uploads and `--weights X.tflite` reads."""
    target.write_bytes(payload.blob)
    Path(sidecar_path(str(target))).write_text(tflite_sidecar(payload, source) + "\n")


def tflite_payload(
    blob: bytes, image_size: int, preprocessing: str, sidecar_text: str | None, name: str
) -> ModelPayload:
    """A TF Lite model read from a file: checked against its sidecar's digest and the requested size.

    Catches, on the driver and in one line, a model whose upload is partial or mixed with another
    deploy's sidecar, and a fixed-size model (an older run's `embedder.tflite`) asked for another size.
    """
    payload = ModelPayload("tflite", image_size, preprocessing, blob)
    expected = json.loads(sidecar_text).get("sha256") if sidecar_text else None
    if expected and expected != payload.sha256:
        raise WeightsError(
            f"model {name} does not match its sidecar (sha256 {payload.sha256[:16]}..., sidecar says "
            f"{expected[:16]}...): upload the .tflite and its .json together"
        )
    from ai_edge_litert.interpreter import Interpreter

    try:
        (source,) = Interpreter(model_content=blob).get_input_details()
    except ValueError as error:
        raise WeightsError(f"{name} is not a TF Lite model with one input: {error}") from None
    height, width = source["shape_signature"][1:3]
    if (height, width) != (-1, -1) and (height, width) != (image_size, image_size):
        raise WeightsError(f"model {name} takes {height}x{width} px photos only, not --image-size {image_size}")
    return payload


def installed_version(package: str) -> str | None:
    """A package's version without importing it (importing TensorFlow takes seconds); None if absent."""
    try:
        return version(package)
    except PackageNotFoundError:
        return None


class Embedder(Protocol):
    def __call__(self, images: np.ndarray) -> np.ndarray: ...


def build_embedder(payload: ModelPayload) -> Embedder:
    """A callable from uint8 images (N, S, S, 3) to float32 features (N, 1280), one thread."""
    _limit_threads()
    run = _tflite_runner(payload) if payload.engine == "tflite" else _keras_runner(payload)

    def embed(images: np.ndarray) -> np.ndarray:
        if len(images) == 0:
            return np.zeros((0, FEATURE_DIM), dtype=np.float32)
        return run(images)

    return embed


def _limit_threads() -> None:
    """One compute thread per Spark worker: Spark already runs one worker per core."""
    for name in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        os.environ.setdefault(name, "1")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


PIXELS_PER_INVOKE = 75_000
"""Photos per TF Lite call: about this many pixels. Measured with LiteRT/XNNPACK on one core
(photos/s, batch 1 vs best): 96 px 496 vs 605 at 8, 128 px 224 vs 307 at 4, 224 px best at 1."""


def tflite_batch_size(image_size: int) -> int:
    """The largest power of two that keeps a call within PIXELS_PER_INVOKE (at least 1)."""
    batch = 1
    while 2 * batch * image_size * image_size <= PIXELS_PER_INVOKE:
        batch *= 2
    return batch


def _tflite_runner(payload: ModelPayload) -> Callable[[np.ndarray], np.ndarray]:
    """LiteRT, TF Lite's standalone runtime: on this workload 1.5x TensorFlow's own interpreter,
    0.2 s to import instead of several, and about 70 MB instead of TensorFlow's 600+ per worker."""
    from ai_edge_litert.interpreter import Interpreter

    batch = tflite_batch_size(payload.image_size)
    interpreter = Interpreter(model_content=payload.blob, num_threads=1)
    source = interpreter.get_input_details()[0]["index"]
    target = interpreter.get_output_details()[0]["index"]
    interpreter.resize_tensor_input(source, [batch, payload.image_size, payload.image_size, 3])
    with without_litert_notices():
        interpreter.allocate_tensors()  # applies the XNNPACK delegate, which announces itself

    def run(images: np.ndarray) -> np.ndarray:
        out = np.empty((len(images), FEATURE_DIM), dtype=np.float32)
        for start in range(0, len(images), batch):
            chunk = images[start : start + batch]
            if len(chunk) < batch:  # the last call of a batch: pad with blank photos
                chunk = np.concatenate([chunk, np.zeros((batch - len(chunk), *chunk.shape[1:]), chunk.dtype)])
            # Scaled a call's worth at a time, while the pixels are still in the CPU's cache.
            interpreter.set_tensor(source, preprocess(chunk, payload.preprocessing))
            interpreter.invoke()
            out[start : start + batch] = interpreter.get_tensor(target)[: len(images) - start]
        return out

    return run


@contextlib.contextmanager
def without_litert_notices() -> Iterator[None]:
    """LiteRT's C++ logger writes its notices straight to the process's stderr and reads no setting that
    silences them (TF_CPP_MIN_LOG_LEVEL included). With QUIET_ENV set, stderr (file descriptor 2) goes to a
    file meanwhile, and everything in it but those notices is written back."""
    if os.environ.get(QUIET_ENV) != "1":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as caught:
        os.dup2(caught.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            caught.seek(0)
            lines = caught.read().decode("utf-8", errors="replace").splitlines(keepends=True)
            kept = "".join(line for line in lines if line.rstrip("\r\n") not in LITERT_NOTICES)
            if kept:
                sys.stderr.write(kept)
                sys.stderr.flush()


def _keras_runner(payload: ModelPayload) -> Callable[[np.ndarray], np.ndarray]:
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(1)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass  # TensorFlow already running in this process (not a Spark worker): keep its threads
    model = build_keras_model(payload.image_size, None)
    with np.load(io.BytesIO(payload.blob)) as arrays:
        model.set_weights([arrays[f"arr_{i}"] for i in range(len(arrays.files))])
    call = tf.function(lambda x: model(x, training=False), reduce_retracing=True)
    return lambda images: call(tf.constant(preprocess(images, payload.preprocessing))).numpy()
