"""Persistence. Services depend on the :class:`Store` protocol only; SQLite is the default backend and
PostgreSQL (``postgresql://`` database URLs, the ``postgres`` extra) the shared one."""

from contextlib import AbstractContextManager
from pathlib import Path

from openclarify.store import postgres, sqlite
from openclarify.store.base import (
    AlreadyExists,
    DatabaseInUse,
    DatabaseUnavailable,
    EndpointConfigRow,
    EndpointRow,
    ModelRow,
    NotFound,
    SchemaTooNew,
    Store,
)
from openclarify.store.postgres import PostgresStore, is_postgres_url
from openclarify.store.sqlite import SQLiteStore


def open_store(database_url: str | None, default_sqlite_path: Path) -> Store:
    """The store a database URL names: ``postgresql://...``, ``sqlite:///path``, or None for the default file."""
    if database_url and is_postgres_url(database_url):
        return PostgresStore(database_url)
    return SQLiteStore(sqlite_path(database_url, default_sqlite_path))


def held_exclusively(database_url: str | None, default_sqlite_path: Path) -> AbstractContextManager[None]:
    """The database held for one server while the block runs; DatabaseInUse (naming it) when another server holds
    it. Each server deploys and serves endpoints from its own memory, so two on one database would each miss what the
    other updates or deletes."""
    if database_url and is_postgres_url(database_url):
        return postgres.held_exclusively(database_url)
    return sqlite.held_exclusively(sqlite_path(database_url, default_sqlite_path))


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
    "DatabaseInUse",
    "DatabaseUnavailable",
    "EndpointConfigRow",
    "EndpointRow",
    "ModelRow",
    "NotFound",
    "PostgresStore",
    "SQLiteStore",
    "SchemaTooNew",
    "Store",
    "held_exclusively",
    "open_store",
    "sqlite_path",
]
