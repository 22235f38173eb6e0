"""The runtime interface shared by every way a model can run.

Two faces, because two callers need different things:

- the explainer needs ``predict(X)`` on a whole synthetic batch, in process, vectorised, without any text
  encoding: ``X`` is an ``n × d`` float array, the result ``n`` scores or ``n × k`` (one column per class);
- InvokeEndpoint needs ``invoke(body, content_type, accept, custom_attributes)``: bytes in, bytes out, answered
  the way the SageMaker container serving that model would.

``load()`` and ``predict()`` are synchronous and may be CPU-heavy: callers run them in a worker thread
(``anyio.to_thread.run_sync``), never on the event loop. ``invoke()`` is async and does that itself.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


class ModelLoadError(Exception):
    """The model artifact is missing or is not a valid model of the named kind. The message is safe to show:
    it never quotes file contents or a stack trace."""


@dataclass(frozen=True)
class RuntimeSpec:
    """Everything a runtime needs to start, derived from a ContainerDefinition and its production variant."""

    image: str
    model_path: Path | None = None
    """Resolved local artifact (a file, or a directory holding ``model.*``) for built-in runtimes."""
    url: str | None = None
    """Base URL of a remote model container."""
    environment: dict[str, str] = field(default_factory=dict)
    max_concurrency: int = 1
    """InitialInstanceCount: how many requests this variant serves at once."""
    startup_timeout_seconds: float = 240.0
    request_timeout_seconds: float = 60.0


@dataclass(frozen=True)
class InvokeResult:
    body: bytes
    content_type: str
    custom_attributes: str | None = None


class Runtime(abc.ABC):
    """A loaded model. Instances are created by :func:`openclarify.runtimes.create_runtime`."""

    def __init__(self, spec: RuntimeSpec) -> None:
        self.spec = spec

    @abc.abstractmethod
    def load(self) -> None:
        """Load the model (blocking). Raises :class:`ModelLoadError` with a message a person can act on."""

    @abc.abstractmethod
    def predict(self, X: np.ndarray) -> np.ndarray:
        """Scores for the rows of ``X`` (``n × d`` float64): shape ``(n,)`` or ``(n, k)``. Blocking.

        An exception raised inside the model's own code is the model's failure: it raises
        :class:`openclarify.errors.ModelError`, as ``invoke`` does for an error answer."""

    @abc.abstractmethod
    async def invoke(
        self, body: bytes, content_type: str | None, accept: str | None, custom_attributes: str | None
    ) -> InvokeResult:
        """Answer one InvokeEndpoint payload as the model's SageMaker container would.

        Failures the model container would report raise :class:`openclarify.errors.ModelError` with
        ``original_status_code`` set."""

    def close(self) -> None:  # noqa: B027 - most runtimes hold nothing to release
        """Release resources. Safe to call more than once."""

    async def aclose(self) -> None:
        self.close()
