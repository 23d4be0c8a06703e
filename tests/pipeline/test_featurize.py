import numpy as np

from pipeline.job.featurize import MAX_ROWS, PIXEL_BYTES, featurize_stream, rows_per_frame
from tests.pipeline.photo_zoo import CONVERTED, SKIPPED, zoo


def test_a_bad_photo_gets_a_reason_and_the_others_their_features(sample_photo):
    files = zoo(sample_photo)
    names = list(CONVERTED) + list(SKIPPED)
    reads = [(f"file:/in/Kiwi 1/{n}", files[n], None) for n in names] + [
        ("file:/in/Kiwi 1/gone.jpg", None, "cannot read")
    ]
    calls = []

    def embed(images):
        calls.append(len(images))
        return np.ones((len(images), 1280), np.float32)

    (result,) = featurize_stream(reads, embed, 32, rows=100)
    assert calls == [len(CONVERTED)]  # one model call for the whole frame
    assert list(result["path"]) == [path for path, _, _ in reads]
    assert result["error"][: len(CONVERTED)].isna().all()
    assert all(len(f) == 1280 for f in result["features"][: len(CONVERTED)])
    for (name, reason), error, features in zip(
        SKIPPED.items(), result["error"][len(CONVERTED) :], result["features"][len(CONVERTED) :]
    ):
        assert reason in error and features is None, name
    assert result["error"].iloc[-1] == "cannot read" and result["features"].iloc[-1] is None


def test_frames_hold_a_bounded_number_of_decoded_photos(sample_photo):
    reads = [(f"file:/in/Kiwi/{i}.jpg", sample_photo, None) for i in range(10)]
    frames = list(featurize_stream(reads, lambda images: np.zeros((len(images), 1280), np.float32), 32, rows=4))
    assert [len(frame) for frame in frames] == [4, 4, 2]
    assert rows_per_frame(32) == rows_per_frame(96) == MAX_ROWS  # small photos: rows bound first
    assert rows_per_frame(1024) * 1024 * 1024 * 3 <= PIXEL_BYTES < (rows_per_frame(1024) + 1) * 1024 * 1024 * 3
    assert rows_per_frame(224) * 224 * 224 * 3 <= PIXEL_BYTES
