"""``POST /-/precheck``: the container pre-check over HTTP (docs/precheck.md), for the web console and scripts.

Request JSON::

    {"container_url": str, "records": str, "content_type": str|null, "accept": str|null,
     "features_attribute": str|null}

with ``"image"`` + ``"model_data"`` or ``"model_name"`` instead of ``container_url``. ``content_type`` and
``accept`` may list several values separated by commas; each is tried.

Answer JSON (200 whether or not the container passes; ``ok`` says)::

    {"ok": bool, "findings": [{"level": "ok"|"warn"|"error", "message": str}],
     "explainer_config": {...}|null, "estimates": {...}}

A request that cannot be checked (malformed JSON, a URL the server may not call, too large a sample, an unknown
model) answers 400 with the same shape: ``ok`` false and one error finding. Authentication (SigV4, when keys are
configured) covers this route like every other.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from openclarify.errors import ServiceError, ValidationException
from openclarify.services.precheck import PrecheckRequest, PrecheckService, Target

log = logging.getLogger(__name__)

PATH = "/-/precheck"
MAX_REQUEST_BYTES = 2 * 1024 * 1024
_STRINGS = (
    "container_url",
    "records",
    "content_type",
    "accept",
    "features_attribute",
    "image",
    "model_data",
    "model_name",
)


def routes(service: PrecheckService) -> list[Route]:
    return [Route(PATH, handler(service), methods=["POST"])]


def handler(service: PrecheckService) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
                raise ValidationException(f"The request is {declared} bytes; the pre-check takes at most 2 MiB.")
            body = await request.body()
            if len(body) > MAX_REQUEST_BYTES:
                raise ValidationException("The request is larger than 2 MiB; the pre-check takes at most 2 MiB.")
            report = await service.run(parse_request(body))
        except ServiceError as exc:
            return _answer(_failure(exc.message), 400)
        except Exception:
            log.exception("pre-check failed")
            return _answer(_failure("The server hit an internal error during the pre-check; see its log."), 500)
        return _answer(report.as_dict(), 200)

    return endpoint


def parse_request(body: bytes) -> PrecheckRequest:
    try:
        data = json.loads(body or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValidationException(f"The request body is not valid JSON: {exc}.") from exc
    if not isinstance(data, dict):
        raise ValidationException(
            'The request body must be a JSON object such as {"container_url": ..., "records": ...}.'
        )
    unknown = sorted(set(data) - set(_STRINGS))
    if unknown:
        raise ValidationException(f"Unknown member(s) {', '.join(unknown)}; expected {', '.join(_STRINGS)}.")
    for key in _STRINGS:
        if data.get(key) is not None and not isinstance(data[key], str):
            raise ValidationException(f"'{key}' must be a string or null.")
    if not data.get("records"):
        raise ValidationException("'records' is required: a few CSV lines or JSON Lines records, as one string.")
    target = Target(
        url=data.get("container_url") or None,
        image=data.get("image") or None,
        model_data=data.get("model_data") or None,
        model_name=data.get("model_name") or None,
    )
    return PrecheckRequest(
        target=target,
        records=data["records"].encode(),
        content_types=_list(data.get("content_type")),
        accepts=_list(data.get("accept")),
        features_attribute=data.get("features_attribute") or None,
    )


def _list(value: str | None) -> tuple[str, ...]:
    return tuple(v.strip() for v in (value or "").split(",") if v.strip())


def _failure(message: str) -> dict[str, Any]:
    return {
        "ok": False,
        "findings": [{"level": "error", "message": message}],
        "explainer_config": None,
        "estimates": {},
    }


def _answer(payload: dict[str, Any], status: int) -> Response:
    return Response(json.dumps(payload, separators=(",", ":")), status, media_type="application/json")
