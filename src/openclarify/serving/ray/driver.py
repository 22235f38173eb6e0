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

from openclarify.app import Components, build_app, check_binding, configure_logging, is_loopback
from openclarify.settings import Settings
from openclarify.store import is_postgres_url

log = logging.getLogger("openclarify.ray")

INGRESS_APP = "openclarify"
# A named actor each ``serve --ray`` holds for as long as it runs (not detached: Ray ends it with the driver, even one
# killed with -9), so that a second driver on the same cluster and namespace finds the name taken.
DRIVER_ACTOR = "openclarify-serve-driver"


class RaySetupError(Exception):
    """Ray mode cannot start with these settings; the message says what to change."""


def replica_routes(components: Components) -> Sequence[BaseRoute]:
    """``GET /-/ray/replicas``: per endpoint and variant, how many model calls each replica process answered."""

    async def replicas(request: Request) -> JSONResponse:
        out: dict[str, dict[str, dict[str, int]]] = {}
        for row in await components.store.list_endpoints():
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
        from openclarify.process import HeapSettler, tune_for_serving
        from openclarify.serving.ray.runtime import ray_runtime

        configure_logging()
        tune_for_serving()
        return build_app(settings, route_factories=[replica_routes], runtime_factory=ray_runtime, heap=HeapSettler())

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

    configure_logging()
    init: dict[str, object] = {"address": settings.ray_address or "auto", "namespace": "openclarify"}
    if loopback:
        init["_node_ip_address"] = "127.0.0.1"
    ray.init(**init, log_to_driver=False)
    try:
        # Kept for the driver's lifetime: Ray ends an actor whose last handle goes, and its name with it.
        holder = _hold_the_driver_name(ray)
    except RaySetupError:
        ray.shutdown()
        raise
    stop = stop or threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        _start_serve(serve, settings)
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
        del holder  # the name goes with it (and with the driver, however it ends)
        ray.shutdown()


def _start_serve(serve, settings: Settings) -> None:
    """Start Serve's HTTP proxy on the driver's address, or say in one line why it did not come up.

    Serve's controller gives a new proxy 5 s to report ready, three times, then kills it; on a slow or busy node
    (measured: a 2-core machine with two other processes spinning) its start-up takes longer, and serve.start then
    fails with "The actor died unexpectedly", a traceback that names neither the cause nor the remedy.
    """
    from ray.exceptions import RayActorError

    try:
        serve.start(http_options={"host": settings.host, "port": settings.port})
    except (RayActorError, TimeoutError) as exc:
        raise RaySetupError(
            f"Ray Serve's HTTP proxy did not become ready on {settings.host}:{settings.port} "
            f"({type(exc).__name__}). On a slow or busy node its readiness check can run out (5 s by default): "
            "set RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S higher, e.g. 60, in the environment of 'ray start' on every "
            "node. The reason is in the Serve controller's log (logs/serve/controller_*.log of the Ray session)."
        ) from None


def _hold_the_driver_name(ray) -> object:
    """Refuse to run next to another live ``serve --ray`` on this cluster.

    Serve's proxy, its ``openclarify`` application and the model applications are the cluster's, not a driver's: a
    second driver used to take them over without a word (its own --port ignored), and when the first exited it
    deleted the applications the second was serving, leaving every request a 404. One driver at a time: a second
    one finds the name taken and says so. A driver that died left no name behind, so its successor starts and
    redeploys the applications it left running.
    """

    @ray.remote(num_cpus=0)
    class ServeDriver:
        def pid(self) -> int:
            return os.getpid()

    from ray.exceptions import ActorAlreadyExistsError

    try:
        holder = ServeDriver.options(name=DRIVER_ACTOR).remote()
        ray.get(holder.pid.remote())
        return holder
    except (ActorAlreadyExistsError, ValueError) as exc:  # the name is taken in this namespace (ValueError: older Ray)
        raise RaySetupError(
            "another 'openclarify serve --ray' is already running on this Ray cluster (it holds the Serve "
            "application 'openclarify' and its proxy): stop it first, then start this one. Two would share one "
            f"proxy and one set of applications, and the first to exit would delete them. ({exc})"
        ) from None


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
