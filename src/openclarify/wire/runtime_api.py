"""The runtime API (``sagemaker-runtime``, rest-json): ``POST /endpoints/{EndpointName}/invocations``.

Request headers map to InvokeEndpoint members (spec §3.1); the response carries ``Content-Type``,
``x-Amzn-Invoked-Production-Variant`` and ``X-Amzn-SageMaker-Custom-Attributes`` (spec §3.2).

Errors: botocore reads a rest-json error's code from the ``x-amzn-ErrorType`` header (spec §3.4), so every error
sends it; the body follows AWS's runtime shape (``ErrorCode``, ``Message``, and for ModelError
``OriginalStatusCode``, ``OriginalMessage``, ``LogStreamArn``, which botocore copies into ``e.response``).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.background import BackgroundTask
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from openclarify.errors import InternalFailure, ModelError, ServiceError, ValidationError, java_str
from openclarify.services.invocations import InvocationService, InvokeRequest
from openclarify.wire import awsjson

log = logging.getLogger(__name__)

PATH = "/endpoints/{EndpointName}/invocations"
CUSTOM_ATTRIBUTES = "X-Amzn-SageMaker-Custom-Attributes"
INVOKED_VARIANT = "x-Amzn-Invoked-Production-Variant"

# Header → (member, max length), from the service model's input shape.
_HEADERS: dict[str, tuple[str, int]] = {
    "Content-Type": ("content_type", 1024),
    "Accept": ("accept", 1024),
    CUSTOM_ATTRIBUTES: ("custom_attributes", 1024),
    "X-Amzn-SageMaker-Target-Variant": ("target_variant", 63),
    "X-Amzn-SageMaker-Target-Model": ("target_model", 1024),
    "X-Amzn-SageMaker-Inference-Id": ("inference_id", 64),
    "X-Amzn-SageMaker-Enable-Explanations": ("enable_explanations", 64),
    "X-Amzn-SageMaker-Inference-Component": ("inference_component_name", 63),
    "X-Amzn-SageMaker-Session-Id": ("session_id", 256),
    "X-Amzn-SageMaker-Target-Container-Hostname": ("target_container_hostname", 63),
}


def routes(service: InvocationService) -> list[Route]:
    """Authentication (SigV4) wraps every route as middleware; handlers see verified requests only."""
    return [Route(PATH, invocations(service), methods=["POST"])]


def invocations(service: InvocationService) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        request_id = awsjson.new_request_id()
        try:
            body = await request.body()  # at most 6 MiB (wire.body_limit)
            members: dict[str, Any] = {}
            for header, (member, limit) in _HEADERS.items():
                value = request.headers.get(header)
                if value is None:
                    continue
                value = _text(value)
                if len(value) > limit:
                    # In AWS's words: the value quoted, at the member's lowerCamelCase name.
                    raise ValidationError(
                        f"1 validation error detected: Value '{java_str(value)}' at '{_camel(member)}' failed to "
                        f"satisfy constraint: Member must have length less than or equal to {limit}"
                    )
                members[member] = value
            invoke = InvokeRequest(endpoint_name=request.path_params["EndpointName"], body=body, **members)
            answer = await service.invoke(invoke)
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


def _text(value: str) -> str:
    """A header's text. ASGI hands header bytes over as latin-1; a client that sent UTF-8 (an EnableExplanations
    expression with an "é", say) meant those characters, and its value would otherwise be echoed as "Ã©". Bytes
    that are not UTF-8 stay as latin-1 read them."""
    try:
        return value.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return value


def _camel(member: str) -> str:
    first, *rest = member.split("_")
    return first + "".join(word.capitalize() for word in rest)


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
