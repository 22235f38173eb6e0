"""Side by side with shap.KernelExplainer, the estimator every serving system still ships."""

import warnings

import numpy as np
import pytest

from openclarify.kernelshap import explain

shap = pytest.importorskip("shap")
sklearn_datasets = pytest.importorskip("sklearn.datasets")
sklearn_ensemble = pytest.importorskip("sklearn.ensemble")


@pytest.fixture(scope="module")
def cancer_model():
    x, y = sklearn_datasets.load_breast_cancer(return_X_y=True)
    x = x[:, :13]
    model = sklearn_ensemble.GradientBoostingRegressor(n_estimators=60, max_depth=4, random_state=0).fit(x, y)
    return model.predict, x


def shap_values(predict, x, baseline, n_samples, seed):
    explainer = shap.KernelExplainer(predict, baseline)
    np.random.seed(seed)  # shap samples from numpy's global generator; the engine never does
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        values = explainer.shap_values(x[None, :], nsamples=n_samples, l1_reg=False, silent=True)
    return np.ravel(values)


def test_exact_regime_agrees_with_shap(cancer_model):
    predict, data = cancer_model
    features = [0, 1, 2, 4, 6, 7, 8, 9, 11, 12]  # M = 10: shap's default budget enumerates everything too
    rng = np.random.default_rng(0)

    def predict_subset(rows):
        full = np.tile(data[0], (rows.shape[0], 1))
        full[:, features] = rows
        return predict(full)

    sub = data[:, features]
    baseline = sub[rng.choice(len(sub), 3, replace=False)]
    for x in sub[rng.choice(len(sub), 3, replace=False)]:
        ours = explain(predict_subset, x, baseline, seed=1)
        assert ours.exact
        np.testing.assert_allclose(
            ours.attributions[:, 0], shap_values(predict_subset, x, baseline, 2048, 0), atol=1e-6
        )


def test_sampled_regime_is_more_accurate_than_shap_for_the_same_budget(cancer_model):
    predict, data = cancer_model
    rng = np.random.default_rng(1)
    baseline = data[rng.choice(len(data), 2, replace=False)]
    budget = 2 * 13 + 2**11  # Clarify's default for M = 13: 2074 of the 8190 coalitions
    ours_error, shap_error = [], []
    for x in data[rng.choice(len(data), 4, replace=False)]:
        truth = explain(predict, x, baseline, number_of_samples=2**13, seed=0)
        assert truth.exact
        scale = np.linalg.norm(truth.attributions)
        for seed in range(3):
            ours = explain(predict, x, baseline, seed=seed)
            assert not ours.exact and ours.n_samples == budget
            ours_error.append(np.linalg.norm(ours.attributions - truth.attributions) / scale)
            theirs = shap_values(predict, x, baseline, budget, seed)
            shap_error.append(np.linalg.norm(theirs - truth.attributions[:, 0]) / scale)
    assert np.mean(ours_error) <= np.mean(shap_error), (np.mean(ours_error), np.mean(shap_error))
