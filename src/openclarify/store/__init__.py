"""Persistence. Services depend on the :class:`Store` protocol only; SQLite is the default backend."""

from openclarify.store.base import (
    AlreadyExists,
    EndpointConfigRow,
    EndpointRow,
    ModelRow,
    NotFound,
    Store,
)
from openclarify.store.sqlite import SQLiteStore

__all__ = ["AlreadyExists", "EndpointConfigRow", "EndpointRow", "ModelRow", "NotFound", "SQLiteStore", "Store"]
