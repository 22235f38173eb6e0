"""The ``serve --ray`` process: connects to a Ray cluster, deploys the ingress on Serve's proxy, waits, cleans up."""

from __future__ import annotations

import logging
import os
import signal
import threading
from collections.abc import Sequence

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from openclarify.app import Components, build_app, check_binding, is_loopback
from openclarify.settings import Settings
from openclarify.store import is_postgres_url

log = logging.getLogger("openclarify.ray")

INGRESS_APP = "openclarify"


class RaySetupError(Exception):
    """Ray mode cannot start with these settings; the message says what to change."""


def replica_routes(components: Components) -> Sequence[BaseRoute]:
    """``GET /-/ray/replicas``: per endpoint and variant, how many model calls each replica process answered."""

    async def replicas(request: Request) -> JSONResponse:
        out: dict[str, dict[str, dict[str, int]]] = {}
        for row in components.store.list_endpoints():
            live = components.control_plane.endpoints.live(row.name)
            if live is None:
                continue
            out[row.name] = {
                v.name: {str(pid): n for pid, n in getattr(v.runtime, "calls_by_pid", {}).items()}
                for v in live.variants
            }
        return JSONResponse(out)

    return [Route("/-/ray/replicas", replicas, methods=["GET"])]


def ingress_builder(settings: Settings):
    """Runs in the ingress replica: the same ASGI app as ``openclarify serve``, with Ray-backed runtimes."""

    def build():
        from openclarify.process import tune_for_serving
        from openclarify.serving.ray.runtime import ray_runtime

        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        tune_for_serving()
        return build_app(settings, route_factories=[replica_routes], runtime_factory=ray_runtime)

    return build


def check_settings(settings: Settings) -> None:
    if not settings.database_url or not is_postgres_url(settings.database_url):
        raise RaySetupError(
            "--ray needs --database-url postgresql://...: the control-plane state must outlive any one replica "
            "and be shared with every node (docs/scaling.md)."
        )


def run(settings: Settings, *, stop: threading.Event | None = None) -> None:
    check_settings(settings)
    check_binding(settings)
    loopback = is_loopback(settings.host)
    if loopback:
        # Keep every Ray listener of this driver on 127.0.0.1 (Ray would otherwise resolve a routable address).
        os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")
    import ray
    from ray import serve

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    init: dict[str, object] = {"address": settings.ray_address or "auto", "namespace": "openclarify"}
    if loopback:
        init["_node_ip_address"] = "127.0.0.1"
    ray.init(**init, log_to_driver=False)
    stop = stop or threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        serve.start(http_options={"host": settings.host, "port": settings.port})
        ingress = serve.deployment(
            serve.ingress(ingress_builder(settings))(type("OpenClarifyIngress", (), {})),
            name="ingress",
            num_replicas=1,  # the control plane: one replica owns the endpoint lifecycle
            max_ongoing_requests=1000,
            ray_actor_options={"num_cpus": 0.25},
        )
        serve.run(ingress.bind(), name=INGRESS_APP, route_prefix="/")
        log.info("openclarify is serving through Ray Serve at http://%s:%d", settings.host, settings.port)
        stop.wait()
    finally:
        _delete_apps(serve)
        ray.shutdown()


def _delete_apps(serve) -> None:
    """Remove this server's applications (the ingress first, which closes its model applications)."""
    from openclarify.serving.ray.runtime import APP_PREFIX

    try:
        serve.delete(INGRESS_APP)
        for name in serve.status().applications:
            if name.startswith(APP_PREFIX):
                serve.delete(name)
    except Exception:
        log.exception("cleaning up the Ray Serve applications failed")
