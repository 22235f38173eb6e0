"""Model runtimes behind one small interface (:class:`Runtime`).

The built-ins are chosen by ``ContainerDefinition.Image``: ``openclarify/onnx``, ``openclarify/xgboost``,
``openclarify/lightgbm``, ``openclarify/sklearn``; an ``http://``/``https://`` Image is a remote model container.
Heavy libraries are imported only when a runtime of that kind is loaded.
"""

from openclarify.runtimes.base import InvokeResult, ModelLoadError, Runtime, RuntimeSpec
from openclarify.runtimes.registry import BUILTIN_IMAGES, build_spec, create_runtime, is_remote, resolve_model_path

__all__ = [
    "BUILTIN_IMAGES",
    "InvokeResult",
    "ModelLoadError",
    "Runtime",
    "RuntimeSpec",
    "build_spec",
    "create_runtime",
    "is_remote",
    "resolve_model_path",
]
