import numpy as np
import pytest

from pipeline.job.pca import choose_k, feature_moments, fit_pca, principal_components, project


@pytest.mark.parametrize(
    "shares,target,k", [([0.5, 0.3, 0.15, 0.05], 0.95, 3), ([0.5, 0.3, 0.15, 0.05], 0.8, 2), ([1.0], 0.95, 1)]
)
def test_k_is_the_fewest_components_reaching_the_target(shares, target, k):
    assert choose_k(shares, target) == k


def test_feature_moments_in_spark_equal_numpy(spark):
    rows = np.random.default_rng(1).normal(size=(40, 6)).astype(np.float32)
    frame = spark.createDataFrame([(r.tolist(),) for r in rows], "features array<float>").repartition(3)
    moments = feature_moments(frame)
    assert moments.n == 40
    np.testing.assert_allclose(moments.covariance, np.cov(rows.T.astype(np.float64)), rtol=1e-9, atol=1e-12)
    assert feature_moments(frame.where("false")).n == 0


def test_principal_components_match_numpy():
    data = np.random.default_rng(0).normal(size=(200, 5)) * [5, 3, 2, 1, 0.1]
    vectors, shares = principal_components(np.cov(data.T))
    assert np.all(np.diff(shares) <= 0) and shares.sum() == pytest.approx(1)
    assert abs(vectors[:, 0] @ [1, 0, 0, 0, 0]) == pytest.approx(1, abs=0.05)


def test_spark_pca_equals_scikit_learn_with_a_given_or_chosen_k(spark):
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(0)
    data = (rng.normal(size=(300, 1280)) * np.linspace(3, 0.01, 1280) + 2.0).astype(np.float32)
    frame = spark.createDataFrame(
        [(f"p{i}", "x", row.tolist()) for i, row in enumerate(data)], "path string, label string, features array<float>"
    )
    expected = PCA(n_components=10, svd_solver="full").fit(data.astype(np.float64))

    fit = fit_pca(frame, variance=None, components=10)
    assert fit.k == 10
    np.testing.assert_allclose(fit.explained_variance, expected.explained_variance_ratio_, rtol=1e-3)
    projected = np.array([row.pca for row in project(fit.model, frame).orderBy("path").collect()])
    order = np.argsort([f"p{i}" for i in range(300)])
    reference = expected.transform(data.astype(np.float64))[order]
    np.testing.assert_allclose(np.abs(projected), np.abs(reference), rtol=1e-3, atol=1e-3)

    chosen = fit_pca(frame, variance=0.5, components=None)
    assert chosen.k == choose_k(chosen.spectrum, 0.5)
    assert sum(chosen.explained_variance) >= 0.5 > sum(chosen.explained_variance[:-1])
