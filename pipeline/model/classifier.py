"""The run's fruit classifier: a logistic regression on the fit set's PCA output.

scikit-learn fits it on the driver (k numbers a photo, so a sample of the fit set fits
in memory); it is saved as plain JSON numbers together with the PCA projection, so
`predict` answers without Spark, a JVM or pickle, and a mobile app could reuse it.
"""

from __future__ import annotations

import json
import warnings
from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

MAX_TRAINING_ROWS = 20_000
"""Photos the classifier is fitted (and scored) on at most: a random sample of larger sets.

A linear model on k ~ 100 components needs far fewer; more only grows the driver's memory
(measured: peak memory 1.4x from 5,107 to 81,712 photos before this cap and on-disk caching).
"""
KIND = "scikit-learn logistic regression on the standardised PCA output, saved as classifier.json"
CROSS_VALIDATION_FOLDS = 5
CROSS_VALIDATION_ROWS = 5_000
"""Photos cross-validated at most: enough for a held-out figure within about a percent, in seconds."""


@dataclass(frozen=True)
class Classifier:
    labels: list[str]
    pca_mean: np.ndarray  # (1280,)
    pca_components: np.ndarray  # (1280, k)
    scaler_mean: np.ndarray  # (k,)
    scaler_scale: np.ndarray  # (k,)
    coef: np.ndarray  # (labels, k)
    intercept: np.ndarray  # (labels,)

    def project(self, features: np.ndarray) -> np.ndarray:
        """The run's PCA (the same numbers as its Spark ML model)."""
        return (features.astype(np.float64) - self.pca_mean) @ self.pca_components

    def probabilities(self, pca: np.ndarray) -> np.ndarray:
        scores = ((pca - self.scaler_mean) / self.scaler_scale) @ self.coef.T + self.intercept
        if len(self.labels) == 2:  # scikit-learn's binary model has one row of coefficients
            scores = np.column_stack([-scores[:, 0], scores[:, 0]]) / 2
        scores -= scores.max(axis=1, keepdims=True)
        exp = np.exp(scores)
        return exp / exp.sum(axis=1, keepdims=True)

    def top(self, pca: np.ndarray, n: int = 3) -> list[list[dict[str, float]]]:
        """The `n` most likely labels of each row, with their probabilities."""
        result = []
        for row in self.probabilities(pca):
            best = np.argsort(row)[::-1][:n]
            result.append([{"label": self.labels[i], "score": round(float(row[i]), 4)} for i in best])
        return result

    def predict(self, pca: np.ndarray) -> list[str]:
        return [self.labels[i] for i in self.probabilities(pca).argmax(axis=1)] if len(pca) else []

    def accuracy(self, pca: np.ndarray, labels: list[str]) -> float | None:
        """Share of rows whose top label is right, over rows with a label the classifier knows."""
        return accuracy(labels, self.predict(pca), self.labels)

    def to_json(self) -> bytes:
        fields = {
            name: value.tolist() if isinstance(value, np.ndarray) else value for name, value in vars(self).items()
        }
        return json.dumps({"kind": "logistic_regression_on_pca", **fields}).encode("utf-8")

    @staticmethod
    def from_json(text: bytes | str) -> Classifier:
        data = json.loads(text)
        data.pop("kind")
        return Classifier(**{k: v if k == "labels" else np.asarray(v, dtype=np.float64) for k, v in data.items()})


def _estimator():
    """The model `train` fits: standardised PCA rows into a multinomial logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))


def train(pca: np.ndarray, labels: list[str], pca_mean: np.ndarray, pca_components: np.ndarray) -> Classifier:
    """Fit a standardised multinomial logistic regression on PCA rows."""
    if len(set(labels)) < 2:
        raise ValueError("a classifier needs at least two labels")
    scaler, model = _estimator().fit(pca, labels).named_steps.values()
    return Classifier(
        labels=[str(label) for label in model.classes_],
        pca_mean=np.asarray(pca_mean, dtype=np.float64),
        pca_components=np.asarray(pca_components, dtype=np.float64),
        scaler_mean=scaler.mean_,
        scaler_scale=scaler.scale_,
        coef=model.coef_,
        intercept=model.intercept_,
    )


def accuracy(labels: Sequence[str], predicted: Sequence[str], known: Sequence[str]) -> float | None:
    """Share of right predictions over the rows whose true label is in `known` (None if none is)."""
    known_set = set(known)
    pairs = [(label, guess) for label, guess in zip(labels, predicted) if label in known_set]
    return sum(label == guess for label, guess in pairs) / len(pairs) if pairs else None


def confusion_matrix(labels: Sequence[str], predicted: Sequence[str], known: Sequence[str]) -> dict[str, Any]:
    """Counts of (true label, predicted label), for report.json and report.html.

    `labels` index both the rows (true label) and the columns (predicted): the classifier's labels
    (`known`) first, then labels it was never fitted on, which are rows that can never be right.
    """
    order = [*known, *sorted(set(labels) - set(known))]
    index = {label: i for i, label in enumerate(order)}
    matrix = np.zeros((len(order), len(order)), dtype=np.int64)
    for label, guess in zip(labels, predicted):
        matrix[index[label], index[guess]] += 1
    return {"labels": order, "matrix": matrix.tolist(), "photos": len(labels), "unknown_labels": order[len(known) :]}


def evaluate(classifier: Classifier, pca: np.ndarray, labels: list[str]) -> tuple[float | None, dict[str, Any] | None]:
    """Accuracy (None where no label is known to the classifier) and confusion matrix (None without
    labelled rows) of the classifier on rows; rows without a label are left out."""
    labelled = [i for i, label in enumerate(labels) if label]
    if not labelled:
        return None, None
    truth, predicted = [labels[i] for i in labelled], classifier.predict(pca[labelled])
    return accuracy(truth, predicted, classifier.labels), confusion_matrix(truth, predicted, classifier.labels)


def summary(
    accuracies: dict[str, float | None],
    matrices: dict[str, dict[str, Any]],
    fitted_on: str,
    training_accuracy: float | None,
    cross_validation: dict[str, Any] | None,
) -> dict[str, Any]:
    """report.json's `classifier`. `accuracy` per set as it always was (the fit set's figure is training
    accuracy, which says little about quality); beside it the held-out figures: every other set's
    accuracy and confusion matrix, and the fit set's cross-validation."""
    return {
        "kind": KIND,
        "fitted_on": fitted_on,
        "accuracy": accuracies,
        "training_accuracy": training_accuracy,
        "cross_validation": cross_validation,
        "held_out_accuracy": {name: value for name, value in accuracies.items() if name != fitted_on},
        "confusion_matrices": {name: value for name, value in matrices.items() if name != fitted_on},
    }


def cross_validate(pca: np.ndarray, labels: list[str]) -> dict[str, Any] | None:
    """Held-out accuracy on the fit set: stratified k-fold out-of-fold predictions of `train`'s model.

    At most CROSS_VALIDATION_ROWS photos (a random sample) keep it to seconds on the driver; a label
    with a single photo is always held out, so always wrong (it cannot be learned from the others).
    None when fewer than two labels have two photos: no split can test anything then.
    """
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    rows = np.random.default_rng(0).permutation(len(labels))[:CROSS_VALIDATION_ROWS]
    sample, sample_labels = pca[rows], [labels[i] for i in rows]
    counts = Counter(sample_labels)
    repeated = [count for count in counts.values() if count >= 2]
    if len(repeated) < 2:
        return None
    folds = min(CROSS_VALIDATION_FOLDS, min(repeated))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=0)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        predicted = [str(p) for p in cross_val_predict(_estimator(), sample, sample_labels, cv=splitter)]
    known = sorted(counts)
    return {
        "folds": folds,
        "photos": len(sample_labels),
        "accuracy": accuracy(sample_labels, predicted, known),
        "confusion_matrix": confusion_matrix(sample_labels, predicted, known),
    }
