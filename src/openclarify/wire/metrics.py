"""Prometheus metrics at ``GET /metrics`` and one structured log line per invocation.

:class:`MetricsMiddleware` wraps every route (outside authentication, so refused requests count too). Each app has
its own :class:`Metrics` registry: no process-global state, so tests can build many apps.

- ``openclarify_requests_total{operation,status}`` and ``openclarify_request_seconds{operation}``: every HTTP
  request, by API operation (``CreateModel``, ``InvokeEndpoint``, ...; ``console``, ``metrics``, ``ping`` for the
  rest) and HTTP status.
- ``openclarify_invocations_total{endpoint,variant,code}``: InvokeEndpoint by outcome (``Success`` or the AWS
  error code). ``endpoint`` and ``variant`` are empty for a request that reached no endpoint (an unknown name, a
  refused signature): the series stay as many as the endpoints, whatever names requests make up. Such requests
  count here and in the ``total`` stage only.
- ``openclarify_invocation_seconds{endpoint,stage}``: ``stage`` is ``queue`` (waiting for a free instance),
  ``model`` (inside the model: in-process predict or the container's answer, summed over calls), ``explainer``
  (the rest: parsing, synthetic rows, the Kernel SHAP solve, the response), or ``total``.
- ``openclarify_model_rows_total{endpoint}``: rows the model evaluated (records, synthetic and baseline rows).
- ``openclarify_explanations_total{endpoint,kind}``: explained records, ``kind`` ``exact`` or ``sampled``.
"""

from __future__ import annotations

import json
import logging
import re
import time

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from openclarify.services import telemetry

log = logging.getLogger("openclarify.invocations")

_INVOKE = re.compile(r"^/endpoints/([^/]+)/invocations$")
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    def __init__(self) -> None:
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

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def observe_invocation(
        self, endpoint: str, variant: str, code: str, seconds: float, stats: telemetry.InvocationStats, records: int
    ) -> None:
        explainer = max(0.0, seconds - stats.model_seconds - stats.queue_seconds)
        self.invocations.labels(endpoint, variant, code).inc()
        self.invocation_seconds.labels(endpoint, "total").observe(seconds)
        if not endpoint:  # refused before reaching an endpoint: no queue, model or explainer time to speak of
            return
        for stage, value in (("queue", stats.queue_seconds), ("model", stats.model_seconds), ("explainer", explainer)):
            self.invocation_seconds.labels(endpoint, stage).observe(value)
        self.model_rows.labels(endpoint).inc(stats.model_rows)
        self.explanations.labels(endpoint, "exact").inc(stats.explained_exact)
        self.explanations.labels(endpoint, "sampled").inc(stats.explained_sampled)
        if stats.designs_ahead or stats.designs_on_request:
            self.designs.labels(endpoint, "ahead").inc(stats.designs_ahead)
            self.designs.labels(endpoint, "request").inc(stats.designs_on_request)
        log.info(
            json.dumps(
                {
                    "event": "invocation",
                    "endpoint": endpoint,
                    "variant": variant,
                    "code": code,
                    "records": records,
                    "explained": stats.explained_exact + stats.explained_sampled,
                    "exact": stats.explained_exact,
                    "model_rows": stats.model_rows,
                    "total_ms": round(seconds * 1e3, 2),
                    "queue_ms": round(stats.queue_seconds * 1e3, 2),
                    "model_ms": round(stats.model_seconds * 1e3, 2),
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
                target = value.decode("latin-1")
                return target.partition(".")[2] or "unknown"
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

        async def counting_receive() -> Message:
            nonlocal lines, last
            message = await receive()
            chunk = message.get("body", b"")
            if chunk:
                lines += chunk.count(b"\n")
                last = chunk[-1:]
            return message

        async def watching_send(message: Message) -> None:
            nonlocal status, headers
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = {k.lower(): v for k, v in message.get("headers", ())}
            await send(message)

        if operation != "InvokeEndpoint":
            try:
                await self.app(scope, receive, watching_send)
            finally:
                self._request(operation, status, started)
            return
        with telemetry.collect() as stats:
            try:
                await self.app(scope, counting_receive, watching_send)
            finally:
                elapsed = time.perf_counter() - started
                self._request(operation, status, started)
                # The endpoint and variant the service routed to, not the URL's name: a made-up name is no label.
                endpoint, variant = stats.endpoint or "", stats.variant or ""
                code = headers.get(b"x-amzn-errortype", b"").decode("latin-1") or (
                    "Success" if status < 400 else str(status)
                )
                records = lines + (0 if last == b"\n" else 1)
                self.metrics.observe_invocation(endpoint, variant, code, elapsed, stats, records)

    def _request(self, operation: str, status: int, started: float) -> None:
        self.metrics.requests.labels(operation, str(status)).inc()
        self.metrics.request_seconds.labels(operation).observe(time.perf_counter() - started)


def routes(metrics: Metrics) -> list[Route]:
    async def endpoint(request: Request) -> Response:
        return Response(metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return [Route("/metrics", endpoint, methods=["GET"])]
