"""ONNX models through onnxruntime's CPU provider: a protobuf graph, no code execution.

Classifiers exported by skl2onnx or onnxmltools end by default in a ZipMap, which turns the probabilities into one
dictionary per row. The graph is served without it: the tensor the ZipMap reads becomes the output, so classifiers
exported either way (``zipmap=False`` or not) answer the same plain probabilities.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from openclarify.runtimes.base import ModelLoadError
from openclarify.runtimes.tabular import TabularRuntime, positive_class

_PROBABILITY_NAMES = ("probabilities", "output_probability", "probability")
_DTYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64}


class OnnxRuntime(TabularRuntime):
    kind = "ONNX"
    extra = "onnx"
    filenames = ("model.onnx",)
    hint = "Export it with skl2onnx or onnxmltools."

    def _load(self, path: Path) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        options.log_severity_level = 3
        graph, unzipped = _without_zipmap(path.read_bytes())
        session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        inputs = session.get_inputs()
        if len(inputs) != 1:
            raise ModelLoadError("ONNX models must take exactly one input tensor (n × features).")
        self._input = inputs[0]
        self._dtype = _input_dtype(self._input.type)
        self.input_dtype = self._dtype
        self.n_features = _n_features(self._input.shape)
        outputs = session.get_outputs()
        tensors = [o for o in outputs if o.type.startswith("tensor(") and ("float" in o.type or "double" in o.type)]
        if not tensors:
            raise ModelLoadError("The ONNX model has no float or double output tensor.")
        named = [o for o in tensors if o.name in _PROBABILITY_NAMES or o.name in unzipped]
        self._output = (named or tensors)[0].name
        self._is_proba = bool(named)
        self._session = session

    def _predict(self, X: np.ndarray) -> np.ndarray:
        (out,) = self._session.run([self._output], {self._input.name: X.astype(self._dtype, copy=False)})
        out = np.asarray(out, dtype=np.float64)
        return positive_class(out) if self._is_proba else out

    def close(self) -> None:
        self._session = None  # type: ignore[assignment]


def _without_zipmap(data: bytes) -> tuple[bytes, set[str]]:
    """The graph in ``data`` with each ZipMap that gives a graph output taken off, its input tensor (the class
    probabilities, float, one column per class in the ZipMap's order) made the output instead; and those tensors'
    names. A graph without one is returned as it is."""
    import onnx

    model = onnx.load_from_string(data)
    graph = model.graph
    outputs = {output.name: output for output in graph.output}
    zipmaps = [node for node in graph.node if node.op_type == "ZipMap" and node.output[0] in outputs]
    if not zipmaps:
        return data, set()
    for node in zipmaps:
        graph.output.remove(outputs[node.output[0]])
        graph.node.remove(node)
        graph.output.append(onnx.helper.make_tensor_value_info(node.input[0], onnx.TensorProto.FLOAT, None))
    return model.SerializeToString(), {node.input[0] for node in zipmaps}


def _input_dtype(onnx_type: str) -> type:
    # Not converted: a cast would change the records silently. int64 truncates every cell that is not a whole number
    # (a record's 2.5, a baseline of means, and so the explainer's rows that mix them), float16 keeps 3 digits, and
    # the model would score other rows than the ones the answer and the explanation are about.
    dtype = _DTYPES.get(onnx_type)
    if dtype is None:
        raise ModelLoadError(
            f"ONNX models must take a float or double input tensor (n × features); this model's input is {onnx_type}."
            " Export it with a float input: a Cast node inside the graph can convert it."
        )
    return dtype


def _n_features(shape: list[int | str | None]) -> int | None:
    """The fixed width of an ``n × features`` input, or None when the model takes any. onnxruntime reports a
    declared dimension as an int and a symbolic or unknown one as a str or None."""
    if not shape:
        # onnxruntime reports an input whose shape is not declared as it reports a scalar one: the model judges.
        return None
    if len(shape) != 2:
        dimensions = "1 dimension" if len(shape) == 1 else f"{len(shape)} dimensions"
        raise ModelLoadError(
            f"ONNX models must take a 2-D input tensor (n × features); this model's input has {dimensions}."
            " Export it with an n × features input: a Reshape node inside the graph can give the model its shape."
        )
    batch, width = shape
    if isinstance(batch, int):
        # A request, and the explainer's synthetic batch, hold any number of records.
        raise ModelLoadError(
            f"ONNX models must take any number of records (n × features); this model's input fixes n at {batch}."
            " Export it with a dynamic first dimension (None in skl2onnx's initial types, dynamic_axes in"
            " torch.onnx.export)."
        )
    return width if isinstance(width, int) else None
