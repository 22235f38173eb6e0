"""Persistence. Services depend on the :class:`Store` protocol only; SQLite is the default backend and
PostgreSQL (``postgresql://`` database URLs, the ``postgres`` extra) the shared one."""

from pathlib import Path

from openclarify.store.base import (
    AlreadyExists,
    EndpointConfigRow,
    EndpointRow,
    ModelRow,
    NotFound,
    Store,
)
from openclarify.store.postgres import PostgresStore, is_postgres_url
from openclarify.store.sqlite import SQLiteStore


def open_store(database_url: str | None, default_sqlite_path: Path) -> Store:
    """The store a database URL names: ``postgresql://...``, ``sqlite:///path``, or None for the default file."""
    if not database_url:
        return SQLiteStore(default_sqlite_path)
    if is_postgres_url(database_url):
        return PostgresStore(database_url)
    if database_url.startswith("sqlite:///"):
        return SQLiteStore(Path(database_url.removeprefix("sqlite:///")).expanduser())
    raise ValueError("database URL must start with postgresql://, postgres:// or sqlite:///")


__all__ = [
    "AlreadyExists",
    "EndpointConfigRow",
    "EndpointRow",
    "ModelRow",
    "NotFound",
    "PostgresStore",
    "SQLiteStore",
    "Store",
    "open_store",
]
