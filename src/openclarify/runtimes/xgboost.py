"""XGBoost models saved with ``Booster.save_model`` / ``XGBModel.save_model`` as JSON or UBJSON (data only)."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from openclarify.runtimes.base import ModelLoadError
from openclarify.runtimes.tabular import TabularRuntime
from openclarify.runtimes.xgboost_file import booster_name, check_model, decode_model


class XGBoostRuntime(TabularRuntime):
    kind = "XGBoost"
    extra = "xgboost"
    # xgboost-model is the name SageMaker's XGBoost container saves its model under.
    filenames = ("model.json", "model.ubj", "xgboost-model.json", "xgboost-model", "model.bst")
    hint = "Save it with Booster.save_model('model.json') or 'model.ubj'."
    input_dtype = np.float32  # XGBoost stores feature values in single precision

    def _load(self, path: Path) -> None:
        import xgboost

        # XGBoost's readers trust the file: a damaged one crashed the whole server (xgboost_file). It is read once,
        # checked, and XGBoost reads those very bytes, in the format the checks read them in (a JSON model starts
        # with `{"`, a UBJSON one does not: XGBoost tells a buffer's format by that, as _read_as_ubjson does).
        data = path.read_bytes()
        if data.startswith(b"binf"):
            raise ModelLoadError(_LEGACY_BINARY)
        model = decode_model(data, _read_as_ubjson(path.suffix, data))
        check_model(model)
        booster = xgboost.Booster()
        booster.load_model(bytearray(data))
        self._booster = booster
        self._xgb = xgboost
        self.n_features = booster.num_features() or None
        # A linear booster has no in-place prediction: it predicts through a DMatrix, one call at a time, since
        # XGBoost promises concurrent predictions for tree models only.
        self._linear_lock = threading.Lock() if booster_name(model) == "gblinear" else None

    def _predict(self, X: np.ndarray) -> np.ndarray:
        # binary:logistic answers (n,), multi:softprob (n, k): the same scores SageMaker's container returns.
        # inplace_predict skips building a DMatrix per call (a large share of the time on the explainer's many
        # synthetic rows) and gives the same numbers; it is also safe to call from several threads at once.
        if self._linear_lock is not None:
            with self._linear_lock:
                return self._booster.predict(self._xgb.DMatrix(X))
        return self._booster.inplace_predict(X)


# Older XGBoost saved a model under a name without .json or .ubj in a binary format of its own, which XGBoost 3 no
# longer reads: SageMaker's XGBoost containers (up to 1.7) save xgboost-model so.
_LEGACY_BINARY = (
    "ModelDataUrl is an XGBoost model in the binary format older XGBoost versions wrote (SageMaker's XGBoost container"
    " saves xgboost-model so), which XGBoost 3 no longer reads. Load it with an XGBoost before 3.0 and save it again"
    " with Booster.save_model('model.json')."
)


def _read_as_ubjson(suffix: str, data: bytes) -> bool:
    """Whether ``Booster.load_model`` reads a file of this ``suffix`` and ``data`` as UBJSON: by its extension, else by
    XGBoost's guess (JSON when the byte after the opening ``{`` and any whitespace is a quote)."""
    suffix = suffix.lower()
    if suffix in (".json", ".ubj"):
        return suffix == ".ubj"
    return not data[1:64].lstrip().startswith(b'"')
