"""A bound on every request body, in bytes and in time, enforced as it arrives: before authentication and before any
handler reads it.

InvokeEndpoint's Body is at most 6 MiB (spec §3.1) and no control-plane input comes near that, so every route shares
the bound. A declared Content-Length past it is refused before a byte is read; a body sent without one (chunked) is
counted as it streams and refused at the first chunk past the bound. Without this the server buffered whatever it was
sent: a 500 MB body, unauthenticated, grew it by about 1 GB before the 403. A body must also arrive within the
invocation deadline: a client that sent its headers and then trickled or stalled held the request open for good.
"""

from __future__ import annotations

import asyncio
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openclarify.errors import ServiceError, ValidationError, ValidationException
from openclarify.services.invocations import MAX_BODY_BYTES
from openclarify.wire import awsjson, runtime_api


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES, max_seconds: float = 60.0) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_seconds = max_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await _refuse(self._too_large(scope, declared), scope, receive, send)
            return
        seen, whole = 0, False
        arrived = time.monotonic()
        # The handler's deadline counts from here (services.invocations.InvokeRequest.received_at).
        scope.setdefault("state", {})[runtime_api.RECEIVED_AT] = arrived
        until = arrived + self.max_seconds

        async def bounded() -> Message:
            nonlocal seen, whole
            if whole:  # later calls wait for a disconnect, for as long as the answer takes
                return await receive()
            try:
                message = await asyncio.wait_for(receive(), max(until - time.monotonic(), 0.0))
            except TimeoutError:
                raise self._too_slow(scope) from None
            if message["type"] == "http.request":
                whole = not message.get("more_body", False)
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # A ServiceError: the handlers answer it as any bad input, and one raised while the authentication
                    # reads the body comes out here.
                    raise self._too_large(scope, seen, streamed=True)
            return message

        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, bounded, tracked)
        except ServiceError as exc:
            if started:
                raise
            await _refuse(exc, scope, receive, send)

    def _too_slow(self, scope: Scope) -> ServiceError:
        return _bad_body(scope, f"The request body did not arrive within {self.max_seconds:g} seconds.")

    def _too_large(self, scope: Scope, size: int, streamed: bool = False) -> ServiceError:
        what = "InvokeEndpoint accepts" if _is_runtime(scope) else "this server accepts"
        size_text = f"more than {self.max_bytes}" if streamed else str(size)
        message = f"The request body is {size_text} bytes; {what} at most {self.max_bytes} bytes (6 MiB)."
        return _bad_body(scope, message)


def _is_runtime(scope: Scope) -> bool:
    return scope["path"].endswith("/invocations")


def _bad_body(scope: Scope, message: str) -> ServiceError:
    """Bad input in the words of the API the request was for: ValidationError on the runtime, ValidationException on
    the control plane and the rest."""
    return ValidationError(message) if _is_runtime(scope) else ValidationException(message)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def _refuse(exc: ServiceError, scope: Scope, receive: Receive, send: Send) -> None:
    """In the shape of the API the request was for: the runtime's errors carry ``ErrorCode`` and ``Message``, as its
    handler's do (a body refused here had the control plane's ``__type`` before, and the same body sent chunked, read
    by the handler, the runtime's)."""
    request_id = awsjson.new_request_id()
    if _is_runtime(scope):
        response = runtime_api.error(exc, request_id)
    else:
        response = awsjson.error(exc, awsjson.status_for(exc.code), request_id)
    await response(scope, receive, send)
