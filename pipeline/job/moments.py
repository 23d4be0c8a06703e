"""Mean and covariance of feature rows, computed in parts and merged: PCA's one pass over the data.

Kept apart from pipeline.job.pca so that Spark's Python workers, which run these
functions, import only NumPy and PyArrow (pyspark.ml costs a second or more per worker).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np
import pyarrow as pa


@dataclass(frozen=True)
class Moments:
    """Count, mean and scatter matrix (sum of centred outer products) of some feature rows."""

    n: int
    mean: np.ndarray
    scatter: np.ndarray

    @staticmethod
    def of(rows: np.ndarray) -> Moments:
        rows = rows.astype(np.float64)
        mean = rows.mean(axis=0)
        centred = rows - mean
        return Moments(len(rows), mean, centred.T @ centred)

    def merge(self, other: Moments) -> Moments:
        """Moments of both row sets together (Chan et al.'s pairwise update: exact, no cancellation)."""
        if not other.n:
            return self
        if not self.n:
            return other
        n = self.n + other.n
        delta = other.mean - self.mean
        return Moments(
            n,
            self.mean + delta * (other.n / n),
            self.scatter + other.scatter + np.outer(delta, delta) * (self.n * other.n / n),
        )

    @property
    def covariance(self) -> np.ndarray:
        return self.scatter / max(self.n - 1, 1)


MOMENTS_SCHEMA = "n long, dim int, mean binary, scatter binary"


def partition_moments(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """One row of moments per partition, computed with NumPy's BLAS in the Python worker."""
    total = None
    for batch in batches:
        if batch.num_rows:
            values = batch.column(0).flatten().to_numpy()
            part = Moments.of(values.reshape(batch.num_rows, -1))
            total = part if total is None else total.merge(part)
    if total is not None:
        yield pa.RecordBatch.from_pydict(
            {
                "n": [total.n],
                "dim": [len(total.mean)],
                "mean": [total.mean.tobytes()],
                "scatter": [total.scatter.tobytes()],
            },
            schema=pa.schema([("n", pa.int64()), ("dim", pa.int32()), ("mean", pa.binary()), ("scatter", pa.binary())]),
        )


def as_moments(row) -> Moments:
    mean = np.frombuffer(row.mean, dtype=np.float64)
    return Moments(row.n, mean, np.frombuffer(row.scatter, dtype=np.float64).reshape(row.dim, row.dim))
