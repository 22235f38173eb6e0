"""XGBoost models saved with ``Booster.save_model`` / ``XGBModel.save_model`` as JSON or UBJSON (data only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from openclarify.runtimes.tabular import TabularRuntime


class XGBoostRuntime(TabularRuntime):
    kind = "XGBoost"
    filenames = ("model.json", "model.ubj", "xgboost-model.json", "model.bst")
    hint = "Save it with Booster.save_model('model.json') or 'model.ubj'."
    input_dtype = np.float32  # XGBoost stores feature values in single precision

    def _load(self, path: Path) -> None:
        import xgboost

        booster = xgboost.Booster()
        booster.load_model(str(path))
        self._booster = booster
        self._xgb = xgboost
        self.n_features = booster.num_features() or None

    def _predict(self, X: np.ndarray) -> np.ndarray:
        # binary:logistic answers (n,), multi:softprob (n, k): the same scores SageMaker's container returns.
        # inplace_predict skips building a DMatrix per call (a large share of the time on the explainer's many
        # synthetic rows) and gives the same numbers; it is also safe to call from several threads at once.
        return self._booster.inplace_predict(X)
