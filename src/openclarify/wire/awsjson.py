"""AWS JSON 1.1, the control plane's protocol: request bodies in, compact JSON or an error envelope out.

Errors carry the code twice, in the body's ``__type`` (what botocore reads for JSON services) and in the
``X-Amzn-ErrorType`` header (what other SDKs read first). The HTTP status comes from the error shapes of
botocore's model when they declare one, else from the table below; anything unknown is 400, because botocore
retries 5xx and a deterministic failure must not be retried.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.responses import Response

from openclarify.clarify.records import MAX_DEPTH, too_deep
from openclarify.errors import SerializationError, ServiceError

CONTENT_TYPE = "application/x-amz-json-1.1"

_STATUS = {
    "InternalFailure": 500,
    "ServiceUnavailable": 503,
    "ThrottlingException": 400,
    "MissingAuthenticationTokenException": 403,
    "UnrecognizedClientException": 403,
    "InvalidSignatureException": 403,
    "IncompleteSignatureException": 400,
    "AccessDeniedException": 403,
    "ModelError": 424,
    "ModelNotReadyException": 429,
    "InternalDependencyException": 530,
}


def status_for(code: str, model_statuses: dict[str, int] | None = None) -> int:
    if model_statuses and code in model_statuses:
        return model_statuses[code]
    return _STATUS.get(code, 400)


def new_request_id() -> str:
    return str(uuid.uuid4())


def parse_body(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        params = json.loads(body, parse_constant=_not_json)
    except RecursionError:
        raise SerializationError(f"The request body nests JSON deeper than {MAX_DEPTH} levels.") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise SerializationError("The request body is not valid JSON.") from exc
    if not isinstance(params, dict):
        raise SerializationError("The request body must be a JSON object.")
    if too_deep(params, MAX_DEPTH):
        raise SerializationError(f"The request body nests JSON deeper than {MAX_DEPTH} levels.")
    return params


def _not_json(constant: str) -> Any:
    # Python reads NaN and Infinity, which JSON does not have: a body holding one is not JSON, whatever wrote it.
    raise ValueError(f"{constant} is not a JSON value")


def ok(payload: dict[str, Any], request_id: str) -> Response:
    body = json.dumps(payload, separators=(",", ":"), allow_nan=False)
    return Response(body, 200, {"x-amzn-RequestId": request_id}, media_type=CONTENT_TYPE)


def error(exc: ServiceError, status: int, request_id: str) -> Response:
    body = json.dumps({"__type": exc.code, "message": exc.message}, separators=(",", ":"))
    headers = {"x-amzn-RequestId": request_id, "X-Amzn-ErrorType": exc.code}
    return Response(body, status, headers, media_type=CONTENT_TYPE)
