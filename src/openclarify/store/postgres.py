"""PostgreSQL backend: the same :class:`~openclarify.store.base.Store` protocol as SQLite, for state reached from
several processes or machines (``--database-url postgresql://...``, required by ``serve --ray``). One server owns
it at a time (``held_exclusively``): each deploys endpoints in its own memory.

psycopg 3 (the ``postgres`` extra) is imported when the store is built, so the embedded default never needs it.
One connection guarded by a lock, as the SQLite store: control-plane writes are rare and short. A connection
that broke (server restart, network) is reopened, and BEGIN sent again, once per call; a read is retried once,
a write never once it may have committed. Every write is one transaction; ``replace_endpoint`` locks the row
(``SELECT ... FOR UPDATE``) so its status check and its write cannot interleave with another server's. JSON is
kept as TEXT so Describe* echoes requests with their keys in the submitted order (JSONB would reorder them).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from openclarify.store.base import AlreadyExists, DatabaseInUse, EndpointConfigRow, EndpointRow, ModelRow, NotFound
from openclarify.store.migrations import migrations
from openclarify.store.tables import SqlTables

# Any constant shared by every openclarify server using the database: serialises concurrent migrations.
_MIGRATION_LOCK = 0x6F636C72
_SERVER_LOCK = _MIGRATION_LOCK + 1


def is_postgres_url(url: str) -> bool:
    return url.startswith(("postgresql://", "postgres://"))


class PostgresStore(SqlTables):
    def __init__(self, url: str, *, connect_timeout: float = 10.0) -> None:
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover - depends on the installed extras
            raise RuntimeError(
                "a postgresql:// database URL needs psycopg: pip install 'openclarify[postgres]'"
            ) from exc
        self._psycopg = psycopg
        self._url = url
        self._connect_timeout = connect_timeout
        self._lock = threading.Lock()
        self._conn = self._connect()

    def _connect(self) -> Any:
        return self._psycopg.connect(self._url, connect_timeout=int(max(1, self._connect_timeout)))

    # -- lifecycle -------------------------------------------------------------------------------------------

    def migrate(self) -> None:
        """Apply the numbered ``migrations/postgres/NNNN_*.sql`` not yet recorded in ``schema_migrations``.

        An advisory lock held for the transaction makes servers starting together apply each script once."""
        with self._tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            cur.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT)")
            cur.execute("SELECT version FROM schema_migrations")
            done = {r[0] for r in cur.fetchall()}
            for migration in migrations("postgres"):
                if migration.version in done:
                    continue
                for statement in migration.statements:
                    cur.execute(statement)
                cur.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES (%s, %s)", (migration.version, migration.name)
                )

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _tx(self) -> Iterator[Any]:
        """A cursor inside one transaction, committed on success and rolled back on any exception."""
        with self._lock:
            try:
                with ExitStack() as stack:
                    self._begin(stack)
                    yield stack.enter_context(self._conn.cursor())
            except self._psycopg.OperationalError as exc:
                self._drop_if_unusable(exc)
                raise

    def _begin(self, stack: ExitStack) -> None:
        """BEGIN, on a fresh connection if the current one turns out broken (a server restart, a dropped socket).

        Nothing of the caller's has reached the server before BEGIN, so starting again there is as safe for a
        write as for a read. Past it nothing is retried here: a write may have committed (``_read`` retries reads).
        """
        for attempt in (1, 2):
            if self._conn.closed or self._conn.broken:
                self._conn = self._connect()
            try:
                stack.enter_context(self._conn.transaction())
                return
            except self._psycopg.OperationalError as exc:
                self._drop_if_unusable(exc)
                if attempt == 2 or not self._conn.closed:
                    raise

    def _drop_if_unusable(self, exc: Exception) -> None:
        # An error the server reported (it carries a SQLSTATE) leaves the session usable. Any other one, such as
        # the socket failing under libpq, can leave libpq mid-command while it still reports the connection as OK
        # (seen once in CI), so the connection is dropped and the next call opens a fresh one.
        if self._conn.broken or getattr(exc, "sqlstate", None) is None:
            self._conn.close()

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """A read-only query; retried once on a fresh connection if the old one was dropped."""
        for attempt in (1, 2):
            try:
                with self._tx() as cur:
                    cur.execute(sql, params)
                    return cur.fetchall()
            except self._psycopg.OperationalError:
                if attempt == 2 or not self._conn.closed:
                    raise
        raise AssertionError("unreachable")

    # -- models and endpoint configs share a shape -------------------------------------------------------------

    def _insert_simple(self, table: str, row: ModelRow | EndpointConfigRow) -> None:
        try:
            with self._tx() as cur:
                cur.execute(
                    f"INSERT INTO {table} (key, name, arn, creation_time, request) VALUES (%s, %s, %s, %s, %s)",
                    (row.name.lower(), row.name, row.arn, row.creation_time, json.dumps(row.request)),
                )
        except self._psycopg.errors.UniqueViolation as exc:
            raise AlreadyExists(row.name) from exc

    def _get_simple(self, table: str, cls: type, name: str) -> Any:
        rows = self._read(f"SELECT name, arn, creation_time, request FROM {table} WHERE key = %s", (name.lower(),))
        if not rows:
            raise NotFound(name)
        name_, arn, created, request = rows[0]
        return cls(name_, arn, created, json.loads(request))

    def _list_simple(self, table: str, cls: type) -> list[Any]:
        rows = self._read(f"SELECT name, arn, creation_time, request FROM {table} ORDER BY key")
        return [cls(n, a, c, json.loads(r)) for n, a, c, r in rows]

    def _delete(self, table: str, name: str) -> None:
        with self._tx() as cur:
            cur.execute(f"DELETE FROM {table} WHERE key = %s", (name.lower(),))
            if cur.rowcount == 0:
                raise NotFound(name)

    # -- endpoints ---------------------------------------------------------------------------------------------

    def insert_endpoint(self, row: EndpointRow) -> None:
        try:
            with self._tx() as cur:
                cur.execute(
                    f"INSERT INTO endpoints ({self._ENDPOINT_COLUMNS}) VALUES ({', '.join(['%s'] * 11)})",
                    self._endpoint_values(row),
                )
        except self._psycopg.errors.UniqueViolation as exc:
            raise AlreadyExists(row.name) from exc

    def get_endpoint(self, name: str) -> EndpointRow:
        rows = self._read(f"{self._ENDPOINT_SELECT} WHERE key = %s", (name.lower(),))
        if not rows:
            raise NotFound(name)
        return self._endpoint_row(rows[0])

    def list_endpoints(self) -> list[EndpointRow]:
        return [self._endpoint_row(r) for r in self._read(f"{self._ENDPOINT_SELECT} ORDER BY key")]

    def replace_endpoint(self, row: EndpointRow, *, expected_status: str | None = None) -> None:
        values = self._endpoint_values(row)
        with self._tx() as cur:
            cur.execute("SELECT status FROM endpoints WHERE key = %s FOR UPDATE", (row.name.lower(),))
            current = cur.fetchone()
            if current is None or (expected_status is not None and current[0] != expected_status):
                raise NotFound(row.name)
            cur.execute(
                "UPDATE endpoints SET name = %s, arn = %s, status = %s, creation_time = %s, last_modified_time = %s, "
                "config_name = %s, deployment = %s, failure_reason = %s, pending = %s, request = %s WHERE key = %s",
                (*values[1:], values[0]),
            )

    def delete_endpoint(self, name: str) -> None:
        self._delete("endpoints", name)


@contextmanager
def held_exclusively(url: str) -> Iterator[None]:
    """Hold the database for one server while the block runs: DatabaseInUse when another holds it.

    A session advisory lock on a connection of its own, so no transaction of the store is kept open for it;
    PostgreSQL lets it go when the connection ends, however the process ends. Best effort: a connection cut by the
    database server (a restart, ``pg_terminate_backend``) lets the lock go with it."""
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        taken = connection.execute("SELECT pg_try_advisory_lock(%s)", (_SERVER_LOCK,)).fetchone()
        if not (taken and taken[0]):
            raise DatabaseInUse("the database of --database-url")
        yield
