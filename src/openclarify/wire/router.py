"""The route table and the control-plane dispatcher.

Routes are listed in one place (:func:`build_routes`); the invocation API adds its own through
``extra_routes``. Authentication wraps every route as middleware (:mod:`openclarify.wire.auth`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from openclarify.errors import InternalFailure, ServiceError, UnknownOperation
from openclarify.services.unimplemented import refuse_unimplemented
from openclarify.wire import awsjson
from openclarify.wire.sagemaker_api import OPERATIONS, ControlPlane
from openclarify.wire.spec import ShapeValidator

log = logging.getLogger(__name__)


def control_plane(cp: ControlPlane, validator: ShapeValidator) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        request_id = awsjson.new_request_id()
        try:
            body = await request.body()
            target = request.headers.get("x-amz-target", "")
            prefix, _, operation = target.partition(".")
            if prefix != "SageMaker" or operation not in OPERATIONS:
                raise UnknownOperation(f"Operation '{target or '(no X-Amz-Target)'}' is not supported by this server.")
            params = awsjson.parse_body(body)
            validator.validate(operation, params)
            refuse_unimplemented(operation, params)  # members the shapes allow and this server does not serve
            return awsjson.ok(await OPERATIONS[operation](cp, params), request_id)
        except ServiceError as exc:
            return awsjson.error(exc, awsjson.status_for(exc.code), request_id)
        except ClientDisconnect:  # the client went away mid-body: nobody to answer, nothing the server did wrong
            log.info("request %s: the client disconnected before sending its whole body", request_id)
            return Response(status_code=400)
        except Exception:
            log.exception("request %s failed", request_id)
            failure = InternalFailure("The server hit an internal error; see its log for request " + request_id)
            return awsjson.error(failure, 500, request_id)

    return endpoint


async def ping(request: Request) -> Response:
    return Response(status_code=200)


def build_routes(
    cp: ControlPlane,
    validator: ShapeValidator,
    extra_routes: Sequence[BaseRoute] = (),
) -> list[BaseRoute]:
    return [
        Route("/ping", ping, methods=["GET"]),
        Route("/", control_plane(cp, validator), methods=["POST"]),
        *extra_routes,
    ]
