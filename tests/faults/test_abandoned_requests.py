"""Invocations given up on past their deadline must not cost the container runtime its connections.

An invocation past its deadline is cancelled, and so are the container requests it was waiting on. Cancelled inside
httpx's connection pool at the wrong moment, a request could lose the pool its only connection for good (with
InitialInstanceCount 1): every later request to that container then timed out until the server restarted. Here a
real container (tests/containers/fault_container.py) answers slowly while invocations are cancelled under
contention, as a deadline does; each time, a healthy request right after must get through, and once the slow
answers are in, no connection may be left open.
"""

from __future__ import annotations

import asyncio
import os
import random
from pathlib import Path

import pytest
from tests.faults.conftest import FaultContainer

from openclarify.runtimes.base import RuntimeSpec
from openclarify.runtimes.http_container import HttpContainerRuntime

BODY = b"1.0,2.0,3.0"
SLOW_SECONDS = 1.0
ROUNDS = 80  # the unshielded runtime lost its connection within about 20 rounds of this


def open_descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts open descriptors through /proc")
def test_cancelled_invocations_leave_the_runtime_able_to_reach_its_container():
    container = FaultContainer().start()
    try:
        asyncio.run(_cancel_under_contention(container))
    finally:
        container.stop()


async def _cancel_under_contention(container: FaultContainer) -> None:
    runtime = HttpContainerRuntime(RuntimeSpec(image="fault", url=container.url, max_concurrency=1))
    draw = random.Random(0)
    slow = f"fault=slow;seconds={SLOW_SECONDS:g}"
    try:
        answer = await runtime.invoke(BODY, "text/csv", "text/csv", None)  # the pool's keep-alive connection
        assert float(answer.body) > 0
        before = open_descriptors()
        for round_ in range(ROUNDS):
            waiting = [asyncio.create_task(runtime.invoke(BODY, "text/csv", "text/csv", slow)) for _ in range(4)]
            await asyncio.sleep(draw.uniform(0.005, 0.03))  # the first one is in flight, the others wait their turn
            for task in waiting:
                task.cancel()
                await asyncio.sleep(draw.choice([0.0, 0.0, 0.0005, 0.001, 0.002]))
            try:
                answer = await asyncio.wait_for(runtime.invoke(BODY, "text/csv", "text/csv", None), 3.0)
            except TimeoutError:
                pytest.fail(f"round {round_}: a healthy request could not reach the container within 3 s")
            assert float(answer.body) > 0
        # The slow requests given up on finish on their own; then every connection they used is closed or idle.
        await asyncio.sleep(SLOW_SECONDS + 1.0)
        answer = await asyncio.wait_for(runtime.invoke(BODY, "text/csv", "text/csv", None), 3.0)
        assert float(answer.body) > 0
        assert open_descriptors() <= before + 1
    finally:
        await runtime.aclose()
