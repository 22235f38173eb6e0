"""Composition root: builds the store, services and routes from :class:`Settings`, and runs them under uvicorn.

Nothing else constructs long-lived objects, so there is no global state: tests build as many independent apps
as they like.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from openclarify.process import HeapSettler
from openclarify.services import ArnFactory, EndpointConfigService, EndpointService, ModelService
from openclarify.services.endpoints import Preparer, RuntimeFactory
from openclarify.services.invocations import InvocationService
from openclarify.services.precheck import HostPolicy, PrecheckLimits, PrecheckService
from openclarify.services.store_thread import StoreThread
from openclarify.services.telemetry import instrument_runtimes
from openclarify.settings import Settings
from openclarify.store import open_store
from openclarify.web import console_routes
from openclarify.wire import metrics as wire_metrics
from openclarify.wire import precheck_api, runtime_api
from openclarify.wire.auth import SigV4Middleware
from openclarify.wire.body_limit import BodyLimitMiddleware
from openclarify.wire.browser_guard import BrowserGuardMiddleware, is_loopback
from openclarify.wire.router import build_routes
from openclarify.wire.sagemaker_api import OPERATIONS, ControlPlane
from openclarify.wire.sigv4 import SigV4Verifier
from openclarify.wire.spec import ShapeValidator

log = logging.getLogger("openclarify")

DB_FILE = "openclarify.db"


@dataclass(frozen=True)
class Components:
    """Everything build_app wired together; reachable as ``app.state.components``."""

    settings: Settings
    store: StoreThread
    """The store, each call run off the event loop."""
    control_plane: ControlPlane
    verifier: SigV4Verifier | None
    """None when no access keys are configured (authentication off)."""
    invocations: InvocationService
    metrics: wire_metrics.Metrics


def build_components(
    settings: Settings,
    preparers: Sequence[Preparer] = (),
    runtime_factory: RuntimeFactory | None = None,
    on_deployments_changed: Callable[[], None] | None = None,
) -> Components:
    store = open_store(settings.database_url, settings.data_dir / DB_FILE)
    # Before serving, not in the lifespan: a schema this version cannot use (a newer version's, a role without the
    # right to create tables) stops `serve` with one line, where uvicorn turned it into a traceback and exit 3.
    store.migrate()
    calls = StoreThread(store)
    arns = ArnFactory(settings.region, settings.account_id)
    roots = settings.resolved_model_roots()
    models = ModelService(calls, arns, roots, allowed_hosts=settings.container_allowed_hosts)
    configs = EndpointConfigService(calls, arns, models)
    endpoints = EndpointService(
        calls,
        arns,
        models,
        configs,
        model_roots=roots,
        startup_timeout_seconds=settings.container_startup_timeout_seconds,
        request_timeout_seconds=settings.invoke_deadline_seconds,
        grace_seconds=settings.create_grace_seconds,
        preparers=(instrument_runtimes, *preparers),  # first, so baselines are scored through it too
        runtime_factory=runtime_factory,
        on_change=on_deployments_changed,
    )
    invocations = InvocationService(
        endpoints,
        arns,
        model_roots=roots,
        deadline_seconds=settings.invoke_deadline_seconds,
        allow_https_baseline=settings.allow_https_baseline,
        prepare_timeout_seconds=settings.container_startup_timeout_seconds,
        max_text_units=settings.max_text_units,
        max_design_cells=settings.max_design_cells,
        max_queued_invocations=settings.max_queued_invocations,
    )
    endpoints.add_preparer(invocations.prepare)  # SHAP baselines load before an endpoint goes InService
    keys = settings.resolved_access_keys()
    verifier = SigV4Verifier(keys, max_skew_seconds=settings.clock_skew_seconds) if keys else None
    control = ControlPlane(models, configs, endpoints)
    metrics = wire_metrics.Metrics(is_current=endpoints.exists_here)
    return Components(settings, calls, control, verifier, invocations, metrics)


RouteFactory = Callable[[Components], Sequence[BaseRoute]]


def build_app(
    settings: Settings,
    *,
    route_factories: Sequence[RouteFactory] = (),
    preparers: Sequence[Preparer] = (),
    runtime_factory: RuntimeFactory | None = None,
    heap: HeapSettler | None = None,
) -> Starlette:
    """The ASGI app. ``route_factories`` add routes that need the wired components (e.g. the invocation API,
    which looks up live endpoints); ``preparers`` run before an endpoint goes InService; ``runtime_factory``
    builds each variant's model (Ray Serve replicas in ``serve --ray``); ``heap``, in a process that only serves,
    settles the heap after start-up and each change of deployments (``process.HeapSettler``)."""
    components = build_components(settings, preparers, runtime_factory, heap.soon if heap else None)
    validator = ShapeValidator()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        threading.Thread(target=validator.warm, args=(OPERATIONS,), name="warm-patterns", daemon=True).start()
        # Endpoints come back in the background: a slow model or a container that is down must not keep the server
        # from answering /ping and the control plane (EndpointService.restore).
        await components.control_plane.endpoints.restore()
        if heap is not None:
            heap.soon()
        try:
            yield
        finally:
            if heap is not None:
                heap.cancel()
            await components.control_plane.endpoints.shutdown()
            components.invocations.close()
            components.store.close()

    factories = [runtime_routes, metrics_routes, precheck_routes, *route_factories, web_routes]
    extra = [route for factory in factories for route in factory(components)]
    routes = build_routes(components.control_plane, validator, extra)
    middleware = [
        Middleware(wire_metrics.MetricsMiddleware, metrics=components.metrics),
        Middleware(
            BrowserGuardMiddleware,
            open_server=components.verifier is None,
            loopback_only=is_loopback(settings.host),
            trusted_hosts=settings.trusted_hosts,
        ),
        Middleware(BodyLimitMiddleware, max_seconds=settings.invoke_deadline_seconds),
        Middleware(SigV4Middleware, verifier=components.verifier),
    ]
    app = Starlette(routes=routes, middleware=middleware, lifespan=lifespan)
    app.state.components = components
    return app


def runtime_routes(components: Components) -> Sequence[BaseRoute]:
    """InvokeEndpoint: ``POST /endpoints/{EndpointName}/invocations``."""
    return runtime_api.routes(components.invocations)


def metrics_routes(components: Components) -> Sequence[BaseRoute]:
    """Prometheus metrics: ``GET /metrics``."""
    return wire_metrics.routes(components.metrics)


def precheck_routes(components: Components) -> Sequence[BaseRoute]:
    """The container pre-check: ``POST /-/precheck`` (docs/precheck.md)."""
    settings = components.settings
    service = PrecheckService(
        models=components.control_plane.models,
        model_roots=settings.resolved_model_roots(),
        hosts=HostPolicy(settings.precheck_allowed_hosts),
        limits=PrecheckLimits(
            total_seconds=settings.precheck_timeout_seconds,
            request_timeout_seconds=min(settings.precheck_timeout_seconds, 30.0),
            timing_seconds=settings.precheck_timeout_seconds / 10,
            max_running=settings.max_running_prechecks,
        ),
    )
    return precheck_api.routes(service)


def web_routes(components: Components) -> Sequence[BaseRoute]:
    """The web console at ``/``, only while authentication is off (docs/console.md): a browser cannot sign
    requests with SigV4, and the console must never widen what an unauthenticated caller can do."""
    if components.verifier is not None or not components.settings.console:
        return []
    cp = components.control_plane
    return console_routes(cp)


class UnsafeBinding(Exception):
    """Refusing to expose an unauthenticated server beyond this machine."""


def check_binding(settings: Settings) -> None:
    """Without access keys only loopback is allowed, unless ``insecure`` says otherwise (then we warn)."""
    if settings.resolved_access_keys():
        return
    if is_loopback(settings.host):
        log.warning("No access keys configured: requests are not authenticated (loopback only).")
        return
    if not settings.insecure:
        raise UnsafeBinding(
            f"Refusing to listen on {settings.host} without access keys: anyone who can reach it could deploy "
            "models. Configure OPENCLARIFY_ACCESS_KEYS or a credentials file, or pass --insecure."
        )
    log.warning("--insecure: listening on %s WITHOUT authentication.", settings.host)


def configure_logging() -> None:
    """The server's logging, in every process that serves (``serve``, and Ray's driver and ingress replica)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # httpx logs every call to a model container at INFO, several per explained request: its warnings only.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def run(settings: Settings) -> None:
    import uvicorn

    from openclarify.process import tune_for_serving

    configure_logging()
    tune_for_serving()  # one BLAS thread, and large temporary arrays that do not page-fault (openclarify.process)
    # Opens and migrates the store: a database it cannot use stops the start first.
    app = build_app(settings, heap=HeapSettler())
    check_binding(settings)  # then the binding, which may warn
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="info", access_log=False)


class BackgroundServer:
    """The app under uvicorn in a daemon thread, for ``openclarify demo`` and in-process tests.

    ``start()`` returns once the server accepts connections; ``stop()`` shuts it down (lifespan included)."""

    def __init__(self, app: Starlette, host: str, port: int) -> None:
        import uvicorn

        self.host, self.port = host, port
        config = uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="openclarify-server", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> BackgroundServer:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start on {self.url}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(15)
