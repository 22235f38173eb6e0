"""Prometheus metrics at ``GET /metrics`` and one structured log line per invocation.

:class:`MetricsMiddleware` wraps every route (outside authentication, so refused requests count too). Each app has
its own :class:`Metrics` registry: no process-global state, so tests can build many apps.

- ``openclarify_requests_total{operation,status}`` and ``openclarify_request_seconds{operation}``: every HTTP
  request, by API operation (``CreateModel``, ``InvokeEndpoint``, ...; ``console``, ``metrics``, ``ping`` for the
  rest; ``unknown`` for an ``X-Amz-Target`` naming no operation this server serves) and HTTP status.
- ``openclarify_invocations_total{endpoint,variant,code}``: InvokeEndpoint by outcome (``Success`` or the AWS
  error code). ``endpoint`` and ``variant`` are empty for a request that reached no endpoint (an unknown name, a
  refused signature): the series stay as many as the endpoints, whatever names requests make up. Such requests
  count here and in the ``total`` stage only.
- ``openclarify_invocation_seconds{endpoint,stage}``: ``stage`` is ``queue`` (waiting for a free instance),
  ``model`` (inside the model: in-process predict or the container's answer, summed over calls), ``explainer``
  (the rest: parsing, synthetic rows, the Kernel SHAP solve, the response), or ``total``.
- ``openclarify_model_rows_total{endpoint}``: rows the model evaluated (records, synthetic and baseline rows).
- ``openclarify_explanations_total{endpoint,kind}``: explained records, ``kind`` ``exact`` or ``sampled``.

A successful DeleteEndpoint removes every series labelled with that endpoint, so deleted endpoints do not stay in
``/metrics`` for the life of the process. An invocation the old deployment was still answering then (it finishes
what it accepted) counts under endpoint ``""`` when it ends, rather than bringing the series back.

Logs: every InvokeEndpoint logs one JSON line (``event`` ``invocation``) on ``openclarify.invocations``, and every
other request answered with an error one line (``event`` ``request``) on ``openclarify.requests``, both at INFO with
the ``x-amzn-RequestId`` the client got. Neither carries headers, CustomAttributes or record contents.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openclarify.services import telemetry
from openclarify.wire.sagemaker_api import OPERATIONS

log = logging.getLogger("openclarify.invocations")
request_log = logging.getLogger("openclarify.requests")

_INVOKE = re.compile(r"^/endpoints/([^/]+)/invocations$")
# A DeleteEndpoint body is {"EndpointName": at most 63 characters}; more than this is not one to act on.
_DELETE_BODY_BYTES = 4096
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    def __init__(self, is_current: Callable[[str], bool] = lambda endpoint: True) -> None:
        """``is_current(endpoint)``: whether the endpoint still exists, asked as an invocation ends (``forget``)."""
        self._is_current = is_current
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "openclarify_requests", "HTTP requests by API operation and status.", ["operation", "status"], registry=r
        )
        self.request_seconds = Histogram(
            "openclarify_request_seconds",
            "HTTP request latency by API operation.",
            ["operation"],
            registry=r,
            buckets=_BUCKETS,
        )
        self.invocations = Counter(
            "openclarify_invocations",
            "InvokeEndpoint calls by endpoint, variant and outcome code.",
            ["endpoint", "variant", "code"],
            registry=r,
        )
        self.invocation_seconds = Histogram(
            "openclarify_invocation_seconds",
            "InvokeEndpoint latency split into queue, model, explainer and total.",
            ["endpoint", "stage"],
            registry=r,
            buckets=_BUCKETS,
        )
        self.model_rows = Counter(
            "openclarify_model_rows",
            "Rows the model evaluated (records, synthetic and baseline rows).",
            ["endpoint"],
            registry=r,
        )
        self.explanations = Counter(
            "openclarify_explanations", "Explained records, exact or sampled.", ["endpoint", "kind"], registry=r
        )
        self.designs = Counter(
            "openclarify_coalition_designs",
            "Coalition designs of endpoints without a Seed: planned ahead between requests, or on the request.",
            ["endpoint", "source"],
            registry=r,
        )
        self._per_endpoint: list[tuple[Counter | Histogram, tuple[str, ...]]] = [
            (self.invocations, ("endpoint", "variant", "code")),
            (self.invocation_seconds, ("endpoint", "stage")),
            (self.model_rows, ("endpoint",)),
            (self.explanations, ("endpoint", "kind")),
            (self.designs, ("endpoint", "source")),
        ]

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def forget(self, endpoint: str) -> None:
        """Remove every series labelled with ``endpoint`` (names are case-insensitive, as the service keys them)."""
        name = endpoint.lower()
        for metric, labels in self._per_endpoint:
            children = {
                tuple(sample.labels[label] for label in labels)
                for family in metric.collect()
                for sample in family.samples
                if sample.labels["endpoint"] and sample.labels["endpoint"].lower() == name
            }
            for values in children:
                metric.remove(*values)

    def observe_invocation(
        self,
        endpoint: str,
        variant: str,
        code: str,
        seconds: float,
        stats: telemetry.InvocationStats,
        records: int,
        status: int,
        request_id: str | None,
    ) -> None:
        model_seconds = stats.model_seconds_until(time.perf_counter())
        explainer = max(0.0, seconds - model_seconds - stats.queue_seconds)
        # Deleted while this invocation ran: its series are gone (``forget``), and must not come back for good.
        label, variant_label = (endpoint, variant) if endpoint and self._is_current(endpoint) else ("", "")
        self.invocations.labels(label, variant_label, code).inc()
        self.invocation_seconds.labels(label, "total").observe(seconds)
        # Refused before reaching an endpoint: no queue, model or explainer time to speak of.
        if label:
            for stage, value in (("queue", stats.queue_seconds), ("model", model_seconds), ("explainer", explainer)):
                self.invocation_seconds.labels(label, stage).observe(value)
            self.model_rows.labels(label).inc(stats.model_rows)
            self.explanations.labels(label, "exact").inc(stats.explained_exact)
            self.explanations.labels(label, "sampled").inc(stats.explained_sampled)
            if stats.designs_ahead or stats.designs_on_request:
                self.designs.labels(label, "ahead").inc(stats.designs_ahead)
                self.designs.labels(label, "request").inc(stats.designs_on_request)
        # Also for a refused request: the client holds its request id, and the operator must find it here.
        log.info(
            json.dumps(
                {
                    "event": "invocation",
                    "request_id": request_id,
                    "endpoint": endpoint,
                    "variant": variant,
                    "status": status,
                    "code": code,
                    "records": records,
                    "explained": stats.explained_exact + stats.explained_sampled,
                    "exact": stats.explained_exact,
                    "model_rows": stats.model_rows,
                    "total_ms": round(seconds * 1e3, 2),
                    "queue_ms": round(stats.queue_seconds * 1e3, 2),
                    "model_ms": round(model_seconds * 1e3, 2),
                    "explainer_ms": round(explainer * 1e3, 2),
                },
                separators=(",", ":"),
            )
        )


def operation_of(scope: Scope) -> str:
    path: str = scope["path"]
    if path == "/" and scope["method"] == "POST":
        for key, value in scope.get("headers", ()):
            if key == b"x-amz-target":
                prefix, _, name = value.decode("latin-1").partition(".")
                # The header is the client's text, and each distinct label value is a series kept for good: only
                # the operations served here may name one (an unauthenticated client made up thousands).
                return name if prefix == "SageMaker" and name in OPERATIONS else "unknown"
        return "unknown"
    if _INVOKE.match(path):
        return "InvokeEndpoint"
    if path in ("/ping", "/metrics"):
        return path[1:]
    if path == "/-/precheck":
        return "precheck"
    return "console" if scope["method"] in ("GET", "HEAD") else "other"


class MetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        operation = operation_of(scope)
        started = time.perf_counter()
        status = 500
        headers: dict[bytes, bytes] = {}
        lines = 0
        last = b"\n"
        body = bytearray()

        async def counting_receive() -> Message:
            nonlocal lines, last
            message = await receive()
            chunk = message.get("body", b"")
            if chunk:
                lines += chunk.count(b"\n")
                last = chunk[-1:]
            return message

        async def keeping_receive() -> Message:
            message = await receive()
            if len(body) <= _DELETE_BODY_BYTES:
                body.extend(message.get("body", b""))
            return message

        async def watching_send(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = {k.lower(): v for k, v in message.get("headers", ())}
            await send(message)

        if operation != "InvokeEndpoint":
            try:
                await self.app(scope, keeping_receive if operation == "DeleteEndpoint" else receive, watching_send)
            finally:
                self._request(operation, status, started)
                if status >= 400:
                    _log_refusal(operation, status, headers)
                elif operation == "DeleteEndpoint":
                    self._forget_deleted(bytes(body))
            return
        with telemetry.collect() as stats:
            try:
                await self.app(scope, counting_receive, watching_send)
            finally:
                elapsed = time.perf_counter() - started
                self._request(operation, status, started)
                # The endpoint and variant the service routed to, not the URL's name: a made-up name is no label.
                endpoint, variant = stats.endpoint or "", stats.variant or ""
                code = _header(headers, b"x-amzn-errortype") or ("Success" if status < 400 else str(status))
                records = lines + (0 if last == b"\n" else 1)
                request_id = _header(headers, b"x-amzn-requestid")
                self.metrics.observe_invocation(endpoint, variant, code, elapsed, stats, records, status, request_id)

    def _request(self, operation: str, status: int, started: float) -> None:
        self.metrics.requests.labels(operation, str(status)).inc()
        self.metrics.request_seconds.labels(operation).observe(time.perf_counter() - started)

    def _forget_deleted(self, body: bytes) -> None:
        try:
            name = json.loads(body).get("EndpointName")
        except (ValueError, AttributeError):  # answered 200, so the router read it; nothing to act on otherwise
            return
        if isinstance(name, str):
            self.metrics.forget(name)


def _header(headers: dict[bytes, bytes], name: bytes) -> str | None:
    value = headers.get(name)
    return value.decode("latin-1") if value else None


def _log_refusal(operation: str, status: int, headers: dict[bytes, bytes]) -> None:
    """One line per refused request, refusals by the middleware (signature, body size, browser guard) included:
    what a client quoting its request id is asking about. The server's own failures were logged with a traceback
    by the handler, under the same id."""
    line = {
        "event": "request",
        "request_id": _header(headers, b"x-amzn-requestid"),
        "operation": operation,
        "status": status,
        "code": _header(headers, b"x-amzn-errortype"),
    }
    request_log.info(json.dumps(line, separators=(",", ":")))


def routes(metrics: Metrics) -> list[Route]:
    async def endpoint(request: Request) -> Response:
        return Response(metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return [Route("/metrics", endpoint, methods=["GET"])]
