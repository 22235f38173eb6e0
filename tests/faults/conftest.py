"""Fixtures for the fault-injection tests: a misbehaving model container and a server with a short deadline."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.conftest import LiveServer, free_port

DEADLINE = 3.0
SCRIPT = Path(__file__).parent.parent / "containers" / "fault_container.py"


class FaultContainer:
    """tests/containers/fault_container.py as a subprocess on a fixed port, so it can die and come back."""

    def __init__(self, fault: str | None = None, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.fault = fault
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True) -> FaultContainer:
        cmd = [sys.executable, str(SCRIPT), "--port", str(self.port)]
        if self.fault:
            cmd += ["--fault", self.fault]
        self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while wait and time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("the fault container exited at start")
            try:
                httpx.get(self.url + "/ping", timeout=0.5)
                return self
            except httpx.HTTPError:
                time.sleep(0.05)
        if wait:
            self.stop()
            raise RuntimeError("the fault container did not start")
        return self

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None


@pytest.fixture(scope="module")
def fault_container() -> Iterator[FaultContainer]:
    live = FaultContainer().start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def fault_server(tmp_path_factory: pytest.TempPathFactory, model_root: Path) -> Iterator[LiveServer]:
    """Invocations must finish within DEADLINE seconds; containers get 3 s to pass /ping."""
    live = LiveServer(
        tmp_path_factory.mktemp("fault-server"),
        [model_root],
        env={"OPENCLARIFY_INVOKE_DEADLINE_SECONDS": str(DEADLINE)},
    ).start()
    yield live
    live.stop()
