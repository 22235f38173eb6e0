"""``POST /-/precheck``: the container pre-check over HTTP (docs/precheck.md), for the web console and scripts.

Request JSON::

    {"container_url": str, "records": str, "content_type": str|null, "accept": str|null,
     "features_attribute": str|null}

with ``"image"`` + ``"model_data"`` or ``"model_name"`` instead of ``container_url``. ``content_type`` and
``accept`` may list several values separated by commas; each is tried.

Answer JSON (200 whether or not the container passes; ``ok`` says)::

    {"ok": bool, "findings": [{"level": "ok"|"warn"|"error", "message": str}],
     "explainer_config": {...}|null, "estimates": {...}}

A request that cannot be checked (malformed JSON, a URL the server may not call or httpx cannot send, too large a
sample, an unknown model or image, a model file that is missing or outside the model roots) answers 400 with the same
shape: ``ok`` false and one error finding. A server already running as many checks as it runs at once answers 503
in that shape, with ``Retry-After``. Authentication (SigV4, when keys are configured) covers this route like every
other.

The route makes the server send requests to loopback ports, so a web page in the user's browser must not be able to
trigger it (cross-site request forgery: a form or a ``no-cors`` fetch can POST ``text/plain`` anywhere, and its
timing tells which ports answer). A request must therefore be ``Content-Type: application/json``, which a browser
sends cross-origin only after a CORS preflight this server never grants (415 otherwise), and a request whose
``Origin`` is not this server's own host is refused (403).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from openclarify.errors import ServiceError, ServiceUnavailable, ValidationException
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
        refused = _refuse_foreign(request)
        if refused is not None:
            return refused
        try:
            declared = request.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
                raise ValidationException(f"The request is {declared} bytes; the pre-check takes at most 2 MiB.")
            body = await request.body()
            if len(body) > MAX_REQUEST_BYTES:
                raise ValidationException("The request is larger than 2 MiB; the pre-check takes at most 2 MiB.")
            report = await service.run(parse_request(body))
        except ServiceUnavailable as exc:
            return _answer(_failure(exc.message), 503, {"Retry-After": str(exc.details["RetryAfter"])})
        except ServiceError as exc:
            return _answer(_failure(exc.message), 400)
        except Exception:
            log.exception("pre-check failed")
            return _answer(_failure("The server hit an internal error during the pre-check; see its log."), 500)
        return _answer(report.as_dict(), 200)

    return endpoint


def _refuse_foreign(request: Request) -> Response | None:
    """403 for a browser request from another site, 415 for a body that is not declared JSON (see the module doc)."""
    origin = request.headers.get("origin")
    if origin is not None and urlsplit(origin).netloc.lower() != request.headers.get("host", "").lower():
        return _answer(_failure(f"Cross-origin requests are refused: Origin {origin!r} is not this server."), 403)
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type != "application/json":
        return _answer(_failure("The request must be Content-Type: application/json."), 415)
    return None


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


def _answer(payload: dict[str, Any], status: int, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(payload, separators=(",", ":")), status, headers, media_type="application/json")
