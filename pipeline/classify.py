"""The run's fruit classifier: a logistic regression on the fit set's PCA output.

scikit-learn fits it on the driver (k numbers a photo, so a sample of the fit set fits
in memory); it is saved as plain JSON numbers together with the PCA projection, so
`predict` answers without Spark, a JVM or pickle, and a mobile app could reuse it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

MAX_TRAINING_ROWS = 20_000
"""Photos the classifier is fitted (and scored) on at most: a random sample of larger sets.

A linear model on k ~ 100 components needs far fewer; more only grows the driver's memory
(measured: peak memory 1.4x from 5,107 to 81,712 photos before this cap and on-disk caching).
"""


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

    def accuracy(self, pca: np.ndarray, labels: list[str]) -> float | None:
        """Share of rows whose top label is right, over rows with a label the classifier knows."""
        known = np.array([label in self.labels for label in labels])
        if not known.any():
            return None
        predicted = np.array(self.labels)[self.probabilities(pca[known]).argmax(axis=1)]
        return float((predicted == np.array(labels)[known]).mean())

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


def train(pca: np.ndarray, labels: list[str], pca_mean: np.ndarray, pca_components: np.ndarray) -> Classifier:
    """Fit a standardised multinomial logistic regression on PCA rows."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    if len(set(labels)) < 2:
        raise ValueError("a classifier needs at least two labels")
    scaler = StandardScaler().fit(pca)
    model = LogisticRegression(max_iter=2000).fit(scaler.transform(pca), labels)
    return Classifier(
        labels=[str(label) for label in model.classes_],
        pca_mean=np.asarray(pca_mean, dtype=np.float64),
        pca_components=np.asarray(pca_components, dtype=np.float64),
        scaler_mean=scaler.mean_,
        scaler_scale=scaler.scale_,
        coef=model.coef_,
        intercept=model.intercept_,
    )
