"""Helpers the benchmark scripts share for the servers and containers they start on loopback."""

from __future__ import annotations

import socket
import subprocess
import time

import boto3
import httpx
from botocore.config import Config


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ping(url: str, process: subprocess.Popen, timeout: float = 60.0) -> None:
    """Until ``url``/ping answers 200; fails at once if the process exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the process exited ({process.returncode})")
        try:
            if httpx.get(url + "/ping", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer /ping")


def client(service: str, url: str, *, pool: int, read_timeout: float):
    """A boto3 client for a server started by the bench: placeholder keys (the server runs without access keys)
    and no retries, so every call measured is one call."""
    return boto3.session.Session().client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="AKIDBENCH",
        aws_secret_access_key="unused",
        config=Config(retries={"max_attempts": 1}, max_pool_connections=pool, read_timeout=read_timeout),
    )
