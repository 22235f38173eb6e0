"""The serving process's heap settling (``openclarify.process.HeapSettler``): a full garbage collection skips what
was alive when the heap settled, and settling again lets go of what a removed deployment left in cycles."""

from __future__ import annotations

import asyncio
import gc
import time

from openclarify.process import HeapSettler


class _Cycle:
    def __init__(self) -> None:
        self.me = self


def _full_collection_seconds() -> float:
    started = time.perf_counter()
    gc.collect()
    return time.perf_counter() - started


def test_settling_takes_the_long_lived_heap_out_of_full_collections_and_lets_cycles_go() -> None:
    long_lived = [[i] for i in range(300_000)]  # a model library's worth of objects (lists: always tracked)
    try:
        before = min(_full_collection_seconds() for _ in range(3))
        HeapSettler().settle()
        assert gc.get_freeze_count() >= len(long_lived)
        after = min(_full_collection_seconds() for _ in range(3))
        assert after < before / 5, (before, after)

        removed = [_Cycle() for _ in range(1_000)]  # what a deleted endpoint leaves in reference cycles
        HeapSettler().settle()
        frozen = gc.get_freeze_count()
        del removed
        HeapSettler().settle()  # unfreezes first, so the cycles are collected, not kept for good
        assert gc.get_freeze_count() <= frozen - 1_000
        assert not [o for o in gc.get_objects() if isinstance(o, _Cycle)]
    finally:
        gc.unfreeze()  # the rest of the test session collects as usual
        del long_lived


def test_changes_close_together_settle_once_after_the_delay() -> None:
    async def scenario() -> list[float]:
        settler = HeapSettler(delay=0.05)
        settled: list[float] = []
        settle = settler.settle

        def recorded() -> None:
            settled.append(time.monotonic())
            settle()

        settler.settle = recorded  # type: ignore[method-assign]
        started = time.monotonic()
        for _ in range(5):  # several deployments finishing at once
            settler.soon()
        await asyncio.sleep(0.2)
        settler.soon()
        settler.cancel()  # shutdown: nothing left scheduled
        await asyncio.sleep(0.1)
        return [t - started for t in settled]

    try:
        settled = asyncio.run(scenario())
    finally:
        gc.unfreeze()
    assert len(settled) == 1 and 0.04 < settled[0] < 0.2, settled
