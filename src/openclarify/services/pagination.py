"""List* semantics shared by every resource: filters, sorting, MaxResults and an opaque NextToken.

The token is a cursor, not an offset: it holds the sort key of the last item returned (plus its name, which breaks
ties), and the next page starts strictly after that item. Items created or deleted between two pages therefore
neither shift the pages (an offset would skip or repeat items) nor reappear: each item present throughout is
listed exactly once.

A token is bound to the operation and to the query that produced it (a digest of every parameter but NextToken
and MaxResults), so a ListModels token given to ListEndpoints, or a token from another filter or sort order, is
refused instead of silently paging through the wrong list. It carries a checksum of its own contents, so an
edited or truncated token is refused too. The checksum has no secret key on purpose: a token only names a
position in a list the caller may read in full anyway, and a keyless token stays valid across restarts and across
the server processes that share one store.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from openclarify.errors import ValidationException

T = TypeVar("T")

DEFAULT_MAX_RESULTS = 10  # what AWS documents for ListEndpoints; used for every list
_VERSION = 2  # version 1 tokens were offsets; they are refused (a client starts the listing again)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_token: str | None


def paginate(
    rows: Sequence[T],
    params: Mapping[str, Any],
    *,
    name: Callable[[T], str],
    created: Callable[[T], float],
    modified: Callable[[T], float] | None = None,
    status: Callable[[T], str] | None = None,
    operation: str | None = None,
) -> Page[T]:
    """One page of ``rows`` for a List* request. ``operation`` (e.g. ``"ListModels"``) binds the tokens to it."""
    selected = [r for r in rows if _keep(r, params, name, created, modified, status)]

    sort_by = params.get("SortBy", "CreationTime")
    keys: dict[str, Callable[[T], Any]] = {"Name": lambda r: name(r).lower(), "CreationTime": created}
    if status is not None:
        keys["Status"] = status
    key = keys.get(sort_by, created)
    descending = params.get("SortOrder", "Descending") == "Descending"

    # Names are unique case-insensitively, so (sort key, lowercase name) orders the items totally: a cursor
    # names one position, whatever was created or deleted since.
    def position(row: T) -> tuple[Any, str]:
        return (key(row), name(row).lower())

    selected.sort(key=position, reverse=descending)

    binding = {"op": operation, "q": _digest(params)}
    if params.get("NextToken"):
        cursor = _decode(params["NextToken"], binding, number=sort_by == "CreationTime")
        selected = [r for r in selected if (position(r) < cursor if descending else position(r) > cursor)]
    limit = int(params.get("MaxResults") or DEFAULT_MAX_RESULTS)
    page = selected[:limit]
    more = len(selected) > limit
    return Page(page, _encode(position(page[-1]), binding) if more else None)


def _keep(row, params, name, created, modified, status) -> bool:  # type: ignore[no-untyped-def]
    needle = params.get("NameContains")
    if needle and needle.lower() not in name(row).lower():
        return False
    checks = [("CreationTimeBefore", created, lambda v, t: v < t), ("CreationTimeAfter", created, lambda v, t: v > t)]
    if modified is not None:
        checks += [
            ("LastModifiedTimeBefore", modified, lambda v, t: v < t),
            ("LastModifiedTimeAfter", modified, lambda v, t: v > t),
        ]
    for param, get, ok in checks:
        if param in params and not ok(get(row), to_epoch(params[param])):
            return False
    return not (status is not None and "StatusEquals" in params and status(row) != params["StatusEquals"])


def to_epoch(value: Any) -> float:
    """Timestamps arrive as epoch seconds from botocore; ISO-8601 strings are accepted too."""
    if isinstance(value, int | float):
        return float(value)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError as exc:
        raise ValidationException(f"Value '{value}' is not a valid timestamp.") from exc


def _digest(params: Mapping[str, Any]) -> str:
    query = {k: v for k, v in params.items() if k not in ("NextToken", "MaxResults")}
    return hashlib.sha256(json.dumps(query, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _checksum(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]


def _encode(cursor: tuple[Any, str], binding: Mapping[str, Any]) -> str:
    body = {"v": _VERSION, **binding, "k": list(cursor)}
    token = {**body, "h": _checksum(body)}
    return base64.urlsafe_b64encode(json.dumps(token, separators=(",", ":")).encode()).decode()


def _decode(token: str, binding: Mapping[str, Any], *, number: bool) -> tuple[Any, str]:
    """The cursor in ``token``; ValidationException unless it is intact, current and made by this very query.
    ``number`` says whether the sort key is a timestamp (else a string), so an edited key never reaches a
    comparison with the wrong type."""
    try:
        data = json.loads(base64.urlsafe_b64decode(token.encode()))
        body = {k: v for k, v in data.items() if k != "h"}
        if data.get("h") != _checksum(body) or body.get("v") != _VERSION:
            raise ValueError("altered or outdated")
        if any(body.get(k) != v for k, v in binding.items()):
            raise ValueError("another operation or query")
        sort_key, name = body["k"]
        kind = (int, float) if number else (str,)
        if not isinstance(sort_key, kind) or isinstance(sort_key, bool) or not isinstance(name, str):
            raise ValueError("malformed cursor")
    except (ValueError, KeyError, TypeError, AttributeError, binascii.Error) as exc:
        raise ValidationException("Invalid pagination token: it does not belong to this request.") from exc
    return sort_key, name
