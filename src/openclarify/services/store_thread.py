"""The store, called from the event loop without blocking it.

The backends are synchronous (``sqlite3``, psycopg's blocking connection), and a call can wait: on another
session's lock (PostgreSQL bounds a statement at 5 s), on a broken connection being opened again (up to its connect
timeout), on a SQLite write lock another process holds (up to 30 s). Called on the event loop, that wait stalled
every request of the server, ``/ping`` and invocations of running endpoints included, which read no table.

Every call runs on one worker thread kept for the store instead. One is enough: each backend serialises its calls
on one connection anyway. It keeps the calls in the order they were made, and the threads that load models and run
explanations are left to them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from openclarify.store import EndpointConfigRow, EndpointRow, ModelRow, Store

T = TypeVar("T")


class StoreThread:
    """The :class:`Store` protocol's calls, each awaited while the store's own thread runs it."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="openclarify-store")

    async def _run(self, call: Callable[..., T], *args: object) -> T:
        # A caller cancelled while its call waits in the queue takes it off; one already running completes (a write
        # that may have committed is not abandoned half-way).
        return await asyncio.wrap_future(self._thread.submit(call, *args))

    def close(self) -> None:
        """Wait for the calls already made, then close the store."""
        self._thread.shutdown(wait=True)
        self._store.close()

    async def insert_model(self, row: ModelRow) -> None:
        await self._run(self._store.insert_model, row)

    async def get_model(self, name: str) -> ModelRow:
        return await self._run(self._store.get_model, name)

    async def list_models(self) -> list[ModelRow]:
        return await self._run(self._store.list_models)

    async def delete_model(self, name: str) -> None:
        await self._run(self._store.delete_model, name)

    async def insert_endpoint_config(self, row: EndpointConfigRow) -> None:
        await self._run(self._store.insert_endpoint_config, row)

    async def get_endpoint_config(self, name: str) -> EndpointConfigRow:
        return await self._run(self._store.get_endpoint_config, name)

    async def list_endpoint_configs(self) -> list[EndpointConfigRow]:
        return await self._run(self._store.list_endpoint_configs)

    async def delete_endpoint_config(self, name: str) -> None:
        await self._run(self._store.delete_endpoint_config, name)

    async def insert_endpoint(self, row: EndpointRow) -> None:
        await self._run(self._store.insert_endpoint, row)

    async def get_endpoint(self, name: str) -> EndpointRow:
        return await self._run(self._store.get_endpoint, name)

    async def list_endpoints(self) -> list[EndpointRow]:
        return await self._run(self._store.list_endpoints)

    async def replace_endpoint(self, row: EndpointRow, *, expected_status: str | None = None) -> None:
        await self._run(lambda: self._store.replace_endpoint(row, expected_status=expected_status))

    async def delete_endpoint(self, name: str) -> None:
        await self._run(self._store.delete_endpoint, name)
