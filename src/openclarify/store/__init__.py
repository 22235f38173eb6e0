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
    if database_url and is_postgres_url(database_url):
        return PostgresStore(database_url)
    return SQLiteStore(sqlite_path(database_url, default_sqlite_path))


def sqlite_path(database_url: str | None, default_sqlite_path: Path) -> Path:
    """The SQLite file a database URL names (``sqlite:///path``, or None for the default file). ValueError for a URL
    that names no SQLite file."""
    if not database_url:
        return default_sqlite_path
    if database_url.startswith("sqlite:///"):
        return Path(database_url.removeprefix("sqlite:///")).expanduser()
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
    "sqlite_path",
]
