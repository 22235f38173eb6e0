"""Coalition designs planned ahead, off the request path, for explainer endpoints without a ``Seed``.

Without a Seed every explanation needs a design of its own, from a fresh seed. Planning it (renaming the players of
a remembered template, about 0.03 ms at M = 20 and 0.14 ms with two baseline groups; drawing a template the first
time a key is asked for, 0.7 and 1.9 ms) is model-independent work, so a worker thread does it between requests:
each request takes a design that was planned for it ahead of time, with its own seed from the OS, and uses it once.
Nothing about the result changes: the design is exactly ``plan_design`` for that seed, the seed is reported, and
passing it reproduces the explanation. When no design is ready the request plans its own, as before.
"""

from __future__ import annotations

import threading
from collections import deque
from concurrent.futures import Executor

from openclarify.kernelshap import CoalitionDesign, draw_seed, plan_design
from openclarify.services import telemetry

DesignKey = tuple  # (players, budget, allocation, baseline groups), as kernelshap.explain asks for it


class DesignPool:
    """Up to ``depth`` designs ready per key, refilled on ``planner`` (one worker thread is plenty: a design takes
    about a millisecond). Safe to use from many request threads at once; no design is handed out twice."""

    def __init__(self, planner: Executor, depth: int = 2) -> None:
        self._planner = planner
        self._depth = depth
        self._ready: dict[DesignKey, deque[tuple[int, CoalitionDesign]]] = {}
        self._refilling: set[DesignKey] = set()
        self._lock = threading.Lock()

    def take(self, key: DesignKey) -> tuple[int, CoalitionDesign] | None:
        """A (seed, design) planned ahead for ``key``, or None (the caller plans its own). Call ``refill`` once the
        request is answered: planning while it runs would compete with it for the cores."""
        with self._lock:
            ready = self._ready.setdefault(key, deque())
            taken = ready.popleft() if ready else None
        telemetry.current().design(ahead=taken is not None)
        return taken

    def refill(self) -> None:
        """Plan, on the planner thread, what the keys asked for so far are short of."""
        with self._lock:
            short = [k for k, ready in self._ready.items() if len(ready) < self._depth and k not in self._refilling]
            self._refilling.update(short)
        for key in short:
            try:
                self._planner.submit(self._refill, key)
            except RuntimeError:  # the planner was shut down with the server: nothing more to plan
                with self._lock:
                    self._refilling.discard(key)

    def ready(self, key: DesignKey) -> int:
        with self._lock:
            return len(self._ready.get(key, ()))

    def _refill(self, key: DesignKey) -> None:
        n_players, budget, allocation, n_groups = key
        try:
            while True:
                with self._lock:
                    if len(self._ready[key]) >= self._depth:
                        return
                seed = draw_seed()
                design = plan_design(n_players, budget, seed, allocation, n_groups)
                with self._lock:
                    self._ready[key].append((seed, design))
        finally:
            with self._lock:
                self._refilling.discard(key)
