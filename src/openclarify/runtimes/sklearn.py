"""scikit-learn models stored with skops (``skops.io.dump``). Never pickle or joblib.

skops refuses to build any type that is not trusted. We trust skops' own defaults plus the explicit list
below: internal types that common estimators need. A file that needs anything else is rejected with the
offending type names, so an operator can decide; the list is deliberately not configurable per request.

Text: records may hold text cells (``accepts_text``), so a Pipeline with a text column works in process:

- a model whose first step is a text vectorizer (``CountVectorizer``, ``TfidfVectorizer``, ``HashingVectorizer``:
  anything with ``build_analyzer``) takes one text column and gets it as a 1-D array of ``str``, the input those
  vectorizers are fitted on;
- any other model gets the ``(n, d)`` array: float64 when every cell is a number, else an object array with text
  as ``str`` and numbers as ``float``, which a ``ColumnTransformer`` (text columns selected by a scalar index,
  e.g. ``("text", TfidfVectorizer(), 0)``) splits between its transformers.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from openclarify.runtimes.base import ModelLoadError
from openclarify.runtimes.tabular import TabularRuntime, positive_class

TRUSTED_TYPES: tuple[str, ...] = (
    "sklearn.tree._tree.Tree",
    "sklearn._loss.link.IdentityLink",
    "sklearn._loss.link.Interval",
    "sklearn._loss.link.LogitLink",
    "sklearn._loss.link.MultinomialLogit",
    "sklearn._loss.loss.HalfBinomialLoss",
    "sklearn._loss.loss.HalfMultinomialLoss",
    "sklearn._loss.loss.HalfSquaredError",
    "sklearn.ensemble._hist_gradient_boosting.binning._BinMapper",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.ensemble._gb.GradientBoostingClassifier",
    "sklearn.ensemble._gb.GradientBoostingRegressor",
    "sklearn.dummy.DummyClassifier",
    "sklearn.dummy.DummyRegressor",
    "collections.OrderedDict",
    "numpy.dtype",
    # Plain data holders of common estimators, with no __setstate__ or reduce of their own (Bunch's __setstate__ does
    # nothing): MLPs keep their optimiser, CalibratedClassifierCV its calibrated folds, stacking and voting ensembles
    # their named estimators in a Bunch. Without them those models were refused.
    "sklearn.neural_network._stochastic_optimizers.AdamOptimizer",
    "sklearn.neural_network._stochastic_optimizers.SGDOptimizer",
    "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.utils._bunch.Bunch",
)


_NEIGHBOUR_TREES = ("sklearn.neighbors._kd_tree.", "sklearn.neighbors._ball_tree.")


class SklearnRuntime(TabularRuntime):
    kind = "scikit-learn (skops)"
    extra = "sklearn"
    filenames = ("model.skops",)
    hint = "Save it with skops.io.dump(model, 'model.skops'); pickle and joblib files are not accepted."
    accepts_text = True
    _takes_text_column = False

    def _load(self, path: Path) -> None:
        import skops.io

        try:
            untrusted = skops.io.get_untrusted_types(file=str(path))
        except Exception as exc:
            raise ModelLoadError(f"ModelDataUrl is not a valid skops file. {self.hint}") from exc
        refused = sorted(set(untrusted) - set(TRUSTED_TYPES))
        if refused:
            hint = ""
            if any(name.startswith(_NEIGHBOUR_TREES) for name in refused):
                hint = (
                    " A nearest-neighbours model is served when fitted with algorithm='brute': its KD or ball tree is"
                    " rebuilt in native code from the file's arrays, which this server does not trust."
                )
            raise ModelLoadError(f"The skops file needs types that are not trusted: {', '.join(refused)}.{hint}")
        model = skops.io.load(str(path), trusted=list(untrusted))
        if not hasattr(model, "predict"):
            raise ModelLoadError("The skops file does not hold an estimator with a predict method.")
        self._model = model
        width = getattr(model, "n_features_in_", None)
        self.n_features = int(width) if width is not None else None
        first = model.steps[0][1] if hasattr(model, "steps") and model.steps else model
        self._takes_text_column = hasattr(first, "build_analyzer")
        if self._takes_text_column:
            self.n_features = 1
        elif _computes_in_single_precision(model):
            self.input_dtype = np.float32

    def _model_input(self, X: np.ndarray) -> np.ndarray:
        if self._takes_text_column:
            return np.array([v if isinstance(v, str) else repr(float(v)) for v in X[:, 0]], dtype=object)
        return X

    def _predict(self, X: np.ndarray) -> np.ndarray:
        # Clarify explains scores, so classifiers answer probabilities (a predict_fn returning predict_proba).
        if hasattr(self._model, "predict_proba"):
            return positive_class(np.asarray(self._model.predict_proba(X), dtype=np.float64))
        return np.asarray(self._model.predict(X), dtype=np.float64)


def _computes_in_single_precision(model: object) -> bool:
    """scikit-learn's trees and the ensembles built on them (gradient boosting, random and extra-trees forests)
    convert their input to float32 before predicting: rows written in float32 are scored exactly as float64 rows,
    at half the memory and without the conversion."""
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    single = (
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        DecisionTreeClassifier,
        DecisionTreeRegressor,
    )
    return isinstance(model, single)
