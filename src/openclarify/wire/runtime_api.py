"""The runtime API (``sagemaker-runtime``, rest-json): ``POST /endpoints/{EndpointName}/invocations``.

Request headers map to InvokeEndpoint members (spec §3.1), checked against the service model's constraints as AWS
checks them; the response carries ``Content-Type``, ``x-Amzn-Invoked-Production-Variant`` and
``X-Amzn-SageMaker-Custom-Attributes`` (spec §3.2). InvokeEndpointAsync and InvokeEndpointWithResponseStream are
routed only to be refused in SageMaker's error shape.

Errors: botocore reads a rest-json error's code from the ``x-amzn-ErrorType`` header (spec §3.4), so every error
sends it; the body follows AWS's runtime shape (``ErrorCode``, ``Message``, and for ModelError
``OriginalStatusCode``, ``OriginalMessage``, ``LogStreamArn``, which botocore copies into ``e.response``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from openclarify.errors import InternalFailure, ModelError, ServiceError, ValidationError
from openclarify.services.invocations import InvocationService, InvokeRequest, InvokeResponse
from openclarify.wire import awsjson
from openclarify.wire.spec import ShapeValidator, runtime_model

log = logging.getLogger(__name__)

PATH = "/endpoints/{EndpointName}/invocations"
# The paths of botocore's other sagemaker-runtime operations, which are refused (services.invocations).
ASYNC_PATH = "/endpoints/{EndpointName}/async-invocations"
STREAM_PATH = "/endpoints/{EndpointName}/invocations-response-stream"
CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
# The scope state key under which wire.body_limit leaves when the request arrived: its deadline counts from there.
RECEIVED_AT = "openclarify_received_at"
INVOKED_VARIANT = "x-Amzn-Invoked-Production-Variant"


_RUNTIME = ShapeValidator(runtime_model())
_INPUT = _RUNTIME.model.operation_model("InvokeEndpoint").input_shape
# Header → member, as the service model carries InvokeEndpoint's members. Each is checked against the model's
# constraints (lengths, patterns) as AWS checks them on the server, boto3 checking only minimums: a non-ASCII
# ContentType, Accept or CustomAttributes, sent on, failed as a 500 when forwarded to a model container.
HEADER_MEMBERS: dict[str, str] = {
    shape.serialization["name"]: name
    for name, shape in _INPUT.members.items()
    if shape.serialization.get("location") == "header"
}
# Members checked and then without effect here: PrefixAwareId routes a request under RoutingStrategy PREFIX_AWARE
# only, which CreateEndpointConfig refuses (docs/invocations.md). Every other header member fills an InvokeRequest
# field of its snake_case name (a test holds the model to this).
WITHOUT_EFFECT = frozenset({"PrefixAwareId"})


def field_name(member: str) -> str:
    """InvokeRequest's field for a member: ``ContentType`` → ``content_type``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", member).lower()


def routes(service: InvocationService) -> list[Route]:
    """Authentication (SigV4) wraps every route as middleware; handlers see verified requests only."""
    return [
        Route(PATH, invocations(service), methods=["POST"]),
        Route(ASYNC_PATH, unserved(service, "InvokeEndpointAsync"), methods=["POST"]),
        Route(STREAM_PATH, unserved(service, "InvokeEndpointWithResponseStream"), methods=["POST"]),
    ]


def unserved(service: InvocationService, operation: str) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        request_id = awsjson.new_request_id()
        try:
            await service.refuse_operation(operation, request.path_params["EndpointName"])
        except ServiceError as exc:
            return error(exc, request_id)
        except Exception:
            log.exception("%s %s failed", operation, request_id)
            return error(
                InternalFailure(f"The server hit an internal error; see its log for request {request_id}."), request_id
            )

    return endpoint


def invocations(service: InvocationService) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        request_id = awsjson.new_request_id()
        try:
            body = await request.body()  # at most 6 MiB (wire.body_limit)
            received_at = request.scope.get("state", {}).get(RECEIVED_AT)
            invoke = InvokeRequest(**_members(request, body), received_at=received_at)
            answer = await _while_connected(request, service.invoke(invoke))
            if answer is None:
                log.info("invocation %s: the client disconnected; its work was stopped", request_id)
                return Response(status_code=400)
        except ServiceError as exc:
            return error(exc, request_id)
        except ClientDisconnect:  # the client went away mid-body: nobody to answer, nothing the server did wrong
            log.info("invocation %s: the client disconnected before sending its whole body", request_id)
            return Response(status_code=400)
        except Exception:
            log.exception("invocation %s failed", request_id)
            return error(
                InternalFailure(f"The server hit an internal error; see its log for request {request_id}."), request_id
            )
        headers = {"x-amzn-RequestId": request_id, INVOKED_VARIANT: answer.invoked_variant}
        if answer.content_type:
            headers["Content-Type"] = answer.content_type
        if answer.custom_attributes:
            headers[CUSTOM_ATTRIBUTES] = answer.custom_attributes
        return Response(answer.body, 200, headers, background=_after(answer.after))

    return endpoint


async def _while_connected(request: Request, work: Awaitable[InvokeResponse]) -> InvokeResponse | None:
    """``work``'s answer, or None once the client has gone: its invocation is then cancelled, which gives its slot
    back and stops its explanation at the next check. A client that gave up used to keep both until the deadline,
    so its retries queued behind its own abandoned work and were refused with 503.

    The work runs in this task and one watcher task waits for the disconnect: an anyio task group of both cost about
    0.25 ms per invocation (medians of 400 explained invocations in the server), this 0.01."""
    task = asyncio.current_task()
    assert task is not None
    gone = False

    async def watch() -> None:
        nonlocal gone
        # After the whole body, the next message is the disconnect, whenever it comes (wire.body_limit passes later
        # calls through without a time limit).
        try:
            while (await request.receive())["type"] != "http.disconnect":
                pass
        except Exception:  # nobody awaits this task: a failure here would only be reported when it is collected
            log.exception("invocation: watching for the client's disconnect failed; the invocation goes on")
            return
        gone = True
        task.cancel()

    # This task yields only inside ``work``, so the watcher's cancel always lands there: once ``work`` has returned, the
    # watcher is cancelled before it can run again.
    watcher = asyncio.ensure_future(watch())
    try:
        return await work
    except asyncio.CancelledError:
        if not gone:
            raise  # the server's own cancellation (shutdown): not ours to swallow
        task.uncancel()
        return None
    finally:
        watcher.cancel()


def _members(request: Request, body: bytes) -> dict[str, Any]:
    """The request's members as InvokeRequest's fields, every one checked against the model first (all violations
    listed, as AWS lists them)."""
    params: dict[str, Any] = {"EndpointName": request.path_params["EndpointName"], "Body": body}
    for header, member in HEADER_MEMBERS.items():
        value = request.headers.get(header)
        if value is not None:
            params[member] = _text(value)
    _RUNTIME.validate("InvokeEndpoint", params, ValidationError)
    return {field_name(member): value for member, value in params.items() if member not in WITHOUT_EFFECT}


def _text(value: str) -> str:
    """A header's text. ASGI hands header bytes over as latin-1; a client that sent UTF-8 (an EnableExplanations
    expression with an "é", say) meant those characters, and its value would otherwise be echoed as "Ã©". Bytes
    that are not UTF-8 stay as latin-1 read them."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def _after(work: Callable[[], None] | None) -> BackgroundTask | None:
    """``work`` to run once the response has been sent, on the event loop (it only hands work to a thread)."""
    if work is None:
        return None

    async def run() -> None:
        work()

    return BackgroundTask(run)


def error(exc: ServiceError, request_id: str) -> Response:
    payload: dict[str, Any] = {"ErrorCode": exc.code, "Message": exc.message.strip()}
    if isinstance(exc, ModelError):
        status_code = exc.original_status_code
        payload["ErrorCode"] = (
            "CLIENT_ERROR_FROM_MODEL" if status_code is not None and status_code < 500 else "SERVER_ERROR_FROM_MODEL"
        )
        if status_code is not None:
            payload["OriginalStatusCode"] = status_code
        if exc.original_message is not None:
            payload["OriginalMessage"] = exc.original_message
        if "LogStreamArn" in exc.details:
            payload["LogStreamArn"] = exc.details["LogStreamArn"]
    body = json.dumps(payload, separators=(",", ":"))
    headers = {"x-amzn-RequestId": request_id, "x-amzn-ErrorType": exc.code, "Content-Type": "application/json"}
    if "RetryAfter" in exc.details:  # a busy variant: when to try again, in seconds
        headers["Retry-After"] = str(exc.details["RetryAfter"])
    return Response(body, awsjson.status_for(exc.code), headers)
