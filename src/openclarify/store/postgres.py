"""PostgreSQL backend: the same :class:`~openclarify.store.base.Store` protocol as SQLite, for state reached from
several processes or machines (``--database-url postgresql://...``, required by ``serve --ray``). One server owns
it at a time (``held_exclusively``): each deploys endpoints in its own memory.

psycopg 3 (the ``postgres`` extra) is imported when the store is built, so the embedded default never needs it.
One connection guarded by a lock, as the SQLite store: control-plane writes are rare and short. A connection
that broke (server restart, network) is reopened, and BEGIN sent again, once per call; a read is retried once,
a write never once it may have committed. Every write is one transaction; ``replace_endpoint`` locks the row
(``SELECT ... FOR UPDATE``) so its status check and its write cannot interleave with another server's. JSON is
kept as TEXT so Describe* echoes requests with their keys in the submitted order (JSONB would reorder them).

Services call the store from one thread of its own (``services.store_thread``), so a statement waiting on another
session's lock holds up every control-plane call queued behind it (the event loop, ``/ping`` and invocations go
on): each statement is bounded (``STATEMENT_TIMEOUT_SECONDS``). Every failure of the
database reaches the caller as :class:`DatabaseUnavailable`, saying whether the change was made.
"""

from __future__ import annotations

import json
import logging
import select
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from openclarify.store.base import (
    AlreadyExists,
    DatabaseInUse,
    DatabaseUnavailable,
    EndpointConfigRow,
    EndpointRow,
    ModelRow,
    NotFound,
    SchemaTooNew,
)
from openclarify.store.migrations import migrations
from openclarify.store.tables import SqlTables

# Any constant shared by every openclarify server using the database: serialises concurrent migrations.
_MIGRATION_LOCK = 0x6F636C72
_SERVER_LOCK = _MIGRATION_LOCK + 1

# Control-plane statements take milliseconds; one waiting longer is stuck behind another session's lock, and it
# holds up the control plane meanwhile (see the module docstring).
STATEMENT_TIMEOUT_SECONDS = 5.0
# A migration may rewrite a table: longer, and nothing is served yet while it runs.
MIGRATION_TIMEOUT_SECONDS = 300.0

log = logging.getLogger(__name__)

_NOTHING_CHANGED = "Nothing was changed; try again."


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
        # Keepalives and a TCP user timeout: a database host that vanished without closing the connection (a
        # network partition) is found out in about half a minute rather than left to the kernel's two hours.
        conn = self._psycopg.connect(
            self._url,
            connect_timeout=int(max(1, self._connect_timeout)),
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
            tcp_user_timeout=30_000,
        )
        try:
            # Set on the session rather than in the URL's options, which the operator may use for their own.
            conn.execute("SELECT set_config('statement_timeout', %s, false)", (f"{STATEMENT_TIMEOUT_SECONDS}s",))
            conn.commit()
        except BaseException:
            conn.close()
            raise
        return conn

    # -- lifecycle -------------------------------------------------------------------------------------------

    def migrate(self) -> None:
        """Apply the numbered ``migrations/postgres/NNNN_*.sql`` not yet recorded in ``schema_migrations``.

        An advisory lock held for the transaction makes servers starting together apply each script once."""
        known = migrations("postgres")
        with self._tx() as cur:
            cur.execute("SELECT set_config('statement_timeout', %s, true)", (f"{MIGRATION_TIMEOUT_SECONDS}s",))
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_MIGRATION_LOCK,))
            cur.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT)")
            cur.execute("SELECT version, name FROM schema_migrations ORDER BY version")
            recorded = cur.fetchall()
            done = {r[0] for r in recorded}
            # Tables a newer version changed would be read and written as this one knows them.
            unknown = [name or str(version) for version, name in recorded if version not in {m.version for m in known}]
            if unknown:
                raise SchemaTooNew(
                    "the database of --database-url was migrated by a newer openclarify (migrations "
                    f"{', '.join(unknown)} are unknown to this one): run that version, or a new database"
                )
            for migration in known:
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
        """A cursor inside one transaction, committed on success and rolled back on any exception. A failure of the
        database is raised as DatabaseUnavailable (``after_begin`` set when the caller's statements had started)."""
        with self._lock:
            stage = "begin"
            try:
                with ExitStack() as stack:
                    self._begin(stack)
                    stage = "body"
                    yield stack.enter_context(self._conn.cursor())
                    stage = "commit"
            except self._psycopg.IntegrityError:
                raise  # the caller's to interpret (a duplicate name)
            except self._psycopg.Error as exc:
                if isinstance(exc, self._psycopg.OperationalError):
                    self._drop_if_unusable(exc)
                raise self._unavailable(exc, stage) from exc

    def _unavailable(self, exc: Exception, stage: str) -> DatabaseUnavailable:
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        log.warning(
            "database %s failed: %s", {"begin": "connection", "body": "statement", "commit": "COMMIT"}[stage], reason
        )
        if stage == "commit" and getattr(exc, "sqlstate", None) is None:
            # COMMIT was sent and no answer came back: the database may have applied it before the connection broke.
            error = DatabaseUnavailable(
                "The connection to the database broke while this change was being committed: it may or may not "
                "have been made. Describe the resource before trying again."
            )
        elif isinstance(exc, self._psycopg.errors.QueryCanceled):
            error = DatabaseUnavailable(
                f"The database did not answer within {STATEMENT_TIMEOUT_SECONDS:g} s (a lock held by another "
                f"session?). {_NOTHING_CHANGED}"
            )
        else:
            # A server-reported error rolled the transaction back; a connection lost before COMMIT took it along.
            error = DatabaseUnavailable(f"The database is unavailable (see the server's log). {_NOTHING_CHANGED}")
        error.after_begin = stage != "begin"
        error.maybe_committed = stage == "commit" and getattr(exc, "sqlstate", None) is None
        return error

    def _begin(self, stack: ExitStack) -> None:
        """BEGIN, on a fresh connection if the current one turns out broken (a server restart, a dropped socket).

        Nothing of the caller's has reached the server before BEGIN, so starting again there is as safe for a
        write as for a read. Past it nothing is retried here: a write may have committed (``_read`` retries reads).
        A connection that cannot be opened is not tried again: with the database down, that only doubles the wait.
        """
        for attempt in (1, 2):
            fresh = self._conn.closed or self._conn.broken
            if fresh:
                self._conn = self._connect()
            try:
                stack.enter_context(self._conn.transaction())
                return
            except self._psycopg.OperationalError as exc:
                self._drop_if_unusable(exc)
                if fresh or attempt == 2 or not self._conn.closed:
                    raise

    def _drop_if_unusable(self, exc: Exception) -> None:
        # An error the server reported (it carries a SQLSTATE) leaves the session usable. Any other one, such as
        # the socket failing under libpq, can leave libpq mid-command while it still reports the connection as OK
        # (seen once in CI), so the connection is dropped and the next call opens a fresh one.
        if self._conn.broken or getattr(exc, "sqlstate", None) is None:
            self._conn.close()

    def _read(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """A read-only query; retried once on a fresh connection if the old one was dropped past BEGIN."""
        for attempt in (1, 2):
            try:
                with self._tx() as cur:
                    cur.execute(sql, params)
                    return cur.fetchall()
            except DatabaseUnavailable as exc:
                if attempt == 2 or not getattr(exc, "after_begin", False) or not self._conn.closed:
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
    PostgreSQL lets it go when the connection ends, however the process ends. A connection cut by the database
    server (a restart, ``pg_terminate_backend``) lets the lock go with it, so a keeper thread notices at once and
    takes it again on a new connection: otherwise a second server could start on the database meanwhile."""
    import psycopg

    connection = psycopg.connect(url, autocommit=True)
    try:
        if not _take_server_lock(connection):
            raise DatabaseInUse("the database of --database-url")
    except BaseException:
        connection.close()
        raise
    keeper = _LockKeeper(url, connection)
    keeper.start()
    try:
        yield
    finally:
        keeper.stop()


def _take_server_lock(connection: Any) -> bool:
    taken = connection.execute("SELECT pg_try_advisory_lock(%s)", (_SERVER_LOCK,)).fetchone()
    return bool(taken and taken[0])


class _LockKeeper(threading.Thread):
    # Waits on the lock connection's socket: idle, it only becomes readable when the server ends the session.
    POLL_SECONDS = 0.5

    def __init__(self, url: str, connection: Any) -> None:
        super().__init__(name="database-lock", daemon=True)
        self._url = url
        self._connection: Any = connection
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()
        self.join()
        if self._connection is not None:
            self._connection.close()

    def run(self) -> None:
        import psycopg

        warned = False
        while not self._stopping.is_set():
            try:
                if self._connection is None:
                    self._relock(psycopg)
                    if self._connection is None:
                        warned = warned or self._warn_taken()
                        self._stopping.wait(self.POLL_SECONDS)
                        continue
                    log.info("the database lock of --database-url is held again")
                    warned = False
                readable, _, _ = select.select([self._connection.fileno()], [], [], self.POLL_SECONDS)
                if readable:
                    self._connection.execute("SELECT 1")  # raises if the session has ended
            except (psycopg.Error, OSError, ValueError) as exc:
                if self._connection is not None:
                    reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                    log.warning("lost the database lock of --database-url (%s); taking it again", reason)
                    self._connection.close()
                    self._connection = None
                self._stopping.wait(self.POLL_SECONDS)

    def _relock(self, psycopg: Any) -> None:
        connection = psycopg.connect(self._url, autocommit=True, connect_timeout=5)
        if _take_server_lock(connection):
            self._connection = connection
        else:
            connection.close()

    @staticmethod
    def _warn_taken() -> bool:
        log.error(
            "another openclarify server took the database of --database-url while this one's lock was lost: "
            "stop one of them"
        )
        return True
