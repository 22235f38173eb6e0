"""LightGBM models saved with ``Booster.save_model`` in LightGBM's text format (data only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from openclarify.runtimes.lightgbm_file import checked_model_text
from openclarify.runtimes.tabular import TabularRuntime


class LightGBMRuntime(TabularRuntime):
    kind = "LightGBM"
    extra = "lightgbm"
    filenames = ("model.txt", "model.bst", "model.lgb")
    hint = "Save it with Booster.save_model('model.txt')."

    def _load(self, path: Path) -> None:
        import lightgbm

        # LightGBM trusts the file: a damaged one crashed or hung the whole server (lightgbm_file).
        self._booster = lightgbm.Booster(model_str=checked_model_text(path.read_bytes()))
        self.n_features = self._booster.num_feature() or None

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return self._booster.predict(X)
