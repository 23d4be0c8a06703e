import numpy as np

from pipeline.job.moments import Moments


def test_moments_merged_from_parts_equal_those_of_the_whole():
    rows = np.random.default_rng(0).normal(size=(50, 4)) * 100 + 1e4  # far from zero: cancellation would show
    merged = Moments.of(rows[:7]).merge(Moments(0, np.zeros(0), np.zeros((0, 0)))).merge(Moments.of(rows[7:]))
    assert merged.n == 50
    np.testing.assert_allclose(merged.mean, rows.mean(axis=0))
    np.testing.assert_allclose(merged.covariance, np.cov(rows.T), rtol=1e-9)
