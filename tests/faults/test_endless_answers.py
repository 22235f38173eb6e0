"""A container's answer is read within the request timeout in all, and up to 64 MiB.

httpx's read timeout bounds each read, not the answer: a container that trickled its answer a byte at a time kept
its connection for good. Requests given up on past their deadline are left to finish on their own (cancelling them
inside the pool could lose it a connection, tests/faults/test_abandoned_requests.py), so 33 of them filled the pool,
and every later invocation of the endpoint timed out waiting for a connection until the server restarted. An answer
streamed without end was read whole into memory.
"""

from __future__ import annotations

import asyncio
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from tests.faults.conftest import FaultContainer

from openclarify.errors import ModelError
from openclarify.runtimes.base import RuntimeSpec
from openclarify.runtimes.http_container import MAX_ANSWER_BYTES, HttpContainerRuntime

BODY = b"1.0,2.0,3.0"
TIMEOUT = 1.0


@pytest.fixture(scope="module")
def container():
    live = FaultContainer().start()
    yield live
    live.stop()


def test_a_trickled_answer_ends_at_the_request_timeout_and_frees_its_connection(container):
    async def run() -> None:
        spec = RuntimeSpec(image="fault", url=container.url, max_concurrency=1, request_timeout_seconds=TIMEOUT)
        runtime = HttpContainerRuntime(spec)
        try:
            started = time.monotonic()
            with pytest.raises(ModelError, match=f"did not finish its answer within {TIMEOUT:g} seconds"):
                await runtime.invoke(BODY, "text/csv", "text/csv", "fault=drip")
            assert time.monotonic() - started < TIMEOUT + 1.0
            # More invocations given up on than the pool holds connections, as deadlines leave them.
            for _ in range(40):
                task = asyncio.create_task(runtime.invoke(BODY, "text/csv", "text/csv", "fault=drip"))
                await asyncio.sleep(0.02)
                task.cancel()
            await asyncio.sleep(TIMEOUT + 0.5)
            answer = await asyncio.wait_for(runtime.invoke(BODY, "text/csv", "text/csv", None), 3.0)
            assert 0.0 < float(answer.body) < 1.0
        finally:
            await runtime.aclose()

    asyncio.run(run())


def test_an_answer_past_64_mib_is_a_model_error_not_read_on(container):
    async def run() -> None:
        runtime = HttpContainerRuntime(RuntimeSpec(image="fault", url=container.url, max_concurrency=1))
        try:
            with pytest.raises(ModelError, match=f"answered more than {MAX_ANSWER_BYTES // (1024 * 1024)} MiB"):
                await runtime.invoke(BODY, "text/csv", "text/csv", "fault=huge;mb=70")
            answer = await runtime.invoke(BODY, "text/csv", "text/csv", None)
            assert 0.0 < float(answer.body) < 1.0
        finally:
            await runtime.aclose()

    asyncio.run(run())


def test_a_health_check_reads_the_status_not_the_body():
    # A container answering GET /ping with a body of any size: the health check needs its status only, and read the
    # whole body into memory before (a precheck of a container answering 1.5 GB grew a server to 3.3 GB).
    sent = {"bytes": 0}

    class HugePing(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", str(200 * 1024 * 1024))
            self.end_headers()
            chunk = b"x" * (1024 * 1024)
            try:
                for _ in range(200):
                    self.wfile.write(chunk)
                    sent["bytes"] += len(chunk)
            except OSError:  # the client closed the connection: what it should do
                pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), HugePing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        runtime = HttpContainerRuntime(
            RuntimeSpec(image="huge-ping", url=f"http://127.0.0.1:{server.server_port}", max_concurrency=1)
        )
        runtime.load()  # returns: the container answered 200
        runtime.close()
        time.sleep(0.5)
        assert sent["bytes"] < 50 * 1024 * 1024
    finally:
        server.shutdown()
