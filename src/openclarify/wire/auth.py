"""Authentication as ASGI middleware, so every route (today's and tomorrow's) is covered, except ``/ping``.

The middleware checks the credential in the headers first, so a request without a valid one is refused before its
body is read; then it buffers the body (SigV4 signs its hash; ``body_limit`` bounds it), verifies the signature, and
replays the body to the application. Failures answer with AWS's code in both ``__type`` and ``X-Amzn-ErrorType``,
which both the JSON 1.1 (control plane) and rest-json (runtime) parsers of botocore read.
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openclarify.errors import AccessDenied
from openclarify.wire import awsjson
from openclarify.wire.sigv4 import SigV4Verifier

UNAUTHENTICATED_PATHS = frozenset({"/ping"})


class SigV4Middleware:
    def __init__(self, app: ASGIApp, verifier: SigV4Verifier | None) -> None:
        self.app = app
        self.verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.verifier is None or scope["type"] != "http" or scope["path"] in UNAUTHENTICATED_PATHS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            credential = self.verifier.check_headers(headers)
        except AccessDenied as exc:
            await _deny(exc, scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            self.verifier.check_signature(
                credential,
                scope["method"],
                scope.get("raw_path", scope["path"].encode()).decode("latin-1"),
                scope.get("query_string", b"").decode("latin-1"),
                headers,
                body,
            )
        except AccessDenied as exc:
            await _deny(exc, scope, receive, send)
            return

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


async def _deny(exc: AccessDenied, scope: Scope, receive: Receive, send: Send) -> None:
    response = awsjson.error(exc, awsjson.status_for(exc.code), awsjson.new_request_id())
    await response(scope, receive, send)
