"""Shared fixtures: a live ``openclarify serve`` process on a free loopback port, and boto3 clients for it.

The server runs as a real subprocess (the same command users run), so tests exercise uvicorn, the lifespan,
SQLite on disk and restarts exactly as deployed.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.config import Config

REGION = "us-east-1"
DUMMY_KEY, DUMMY_SECRET = "AKIDTESTING", "not-checked"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` run only when asked for (``pytest -m slow``); the default run leaves them out."""
    if config.getoption("markexpr"):
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_ping(url: str, seconds: float = 20, every: float = 0.05) -> bool:
    """Whether ``url`` answers ``GET /ping`` with 200 within ``seconds``: a container or server just started."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/ping", timeout=0.5).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(every)
    return False


def ping_seconds(url: str, times: int = 5, timeout: float = 10) -> list[float]:
    """How long each of ``times`` GET /ping took, each answered 200: how long the event loop keeps requests waiting."""
    took = []
    for _ in range(times):
        started = time.monotonic()
        assert httpx.get(url + "/ping", timeout=timeout).status_code == 200
        took.append(time.monotonic() - started)
    return took


class LiveServer:
    """One ``openclarify serve`` subprocess; ``stop()`` then ``start()`` restarts it on the same data dir."""

    def __init__(
        self,
        data_dir: Path,
        model_roots: list[Path],
        env: dict[str, str] | None = None,
        extra_args: list[str] | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.model_roots = model_roots
        base = {k: v for k, v in os.environ.items() if not k.startswith("OPENCLARIFY_")}
        self.env = {**base, "OPENCLARIFY_CONTAINER_STARTUP_TIMEOUT_SECONDS": "3", **(env or {})}
        self.extra_args = extra_args or []
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = data_dir / "server.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "openclarify", "serve", "--port", str(self.port)]
        cmd += ["--data-dir", str(self.data_dir)]
        for root in self.model_roots:
            cmd += ["--model-root", str(root)]
        return cmd + self.extra_args

    def start(self, timeout: float = 30.0) -> LiveServer:
        self.port = free_port()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(self.command(), env=self.env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log()}")
            try:
                if httpx.get(self.url + "/ping", timeout=0.5).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"server did not answer /ping:\n{self.log()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def client(self, service: str, key: str = DUMMY_KEY, secret: str = DUMMY_SECRET, **config: object):
        return boto3.session.Session().client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            # One attempt: a retry would hide a failure the test must see (botocore's max_attempts counts retries,
            # so the max_attempts 1 these clients had retried once).
            config=Config(**{"retries": {"total_max_attempts": 1, "mode": "standard"}, **config}),
        )


@pytest.fixture(scope="session")
def model_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The directory test models are written to; the shared server allows ModelDataUrl only under it."""
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, model_root: Path) -> Iterator[LiveServer]:
    live = LiveServer(tmp_path_factory.mktemp("server"), [model_root]).start()
    yield live
    live.stop()


@pytest.fixture(scope="session")
def sagemaker(server: LiveServer):
    return server.client("sagemaker")


@pytest.fixture(scope="session")
def sagemaker_runtime(server: LiveServer):
    return server.client("sagemaker-runtime")


@pytest.fixture(scope="session")
def postgres() -> Iterator[object]:
    """A real PostgreSQL server on loopback for this session (tests/pgserver.py); ``.create_database()``."""
    from tests.pgserver import PostgresServer

    pg = PostgresServer(free_port()).start()
    yield pg
    pg.stop()
