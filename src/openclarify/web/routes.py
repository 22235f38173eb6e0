"""Console routes. Every page is a view function returning ``(template, context)``; the same context, as JSON, is
the page's twin at the same path plus ``.json`` (``/`` ↔ ``/.json``). Handlers stay thin: data comes from the
control-plane operations (the exact dicts DescribeModel, DescribeEndpointConfig, DescribeEndpoint answer), and
the playground and pre-check pages call the server's own APIs from the browser."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from openclarify.errors import ServiceError
from openclarify.web import explainer
from openclarify.wire.sagemaker_api import OPERATIONS, ControlPlane

STATIC = Path(__file__).parent / "static"
EXTENDED = "openclarify-extended=true"
PRECHECK_PATH = "/-/precheck"

Context = dict[str, Any]
View = Callable[[ControlPlane, Request], Awaitable[tuple[str, Context]]]


class NotFound(Exception):
    pass


def _env() -> Environment:
    env = Environment(loader=PackageLoader("openclarify.web", "templates"), autoescape=select_autoescape())
    env.filters["when"] = _when
    env.filters["tojson_script"] = lambda v: Markup(json.dumps(v).replace("</", "<\\/"))
    return env


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
    deployed = cp.endpoints.describe(described["EndpointName"]).deployment["config"]
    return "endpoint.html", {"endpoint": described, "explainer": explainer.summary(deployed)}


async def playground(cp: ControlPlane, request: Request) -> tuple[str, Context]:
    described = await _call(cp, "DescribeEndpoint", {"EndpointName": request.path_params["name"]})
    name = described["EndpointName"]
    deployed = cp.endpoints.describe(name).deployment["config"]
    spec = explainer.playground_spec(deployed)
    spec.update(
        endpoint=name,
        status=described["EndpointStatus"],
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


def _page(view: View, cp: ControlPlane, env: Environment, as_json: bool) -> Callable[[Request], Awaitable[Response]]:
    async def handler(request: Request) -> Response:
        try:
            template, context = await view(cp, request)
        except NotFound as exc:
            if as_json:
                return JSONResponse({"error": str(exc)}, status_code=404)
            html = env.get_template("not_found.html").render(message=str(exc), json_url=None)
            return HTMLResponse(html, status_code=404)
        context = _plain(context)
        if as_json:
            return JSONResponse(context)
        json_url = request.url.path.rstrip("/") + ".json" if request.url.path != "/" else "/.json"
        return HTMLResponse(env.get_template(template).render(json_url=json_url, **context))

    return handler


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
    return routes
