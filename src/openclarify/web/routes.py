"""Console routes. Every page is a view function returning ``(template, context)``; the same context, as JSON, is
the page's twin at the same path plus ``.json`` (``/`` ↔ ``/.json``). Handlers stay thin: data comes from the
control-plane operations (the exact dicts DescribeModel, DescribeEndpointConfig, DescribeEndpoint answer), and
the playground and pre-check pages call the server's own APIs from the browser. A GET path no route serves gets the
console's own 404 page (JSON for ``.json`` paths)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.datastructures import URLPath
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Match, Mount, NoMatchFound, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from openclarify.errors import ServiceError
from openclarify.web import explainer
from openclarify.wire.sagemaker_api import OPERATIONS, ControlPlane

STATIC = Path(__file__).parent / "static"
EXTENDED = "openclarify-extended=true"
PRECHECK_PATH = "/-/precheck"
# An endpoint being updated keeps serving its current deployment, as on SageMaker: every page offers the playground,
# and the playground lets Invoke run, for exactly these.
SERVING = ("InService", "Updating")

Context = dict[str, Any]
View = Callable[[ControlPlane, Request], Awaitable[tuple[str, Context]]]


class NotFound(Exception):
    pass


def _env() -> Environment:
    # JSON inside <script> blocks goes through Jinja's own ``tojson``: it escapes <, >, & and ' so that no value
    # (a FeatureHeader "<!--<script>", say) can end the block or turn the rest of the page into script.
    env = Environment(loader=PackageLoader("openclarify.web", "templates"), autoescape=select_autoescape())
    env.filters["when"] = _when
    env.filters["as_submitted"] = _as_submitted
    env.filters["weight"] = _weight
    env.tests["serving"] = lambda status: status in SERVING
    return env


def _as_submitted(value: Any) -> str:
    """JSON for a person to read, as it was sent: keys in their order, characters as they are. A plain string, so
    autoescape makes it safe for HTML exactly once (``tojson`` is for <script> blocks: it sorts keys and writes
    ``<`` as ``\\u003c``, which a <pre> would show literally)."""
    return json.dumps(value, indent=2, ensure_ascii=False)


def _weight(value: Any) -> str:
    """InitialVariantWeight as the float it is: 0.0 is a real weight (the variant gets no traffic); absent means the
    API's default, 1.0."""
    return "1.0 (default)" if value is None else repr(float(value))


def _when(value: Any) -> str:
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    return str(value or "")


def _plain(value: Any) -> Any:
    """JSON-safe: datetimes as ISO strings (the operations answer epoch floats already)."""
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


async def _call(cp: ControlPlane, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    try:
        return await OPERATIONS[operation](cp, params)
    except ServiceError as exc:  # Describe* answer ValidationException "Could not find ..." for unknown names
        raise NotFound(exc.message) from exc


async def _all(cp: ControlPlane, operation: str, key: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    params: dict[str, Any] = {"MaxResults": 100}
    while True:
        page = await OPERATIONS[operation](cp, params)
        items += page[key]
        if not page.get("NextToken"):
            return items
        params = {"MaxResults": 100, "NextToken": page["NextToken"]}


# -- views ------------------------------------------------------------------------------------------------------


async def index(cp: ControlPlane, request: Request) -> tuple[str, Context]:
    return "index.html", {
        "endpoints": await _all(cp, "ListEndpoints", "Endpoints"),
        "endpoint_configs": await _all(cp, "ListEndpointConfigs", "EndpointConfigs"),
        "models": await _all(cp, "ListModels", "Models"),
    }


async def model(cp: ControlPlane, request: Request) -> tuple[str, Context]:
    return "model.html", {"model": await _call(cp, "DescribeModel", {"ModelName": request.path_params["name"]})}


async def endpoint_config(cp: ControlPlane, request: Request) -> tuple[str, Context]:
    config = await _call(cp, "DescribeEndpointConfig", {"EndpointConfigName": request.path_params["name"]})
    return "endpoint_config.html", {"endpoint_config": config, "explainer": explainer.summary(config)}


async def endpoint(cp: ControlPlane, request: Request) -> tuple[str, Context]:
    described = await _call(cp, "DescribeEndpoint", {"EndpointName": request.path_params["name"]})
    deployed = (await cp.endpoints.describe(described["EndpointName"])).deployment["config"]
    return "endpoint.html", {"endpoint": described, "explainer": explainer.summary(deployed)}


async def playground(cp: ControlPlane, request: Request) -> tuple[str, Context]:
    described = await _call(cp, "DescribeEndpoint", {"EndpointName": request.path_params["name"]})
    name = described["EndpointName"]
    deployed = (await cp.endpoints.describe(name)).deployment["config"]
    spec = explainer.playground_spec(deployed)
    spec.update(
        endpoint=name,
        status=described["EndpointStatus"],
        serving=described["EndpointStatus"] in SERVING,
        invoke_url=f"/endpoints/{name}/invocations",
        custom_attributes=EXTENDED,
    )
    return "playground.html", {"endpoint": described, "playground": spec}


async def precheck(cp: ControlPlane, request: Request) -> tuple[str, Context]:
    return "precheck.html", {
        "api": PRECHECK_PATH,
        "request_fields": {
            "container_url": "URL of a running container that follows SageMaker's inference contract",
            "records": "a few sample records, one per line (CSV or JSON Lines)",
            "content_type": "text/csv or application/jsonlines (optional)",
            "accept": "Accept header to send (optional)",
            "features_attribute": "JMESPath to the features in a JSON Lines record (optional)",
        },
    }


# -- plumbing ---------------------------------------------------------------------------------------------------


def _not_found(env: Environment, message: str, as_json: bool) -> Response:
    if as_json:
        return JSONResponse({"error": message}, status_code=404)
    return HTMLResponse(env.get_template("not_found.html").render(message=message, json_url=None), status_code=404)


def _page(view: View, cp: ControlPlane, env: Environment, as_json: bool) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        try:
            template, context = await view(cp, request)
        except NotFound as exc:
            return _not_found(env, str(exc), as_json)
        context = _plain(context)
        if as_json:
            return JSONResponse(context)
        json_url = request.url.path.rstrip("/") + ".json" if request.url.path != "/" else "/.json"
        return HTMLResponse(env.get_template(template).render(json_url=json_url, **context))

    return handler


class _Unknown(BaseRoute):
    """GET paths no route serves get the console's 404 page (JSON for ``.json`` paths) instead of the router's
    plain text. Listed last, it matches only PARTIALly, the way the router marks "this path, another method": a
    route that knows the path under another method still answers first (GET /-/precheck stays a 405). It steps
    aside when adding or removing a trailing slash finds a route, so the router's redirect happens as before."""

    def __init__(self, env: Environment) -> None:
        self.env = env

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD") or self._slash_redirects(scope):
            return Match.NONE, {}
        return Match.PARTIAL, {}

    def _slash_redirects(self, scope: Scope) -> bool:
        router, path = scope["router"], scope["path"]
        if path == "/" or not router.redirect_slashes:
            return False
        other = {**scope, "path": path.rstrip("/") if path.endswith("/") else path + "/"}
        return any(r is not self and r.matches(other)[0] is not Match.NONE for r in router.routes)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        raise NoMatchFound(name, path_params)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope["path"]
        response = _not_found(self.env, f"There is no console page at {path}.", as_json=path.endswith(".json"))
        await response(scope, receive, send)


async def favicon(request: Request) -> Response:
    """Console pages carry their icon inline (base.html), so browsers ask for /favicon.ico only on pages that have
    none, such as the JSON twins: answer "nothing here" (204) rather than a 404 in every log and metric."""
    return Response(status_code=204)


PAGES: tuple[tuple[str, View], ...] = (
    ("/models/{name}", model),
    ("/endpoint-configs/{name}", endpoint_config),
    ("/endpoints/{name}/playground", playground),
    ("/endpoints/{name}", endpoint),
    ("/precheck", precheck),
)


def console_routes(cp: ControlPlane) -> list[BaseRoute]:
    env = _env()
    routes: list[BaseRoute] = [
        Route("/", _page(index, cp, env, False), methods=["GET"]),
        Route("/.json", _page(index, cp, env, True), methods=["GET"]),
    ]
    for path, view in PAGES:  # the .json twin first: "{name}" would also match "x.json"
        routes.append(Route(path + ".json", _page(view, cp, env, True), methods=["GET"]))
        routes.append(Route(path, _page(view, cp, env, False), methods=["GET"]))
    routes.append(Mount("/-/static", StaticFiles(directory=STATIC), name="static"))
    routes.append(Route("/favicon.ico", favicon, methods=["GET"]))
    routes.append(_Unknown(env))  # last: see its docstring
    return routes
