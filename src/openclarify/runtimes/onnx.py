"""ONNX models through onnxruntime's CPU provider: a protobuf graph, no code execution.

Classifiers exported by skl2onnx/onnxmltools should use ``zipmap=False`` so probabilities are a plain tensor.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from openclarify.runtimes.base import ModelLoadError
from openclarify.runtimes.tabular import TabularRuntime, positive_class

_PROBABILITY_NAMES = ("probabilities", "output_probability", "probability")


class OnnxRuntime(TabularRuntime):
    kind = "ONNX"
    filenames = ("model.onnx",)
    hint = "Export it with skl2onnx or onnxmltools (zipmap=False for classifiers)."

    def _load(self, path: Path) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        inputs = session.get_inputs()
        if len(inputs) != 1:
            raise ModelLoadError("ONNX models must take exactly one input tensor (n × features).")
        self._input = inputs[0]
        self._dtype = np.float64 if "double" in self._input.type else np.float32
        self.input_dtype = self._dtype
        width = self._input.shape[-1] if self._input.shape else None
        self.n_features = width if isinstance(width, int) else None
        outputs = session.get_outputs()
        tensors = [o for o in outputs if o.type.startswith("tensor(") and ("float" in o.type or "double" in o.type)]
        if not tensors:
            raise ModelLoadError("The ONNX model has no float output tensor; export classifiers with zipmap=False.")
        named = [o for o in tensors if o.name in _PROBABILITY_NAMES]
        self._output = (named or tensors)[0].name
        self._is_proba = bool(named)
        self._session = session

    def _predict(self, X: np.ndarray) -> np.ndarray:
        (out,) = self._session.run([self._output], {self._input.name: X.astype(self._dtype, copy=False)})
        out = np.asarray(out, dtype=np.float64)
        return positive_class(out) if self._is_proba else out

    def close(self) -> None:
        self._session = None  # type: ignore[assignment]
