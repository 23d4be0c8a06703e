"""The classifier's figures: accuracy over known labels, confusion matrices, cross-validation."""

from __future__ import annotations

import numpy as np

from pipeline.model.classifier import (
    CROSS_VALIDATION_FOLDS,
    accuracy,
    confusion_matrix,
    cross_validate,
    evaluate,
    train,
)


def test_accuracy_counts_only_labels_the_classifier_knows():
    assert accuracy(["a", "b", "z"], ["a", "a", "a"], known=["a", "b"]) == 0.5
    assert accuracy(["z"], ["a"], known=["a", "b"]) is None


def test_confusion_matrix_rows_are_true_labels_and_unknown_ones_come_last():
    result = confusion_matrix(["b", "a", "z", "b"], ["b", "b", "a", "b"], known=["a", "b"])
    assert result == {
        "labels": ["a", "b", "z"],
        "matrix": [[0, 1, 0], [0, 2, 0], [1, 0, 0]],
        "photos": 4,
        "unknown_labels": ["z"],
    }


def clusters(per_label: dict[str, int], spread: float = 0.3) -> tuple[np.ndarray, list[str]]:
    rng = np.random.default_rng(1)
    rows, labels = [], []
    for centre, (label, count) in enumerate(per_label.items()):
        rows.append(rng.normal(centre * 3.0, spread, size=(count, 4)))
        labels += [label] * count
    return np.vstack(rows), labels


def test_cross_validation_holds_out_every_photo_once():
    pca, labels = clusters({"a": 30, "b": 30, "c": 30})
    result = cross_validate(pca, labels)
    assert result["folds"] == CROSS_VALIDATION_FOLDS and result["photos"] == 90
    assert result["accuracy"] >= 0.95
    assert np.array(result["confusion_matrix"]["matrix"]).sum() == 90


def test_cross_validation_adapts_its_folds_and_counts_single_photos_as_missed():
    pca, labels = clusters({"a": 3, "b": 4, "single": 1})
    result = cross_validate(pca, labels)
    assert result["folds"] == 3
    single = result["confusion_matrix"]["labels"].index("single")
    assert result["confusion_matrix"]["matrix"][single][single] == 0


def test_no_cross_validation_without_two_labels_of_two_photos():
    pca, labels = clusters({"a": 5, "b": 1})
    assert cross_validate(pca, labels) is None


def test_predictions_are_the_classifier_labels():
    pca, labels = clusters({"a": 10, "b": 10})
    classifier = train(pca, labels, np.zeros(4), np.eye(4))
    assert classifier.predict(pca) == labels and classifier.predict(pca[:0]) == []


def test_evaluation_leaves_out_rows_without_a_label():
    pca, labels = clusters({"a": 10, "b": 10})
    classifier = train(pca, labels, np.zeros(4), np.eye(4))
    score, matrix = evaluate(classifier, pca, labels[:-2] + ["", ""])
    assert score == 1.0 and matrix["photos"] == 18
    assert evaluate(classifier, pca[:2], ["", ""]) == (None, None)
