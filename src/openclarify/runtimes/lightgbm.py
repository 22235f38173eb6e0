"""LightGBM models saved with ``Booster.save_model`` in LightGBM's text format (data only)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from openclarify.runtimes.tabular import TabularRuntime


class LightGBMRuntime(TabularRuntime):
    kind = "LightGBM"
    filenames = ("model.txt", "model.bst", "model.lgb")
    hint = "Save it with Booster.save_model('model.txt')."

    def _load(self, path: Path) -> None:
        import lightgbm

        # Check the magic first: LightGBM's parser is lenient about garbage and may log it.
        with path.open("rb") as f:
            if not f.read(5) == b"tree\n":
                raise ValueError("not a LightGBM text model")
        self._booster = lightgbm.Booster(model_file=str(path))
        self.n_features = self._booster.num_feature() or None

    def _predict(self, X: np.ndarray) -> np.ndarray:
        return self._booster.predict(X)
