"""Per-invocation facts for metrics and the one-line invocation log, without global state.

The HTTP edge opens an :class:`InvocationStats` for each InvokeEndpoint (:func:`collect`); code below it adds to
whichever one is current (:func:`current`). A ``ContextVar`` carries it into worker threads (anyio copies the
context) and into the model's coroutines run from them (``run_coroutine_threadsafe`` copies it too), so
concurrent invocations never mix. Outside an invocation ``current()`` answers a throwaway object.

:class:`TimedRuntime` wraps a loaded model so every ``predict``/``invoke`` adds its wall time and row count.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field

import numpy as np

from openclarify.runtimes import InvokeResult, Runtime
from openclarify.services.endpoints import LiveEndpoint


@dataclass
class InvocationStats:
    model_seconds: float = 0.0
    """Wall time inside the model (in-process ``predict`` or the container's ``invoke``)."""
    queue_seconds: float = 0.0
    """Time spent waiting for a free instance of the variant before any work started."""
    model_rows: int = 0
    """Rows the model evaluated: the request's own records plus every synthetic and baseline row."""
    explained_exact: int = 0
    explained_sampled: int = 0
    designs_ahead: int = 0
    """Coalition designs taken ready from the pool of an endpoint without a Seed (``services.design_pool``)."""
    designs_on_request: int = 0
    """... and those its requests had to plan themselves, the pool being empty."""
    endpoint: str | None = None
    """The endpoint the invocation reached, as it was created; None when it reached none (an unknown name, a
    refused signature, a malformed request): metrics label only real endpoints, so made-up names add no series."""
    variant: str | None = None
    """The variant that served it, also when it then failed."""
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _running: dict[object, float] = field(default_factory=dict, repr=False)
    """Start times of model calls not finished yet, each under a token of its own."""

    def routed(self, endpoint: str, variant: str) -> None:
        self.endpoint, self.variant = endpoint, variant

    @contextlib.contextmanager
    def model_call(self, rows: int) -> Iterator[None]:
        """Time one call into the model. Until it returns, :meth:`model_seconds_until` counts it as running: an
        explanation past its deadline is answered while its thread, abandoned, still waits on the model, and that
        wait must show as model time, not as the explainer's."""
        started, call = time.perf_counter(), object()
        with self._lock:
            self._running[call] = started
        try:
            yield
        finally:
            with self._lock:
                self._running.pop(call, None)
                self.model_seconds += time.perf_counter() - started
                self.model_rows += rows

    def model_seconds_until(self, now: float) -> float:
        """Model time up to ``now`` (a ``time.perf_counter()``), calls still running included."""
        with self._lock:
            return self.model_seconds + sum(now - started for started in self._running.values())

    def add_queue(self, seconds: float) -> None:
        with self._lock:
            self.queue_seconds += seconds

    def design(self, ahead: bool) -> None:
        with self._lock:
            if ahead:
                self.designs_ahead += 1
            else:
                self.designs_on_request += 1

    def explained(self, exact: bool) -> None:
        with self._lock:
            if exact:
                self.explained_exact += 1
            else:
                self.explained_sampled += 1


_current: ContextVar[InvocationStats | None] = ContextVar("openclarify_invocation_stats", default=None)


def current() -> InvocationStats:
    stats = _current.get()
    return stats if stats is not None else InvocationStats()


@contextlib.contextmanager
def collect() -> Iterator[InvocationStats]:
    stats = InvocationStats()
    token = _current.set(stats)
    try:
        yield stats
    finally:
        _current.reset(token)


def _body_rows(body: bytes) -> int:
    return sum(1 for line in body.splitlines() if line.strip())


class TimedRuntime(Runtime):
    """A runtime that reports its time and rows to the current :class:`InvocationStats`; otherwise identical."""

    def __init__(self, inner: Runtime) -> None:
        super().__init__(inner.spec)
        self.inner = inner

    def __getattr__(self, name: str) -> object:  # anything runtime-specific (e.g. limits) comes from the model
        return getattr(self.inner, name)

    def load(self) -> None:
        self.inner.load()

    def predict(self, X: np.ndarray) -> np.ndarray:
        with current().model_call(int(np.shape(X)[0])):
            return self.inner.predict(X)

    async def invoke(
        self, body: bytes, content_type: str | None, accept: str | None, custom_attributes: str | None
    ) -> InvokeResult:
        with current().model_call(_body_rows(body)):
            return await self.inner.invoke(body, content_type, accept, custom_attributes)

    def invoke_blocking(
        self, body: bytes, content_type: str | None, accept: str | None, custom_attributes: str | None
    ) -> InvokeResult:
        with current().model_call(_body_rows(body)):
            return self.inner.invoke_blocking(body, content_type, accept, custom_attributes)  # type: ignore[attr-defined]

    def close(self) -> None:
        self.inner.close()

    async def aclose(self) -> None:
        await self.inner.aclose()


async def instrument_runtimes(live: LiveEndpoint) -> None:
    """An EndpointService preparer, run first: every variant's model reports to the current stats."""
    for variant in live.variants:
        if not isinstance(variant.runtime, TimedRuntime):
            variant.runtime = TimedRuntime(variant.runtime)
