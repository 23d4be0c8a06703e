import numpy as np

from pipeline.featurize import featurize_batch
from tests.pipeline.photo_zoo import CONVERTED, SKIPPED, zoo


def test_a_bad_photo_gets_a_reason_and_the_others_their_features(sample_photo):
    files = zoo(sample_photo)
    names = list(CONVERTED) + list(SKIPPED)
    calls = []

    def embed(images):
        calls.append(len(images))
        return np.ones((len(images), 1280), np.float32)

    result = featurize_batch([f"file:/in/Kiwi 1/{n}" for n in names], [files[n] for n in names], embed, 32)
    assert calls == [len(CONVERTED)]  # one model call for the whole batch
    assert list(result["label"]) == ["Kiwi 1"] * len(names)
    assert result["error"][: len(CONVERTED)].isna().all()
    assert all(len(f) == 1280 for f in result["features"][: len(CONVERTED)])
    for (name, reason), error, features in zip(
        SKIPPED.items(), result["error"][len(CONVERTED) :], result["features"][len(CONVERTED) :]
    ):
        assert reason in error and features is None, name
