"""scikit-learn models of common kinds, saved with skops, served by the in-process runtime as scikit-learn scores them.

MLPs, calibrated classifiers and stacking or voting ensembles were refused until the plain data holders they keep
(their optimiser, calibrated folds, a Bunch of named estimators) were trusted; nearest-neighbour trees are still
refused, with the way around it in the message."""

from __future__ import annotations

import numpy as np
import pytest
import skops.io
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import (
    RandomForestRegressor,
    StackingClassifier,
    StackingRegressor,
    VotingClassifier,
    VotingRegressor,
)
from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge
from sklearn.naive_bayes import GaussianNB
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier, MLPRegressor
from sklearn.tree import DecisionTreeClassifier

from openclarify.runtimes import RuntimeSpec, create_runtime
from openclarify.runtimes.base import ModelLoadError

# The MLPs need not converge to be served as they are.
pytestmark = pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")

RNG = np.random.default_rng(0)
X = RNG.standard_normal((200, 4))
Y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)
Y3 = RNG.integers(0, 3, 200)
YR = 2 * X[:, 0] + X[:, 1]

MODELS = {
    "an MLP classifier (adam)": (lambda: MLPClassifier(max_iter=300, random_state=0), Y),
    "an MLP regressor (sgd)": (lambda: MLPRegressor(solver="sgd", max_iter=200, random_state=0), YR),
    "a sigmoid-calibrated classifier": (lambda: CalibratedClassifierCV(LogisticRegression(), cv=3), Y),
    "an isotonic-calibrated classifier": (
        lambda: CalibratedClassifierCV(LogisticRegression(), cv=3, method="isotonic"),
        Y,
    ),
    "a stacking classifier": (
        lambda: StackingClassifier([("a", LogisticRegression()), ("b", DecisionTreeClassifier(max_depth=3))]),
        Y,
    ),
    "a stacking regressor": (
        lambda: StackingRegressor([("a", Ridge()), ("b", RandomForestRegressor(n_estimators=5, random_state=0))]),
        YR,
    ),
    "a soft-voting classifier of three classes": (
        lambda: VotingClassifier([("a", LogisticRegression()), ("b", GaussianNB())], voting="soft"),
        Y3,
    ),
    "a voting regressor": (lambda: VotingRegressor([("a", Ridge()), ("b", LinearRegression())]), YR),
    "a brute-force nearest-neighbours classifier": (lambda: KNeighborsClassifier(algorithm="brute"), Y),
}


def served(tmp_path, model) -> object:
    path = tmp_path / "model.skops"
    skops.io.dump(model, path)
    runtime = create_runtime(RuntimeSpec(image="openclarify/sklearn", model_path=path))
    runtime.load()
    return runtime


@pytest.mark.parametrize("kind", list(MODELS))
def test_common_models_load_and_score_as_scikit_learn_does(tmp_path, kind):
    make, target = MODELS[kind]
    model = make().fit(X, target)
    if hasattr(model, "predict_proba"):
        proba = model.predict_proba(X)
        expected = proba[:, 1] if proba.shape[1] == 2 else proba
    else:
        expected = model.predict(X)
    np.testing.assert_allclose(served(tmp_path, model).predict(X), expected, rtol=1e-12, atol=1e-12)


def test_a_nearest_neighbours_tree_is_refused_saying_how_to_serve_it(tmp_path):
    with pytest.raises(ModelLoadError, match=r"KDTree.*fitted with algorithm='brute'"):
        served(tmp_path, KNeighborsClassifier(algorithm="kd_tree").fit(X, Y))
