"""What keeps other websites out of a server that runs without authentication on loopback.

Without access keys the server answers anyone who reaches it, and a browser on the same machine reaches it on behalf
of every page it opens. Three defences, each for an attack shown against a live server:

- **Host names.** A page whose domain is made to resolve to 127.0.0.1 (DNS rebinding) reads and writes the server as
  its own origin. While the server listens on loopback only, a request must name a loopback host (``localhost``,
  ``127.x.x.x``, ``[::1]``) or one the operator trusts (``--trusted-hosts``); others get 403.
- **Cross-site requests.** A form on another site can POST to ``/endpoints/NAME/invocations`` with a body a model
  accepts, no preflight needed. A request that is not a plain read (GET, HEAD) and comes from a page of another
  origin (its ``Origin`` names another host, or ``Sec-Fetch-Site`` says so) gets 403. SDKs send neither header.
- **Headers on every answer.** ``nosniff``; no framing; no referrer. An API answer may carry a model container's own
  content type (``text/html``, say), so it is sandboxed and may load nothing; what a browser GETs (the console's
  pages, their JSON twins and static files) may load only the server's own scripts and styles.

With access keys every request must be signed (SigV4 signs the Host), so only the headers are added.
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openclarify.errors import AccessDenied
from openclarify.wire import awsjson

_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_API_POLICY = "default-src 'none'; frame-ancestors 'none'; sandbox"
_CONSOLE_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
_COMMON = ((b"x-content-type-options", b"nosniff"), (b"x-frame-options", b"DENY"), (b"referrer-policy", b"no-referrer"))


class BrowserGuardMiddleware:
    def __init__(
        self, app: ASGIApp, *, open_server: bool, loopback_only: bool, trusted_hosts: tuple[str, ...] = ()
    ) -> None:
        """``open_server``: authentication is off. ``loopback_only``: the server listens on loopback addresses only.
        ``trusted_hosts``: other host names requests may name."""
        self.app = app
        self.open_server = open_server
        self.loopback_only = loopback_only
        self.trusted_hosts = frozenset(h.lower() for h in trusted_hosts)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self.open_server:
            refusal = self._refusal(scope)
            if refusal is not None:
                response = awsjson.error(refusal, 403, awsjson.new_request_id())
                await response(scope, receive, send_with_headers(send, _API_POLICY))
                return
        # Every API call but /ping and /metrics is a POST; what a browser GETs is the console.
        console = scope["method"] in ("GET", "HEAD") and scope["path"] not in ("/ping", "/metrics")
        policy = _CONSOLE_POLICY if console else _API_POLICY
        await self.app(scope, receive, send_with_headers(send, policy))

    def _refusal(self, scope: Scope) -> AccessDenied | None:
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        name = urlsplit("//" + host).hostname or ""
        if self.loopback_only and not (is_loopback(name) or name in self.trusted_hosts):
            return AccessDenied(
                f"Host {host!r} does not name this server: while it runs without access keys it answers requests "
                "to localhost, 127.0.0.1 or [::1] only (and to the names --trusted-hosts lists).",
                code="AccessDeniedException",
            )
        if scope["method"] in _SAFE_METHODS:
            return None
        origin = headers.get("origin")
        foreign_origin = origin is not None and urlsplit(origin).netloc.lower() != host.lower()
        if foreign_origin or headers.get("sec-fetch-site") in ("cross-site", "same-site"):
            source = f"Origin {origin!r}" if origin else "the request"
            return AccessDenied(
                f"Cross-origin requests are refused: {source} comes from a page of another site, and this server "
                "runs without access keys.",
                code="AccessDeniedException",
            )
        return None


def send_with_headers(send: Send, policy: str) -> Send:
    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start":
            headers = MutableHeaders(scope=message)
            for name, value in _COMMON:
                headers.setdefault(name.decode(), value.decode())
            headers.setdefault("content-security-policy", policy)
        await send(message)

    return sending


def is_loopback(host: str) -> bool:
    """``localhost`` or a loopback address (``127.x.x.x``, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
