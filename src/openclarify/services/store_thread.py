"""The store, called from the event loop without blocking it.

The backends are synchronous (``sqlite3``, psycopg's blocking connection), and a call can wait: on another
session's lock (PostgreSQL bounds a statement at 5 s), on a broken connection being opened again (up to its connect
timeout), on a SQLite write lock another process holds (5 s), or for ever on a database server that stopped answering
without closing its connection. Called on the event loop, that wait stalled every request of the server, ``/ping``
and invocations of running endpoints included, which read no table.

Every call runs on one worker thread kept for the store instead. One is enough: each backend serialises its calls
on one connection anyway. It keeps the calls in the order they were made, and the threads that load models and run
explanations are left to them. A call is answered within ``CALL_DEADLINE_SECONDS`` of being made, queue included:
past it the caller gets DatabaseUnavailable (a 503), and a call still waiting in the queue is dropped, so calls
queued behind one stuck statement do not each wait their turn and then their own timeout. The worker is a daemon
thread, and closing does not wait for a call stuck in the database: a hung database cannot hold up shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from functools import partial
from typing import Any, TypeVar

from openclarify.store import DatabaseUnavailable, EndpointConfigRow, EndpointRow, ModelRow, Store

T = TypeVar("T")

# Longer than any one statement may take (5 s for a statement or a SQLite lock, 10 s to open a connection), so that
# only a call queued behind others or stuck in a database that stopped answering reaches it.
CALL_DEADLINE_SECONDS = 15.0
# How long closing waits for the call running at shutdown before leaving the daemon worker behind.
CLOSE_WAIT_SECONDS = 2.0

log = logging.getLogger(__name__)

_STOP = object()


class StoreThread:
    """The :class:`Store` protocol's calls, each awaited while the store's own thread runs it."""

    def __init__(self, store: Store, deadline_seconds: float = CALL_DEADLINE_SECONDS) -> None:
        self._store = store
        self._deadline = deadline_seconds
        self._calls: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._work, name="openclarify-store", daemon=True)
        self._worker.start()

    def _work(self) -> None:
        while (item := self._calls.get()) is not _STOP:
            future, call, args = item
            if not future.set_running_or_notify_cancel():  # its caller gave up while it waited in the queue
                continue
            try:
                future.set_result(call(*args))
            except BaseException as exc:  # the caller's to handle, on the event loop
                future.set_exception(exc)

    async def _run(self, call: Callable[..., T], *args: object, writes: bool = False) -> T:
        future: Future[T] = Future()
        self._calls.put((future, call, args))
        answer = asyncio.wrap_future(future)
        # Read once it ends, whoever waits for it: a call given up on below ends unobserved.
        answer.add_done_callback(lambda done: done.cancelled() or done.exception())
        try:
            finished, _ = await asyncio.wait({answer}, timeout=self._deadline)
        except asyncio.CancelledError:
            future.cancel()  # a caller cancelled while its call waits in the queue takes it off
            raise
        if finished:
            return answer.result()
        # Not started yet: dropped, nothing happened. Started: it may still complete, so say so.
        started = not future.cancel()
        name = getattr(call, "__name__", None) or getattr(getattr(call, "func", None), "__name__", "a call")
        log.warning("database call %s did not complete within %g s", name, self._deadline)
        error = DatabaseUnavailable(
            f"The database did not answer within {self._deadline:g} s. "
            + (
                "This change may or may not have been made; describe the resource before trying again."
                if started and writes
                else "Nothing was changed; try again."
            )
        )
        error.maybe_committed = started and writes
        raise error

    def close(self) -> None:
        """Let the calls already made finish (for a bounded time), then close the store."""
        self._calls.put(_STOP)
        self._worker.join(CLOSE_WAIT_SECONDS)
        if self._worker.is_alive():
            # A call stuck in a database that stopped answering holds the store's connection: closing it would wait too.
            log.warning("a database call was still running at shutdown; leaving it behind")
            return
        self._store.close()

    async def insert_model(self, row: ModelRow) -> None:
        await self._run(self._store.insert_model, row, writes=True)

    async def get_model(self, name: str) -> ModelRow:
        return await self._run(self._store.get_model, name)

    async def list_models(self) -> list[ModelRow]:
        return await self._run(self._store.list_models)

    async def delete_model(self, name: str) -> None:
        await self._run(self._store.delete_model, name, writes=True)

    async def insert_endpoint_config(self, row: EndpointConfigRow) -> None:
        await self._run(self._store.insert_endpoint_config, row, writes=True)

    async def get_endpoint_config(self, name: str) -> EndpointConfigRow:
        return await self._run(self._store.get_endpoint_config, name)

    async def list_endpoint_configs(self) -> list[EndpointConfigRow]:
        return await self._run(self._store.list_endpoint_configs)

    async def delete_endpoint_config(self, name: str) -> None:
        await self._run(self._store.delete_endpoint_config, name, writes=True)

    async def insert_endpoint(self, row: EndpointRow) -> None:
        await self._run(self._store.insert_endpoint, row, writes=True)

    async def get_endpoint(self, name: str) -> EndpointRow:
        return await self._run(self._store.get_endpoint, name)

    async def list_endpoints(self) -> list[EndpointRow]:
        return await self._run(self._store.list_endpoints)

    async def replace_endpoint(self, row: EndpointRow, *, expected_status: str | None = None) -> None:
        await self._run(partial(self._store.replace_endpoint, row, expected_status=expected_status), writes=True)

    async def delete_endpoint(self, name: str) -> None:
        await self._run(self._store.delete_endpoint, name, writes=True)
