"""SQLite backend: one file under the data dir, WAL, every write in its own transaction.

One connection guarded by a lock: the control plane writes rarely and briefly, so a connection pool would
only add failure modes. ``BEGIN IMMEDIATE`` takes the write lock up front, so a check-then-write sequence
cannot interleave with another process's write. A crash mid-write rolls back to the previous state.

A write waits at most ``BUSY_TIMEOUT_SECONDS`` for a lock another process holds on the file (a backup, a ``sqlite3``
shell left in a transaction). That, and any other failure of the file (a full disk, an I/O error), reaches the caller
as :class:`DatabaseUnavailable`, a 503 saying nothing was changed, as from PostgreSQL.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from openclarify.store.base import (
    AlreadyExists,
    DatabaseInUse,
    DatabaseUnavailable,
    EndpointConfigRow,
    EndpointRow,
    ModelRow,
    NotFound,
)
from openclarify.store.migrations import migrations
from openclarify.store.tables import SqlTables

# As PostgreSQL's statement timeout (``postgres.STATEMENT_TIMEOUT_SECONDS``): control-plane writes take milliseconds.
BUSY_TIMEOUT_SECONDS = 5.0

log = logging.getLogger(__name__)


class SQLiteStore(SqlTables):
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so transactions are explicit.
        self._conn = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_SECONDS
        )
        self._conn.row_factory = sqlite3.Row
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.execute("PRAGMA foreign_keys=ON")

    # -- lifecycle -------------------------------------------------------------------------------------------

    def migrate(self) -> None:
        """Apply the numbered ``migrations/sqlite/NNNN_*.sql`` not yet recorded in ``schema_migrations``."""
        with self._tx() as conn:
            conn.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT)")
            done = {r[0] for r in conn.execute("SELECT version FROM schema_migrations")}
            for migration in migrations("sqlite"):
                if migration.version in done:
                    continue
                # executescript would COMMIT our transaction; run statement by statement instead.
                for statement in migration.statements:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (?, ?)", (migration.version, migration.name)
                )

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        with self._lock, _unavailable_on_failure():
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
                raise

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock, _unavailable_on_failure():
            return self._conn.execute(sql, params).fetchall()

    # -- models and endpoint configs share a shape -------------------------------------------------------------

    def _insert_simple(self, table: str, row: ModelRow | EndpointConfigRow) -> None:
        try:
            with self._tx() as conn:
                conn.execute(
                    f"INSERT INTO {table} (key, name, arn, creation_time, request) VALUES (?, ?, ?, ?, ?)",
                    (row.name.lower(), row.name, row.arn, row.creation_time, json.dumps(row.request)),
                )
        except sqlite3.IntegrityError as exc:
            raise AlreadyExists(row.name) from exc

    def _get_simple(self, table: str, cls: type, name: str) -> Any:
        found = self._rows(f"SELECT * FROM {table} WHERE key = ?", (name.lower(),))
        if not found:
            raise NotFound(name)
        r = found[0]
        return cls(r["name"], r["arn"], r["creation_time"], json.loads(r["request"]))

    def _list_simple(self, table: str, cls: type) -> list[Any]:
        rows = self._rows(f"SELECT * FROM {table}")
        return [cls(r["name"], r["arn"], r["creation_time"], json.loads(r["request"])) for r in rows]

    def _delete(self, table: str, name: str) -> None:
        with self._tx() as conn:
            if conn.execute(f"DELETE FROM {table} WHERE key = ?", (name.lower(),)).rowcount == 0:
                raise NotFound(name)

    # -- endpoints ---------------------------------------------------------------------------------------------

    def insert_endpoint(self, row: EndpointRow) -> None:
        try:
            with self._tx() as conn:
                conn.execute(
                    f"INSERT INTO endpoints ({self._ENDPOINT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    self._endpoint_values(row),
                )
        except sqlite3.IntegrityError as exc:
            raise AlreadyExists(row.name) from exc

    def get_endpoint(self, name: str) -> EndpointRow:
        found = self._rows(f"{self._ENDPOINT_SELECT} WHERE key = ?", (name.lower(),))
        if not found:
            raise NotFound(name)
        return self._endpoint_row(found[0])

    def list_endpoints(self) -> list[EndpointRow]:
        return [self._endpoint_row(r) for r in self._rows(self._ENDPOINT_SELECT)]

    def replace_endpoint(self, row: EndpointRow, *, expected_status: str | None = None) -> None:
        with self._tx() as conn:
            current = conn.execute("SELECT status FROM endpoints WHERE key = ?", (row.name.lower(),)).fetchone()
            if current is None or (expected_status is not None and current["status"] != expected_status):
                raise NotFound(row.name)
            conn.execute("DELETE FROM endpoints WHERE key = ?", (row.name.lower(),))
            conn.execute(
                f"INSERT INTO endpoints ({self._ENDPOINT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                self._endpoint_values(row),
            )

    def delete_endpoint(self, name: str) -> None:
        self._delete("endpoints", name)


@contextmanager
def _unavailable_on_failure() -> Iterator[None]:
    """sqlite3's errors of the file itself as DatabaseUnavailable. A statement that fails leaves the file as it was:
    a transaction is rolled back whole, and COMMIT either made it durable or left nothing."""
    try:
        yield
    except (sqlite3.OperationalError, sqlite3.DatabaseError) as exc:
        if isinstance(exc, sqlite3.IntegrityError):
            raise  # the caller's to interpret (a duplicate name)
        reason = str(exc) or type(exc).__name__
        log.warning("database statement failed: %s", reason)
        if "locked" in reason or "busy" in reason:
            raise DatabaseUnavailable(
                f"The database file was locked by another process for more than {BUSY_TIMEOUT_SECONDS:g} s. "
                "Nothing was changed; try again."
            ) from exc
        raise DatabaseUnavailable(f"The database failed: {reason}. Nothing was changed; try again.") from exc


@contextmanager
def held_exclusively(path: Path) -> Iterator[None]:
    """Hold the database file for one server while the block runs: DatabaseInUse when another holds it.

    An exclusive ``flock`` on a file beside the database; the kernel lets it go when the process ends, however it
    ends, so a server killed with -9 leaves nothing to clean up. Without ``fcntl`` (not POSIX) nothing is held."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise DatabaseInUse(f"the database {path}") from None
        yield
