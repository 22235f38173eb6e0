"""A running model container that follows SageMaker's inference-container contract.

``Image`` is its base URL (``http://host:8080``). ``GET /ping`` must answer 200 before the endpoint goes
InService; ``POST /invocations`` receives InvokeEndpoint payloads unchanged (Content-Type, Accept and
X-Amzn-SageMaker-Custom-Attributes are forwarded both ways), and its answers come back verbatim.

``predict(X)`` sends ``X`` as ``text/csv`` with ``Accept: text/csv`` and reads one line of numbers per record.

Connections are pooled and kept alive; at most ``max_concurrency`` (InitialInstanceCount) requests are in
flight, and every request has explicit timeouts. A request an invocation gave up on (past its deadline) no longer
counts: it finishes or times out on its own, never cancelled inside the pool (``invoke``).
"""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import numpy as np

from openclarify.errors import ModelError
from openclarify.runtimes.base import InvokeResult, ModelLoadError, Runtime, RuntimeSpec

_CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
# Requests given up on (``invoke``) that may still hold a connection, beyond InitialInstanceCount.
_ABANDONED_REQUESTS = 32
_PING_TIMEOUT = 2.0  # SageMaker's per-attempt /ping limit
# The most a container's answer may hold. A request is at most 6 MiB and a batch of synthetic records at most
# MaxPayloadInMB (25 at most); their answers, a few scores per record, are far smaller. Past this the answer is not
# read on, so a container that streams without end cannot fill the server's memory.
MAX_ANSWER_BYTES = 64 * 1024 * 1024


class HttpContainerRuntime(Runtime):
    def __init__(self, spec: RuntimeSpec) -> None:
        super().__init__(spec)
        assert spec.url is not None
        self._base = spec.url.rstrip("/")
        self._timeout = httpx.Timeout(spec.request_timeout_seconds, connect=5.0)
        # The gates below bound the requests in flight. The pool also holds the requests an invocation gave up on past
        # its deadline, which run on until the container answers or the request times out (``invoke``), so it has
        # room for some of those beyond InitialInstanceCount.
        self._limits = httpx.Limits(
            max_connections=spec.max_concurrency + _ABANDONED_REQUESTS,
            max_keepalive_connections=spec.max_concurrency,
        )
        self._sync: httpx.Client | None = None
        self._sync_gate = threading.BoundedSemaphore(spec.max_concurrency)
        # The async client and its semaphore belong to the event loop that first uses them.
        self._async: httpx.AsyncClient | None = None
        self._async_gate: asyncio.Semaphore | None = None
        # Requests in flight on the event loop, held here until they settle: one given up on by its invocation has
        # nobody else referring to it, and the loop keeps only weak references to tasks.
        self._requests: set[asyncio.Future] = set()
        # Set by close(): a health check still waiting (its deployment was cancelled) gives up at its next /ping.
        self._closed = threading.Event()

    def load(self) -> None:
        """Wait until the container answers ``GET /ping`` with 200, up to the startup timeout."""
        deadline = time.monotonic() + self.spec.startup_timeout_seconds
        last = "no answer"
        with httpx.Client(timeout=_PING_TIMEOUT) as client:
            while not self._closed.is_set():
                try:
                    # The status is the answer; the body is never read, so a container answering /ping with
                    # gigabytes cannot fill the server's memory (leaving the stream closes the connection).
                    with client.stream("GET", self._base + "/ping") as response:
                        status = response.status_code
                    if status == 200:
                        return
                    last = f"HTTP {status}"
                except httpx.HTTPError as exc:
                    last = type(exc).__name__
                if time.monotonic() >= deadline:
                    raise ModelLoadError(
                        f"The model container at {self._base} did not pass its /ping health check within "
                        f"{self.spec.startup_timeout_seconds:g} seconds (last result: {last})."
                    )
                self._closed.wait(0.2)
        raise ModelLoadError(f"Stopped waiting for the model container at {self._base}: the deployment was cancelled.")

    def predict(self, X: np.ndarray) -> np.ndarray:
        body = "\n".join(",".join(repr(float(v)) for v in row) for row in np.asarray(X, dtype=np.float64))
        if self._sync is None:
            self._sync = httpx.Client(timeout=self._timeout, limits=self._limits)
        with self._sync_gate:
            try:
                response = self._sync.post(
                    self._base + "/invocations",
                    content=body.encode(),
                    headers={"Content-Type": "text/csv", "Accept": "text/csv"},
                )
            except httpx.HTTPError as exc:
                raise _unreachable(exc, self._base) from exc
        if response.status_code >= 300:
            raise _container_error(response.status_code, response.text)
        rows = [line for line in response.text.splitlines() if line.strip()]
        scores = np.asarray([[float(c) for c in line.split(",")] for line in rows], dtype=np.float64)
        return scores[:, 0] if scores.ndim == 2 and scores.shape[1] == 1 else scores

    async def invoke(
        self, body: bytes, content_type: str | None, accept: str | None, custom_attributes: str | None
    ) -> InvokeResult:
        if self._async is None:
            self._async = httpx.AsyncClient(timeout=self._timeout, limits=self._limits)
            # httpx sends Accept: */* unless told otherwise; the container gets the client's Accept, or none.
            del self._async.headers["accept"]
            self._async_gate = asyncio.Semaphore(self.spec.max_concurrency)
        assert self._async_gate is not None
        headers = {}
        if content_type:
            headers["Content-Type"] = content_type
        if accept:
            headers["Accept"] = accept
        if custom_attributes:
            headers[_CUSTOM_ATTRIBUTES] = custom_attributes
        async with self._async_gate:
            # Shielded: an invocation past its deadline is cancelled, but the request it made is left to finish (or
            # time out) on its own. Cancelling it inside the connection pool can lose the pool a connection for good
            # (encode/httpcore issue 1093, open in 1.0.9): with the pool capped at InitialInstanceCount, one timed-out
            # invocation under load left an endpoint unable to reach its container until the server restarted.
            request = asyncio.ensure_future(self._post(body, headers))
            self._requests.add(request)
            request.add_done_callback(self._settled)
            try:
                status, answer_headers, content = await asyncio.shield(request)
            except httpx.HTTPError as exc:
                raise _unreachable(exc, self._base) from exc
        if status >= 300:
            raise _container_error(status, content.decode(errors="replace"))
        return InvokeResult(
            body=content,
            content_type=answer_headers.get("content-type", "application/octet-stream"),
            custom_attributes=answer_headers.get(_CUSTOM_ATTRIBUTES),
        )

    async def _post(self, body: bytes, headers: dict[str, str]) -> tuple[int, httpx.Headers, bytes]:
        """One POST /invocations, read within the request timeout in all and ``MAX_ANSWER_BYTES``.

        httpx's read timeout bounds each read, not the answer: a container that trickles a byte at a time kept its
        connection for good, and once the requests given up on filled the pool, every invocation of the endpoint
        timed out waiting for a connection. Leaving the stream closes the connection (never a cancellation inside the
        pool, see ``invoke``), whatever the container does.
        """
        limit = time.monotonic() + self.spec.request_timeout_seconds
        assert self._async is not None
        async with self._async.stream("POST", self._base + "/invocations", content=body, headers=headers) as response:
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > MAX_ANSWER_BYTES:
                    raise ModelError(
                        f"The model container at {self._base} answered more than {MAX_ANSWER_BYTES // (1024 * 1024)} "
                        "MiB; its answer was not read on."
                    )
                if time.monotonic() > limit:
                    raise ModelError(
                        f"The model container at {self._base} did not finish its answer within "
                        f"{self.spec.request_timeout_seconds:g} seconds."
                    )
                chunks.append(chunk)
            return response.status_code, response.headers, b"".join(chunks)

    def _settled(self, request: asyncio.Future) -> None:
        """Lets a request go once it has settled, reading its outcome so that one nobody waits for any more raises
        no "never retrieved" warning."""
        self._requests.discard(request)
        if not request.cancelled():
            request.exception()

    def close(self) -> None:
        self._closed.set()
        if self._sync is not None:
            self._sync.close()
            self._sync = None

    async def aclose(self) -> None:
        self.close()
        if self._async is not None:
            await self._async.aclose()
            self._async = None


def _container_error(status: int, text: str) -> ModelError:
    kind = "client" if status < 500 else "server"
    message = text[:1024]
    return ModelError(
        f'Received {kind} error ({status}) from primary with message "{message}". ',
        original_status_code=status,
        original_message=message,
    )


def _unreachable(exc: httpx.HTTPError, base: str) -> ModelError:
    if isinstance(exc, httpx.PoolTimeout):  # the request never reached the container: say so, not that it was slow
        return ModelError(
            f"No connection to the model container at {base} was free in time: it is still answering earlier "
            "requests (InitialInstanceCount bounds how many run at once)."
        )
    if isinstance(exc, httpx.TimeoutException):
        return ModelError("Your invocation timed out while waiting for a response from container primary.")
    if isinstance(exc, httpx.ConnectError):
        what = "refused the connection"
    elif isinstance(exc, httpx.RemoteProtocolError):
        what = "closed the connection without answering (did it crash?)"
    else:
        what = f"could not be reached ({type(exc).__name__})"
    return ModelError(
        f"The model container at {base} {what}. Check that it is running and answers GET /ping, then retry."
    )
