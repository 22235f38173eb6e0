"""Fixtures for the pre-check tests: layout containers (tests/containers/layout_container.py) as real processes on
loopback, sample records, and a helper that deploys a pre-checked config on the shared live server."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from tests.conftest import free_port, wait_for_ping

from openclarify.services.precheck import PrecheckLimits, PrecheckReport, PrecheckRequest, PrecheckService, Target

SCRIPT = Path(__file__).parent.parent / "containers" / "layout_container.py"
ODD = Path(__file__).parent / "odd_container.py"
N_FEATURES = 5
FAST_WAIT = {"Delay": 0.2, "MaxAttempts": 150}
_names = itertools.count()


def unique(prefix: str) -> str:
    return f"{prefix}-{next(_names)}"


class LayoutContainer:
    def __init__(self, layout: str, *flags: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [sys.executable, str(SCRIPT), "--port", str(self.port), "--layout", layout, *flags]
        self.process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def wait(self) -> LayoutContainer:
        if wait_for_ping(self.url, every=0.02):
            return self
        self.stop()
        raise RuntimeError("the layout container did not start")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(10)


@pytest.fixture(scope="session")
def containers() -> Iterator[Callable[..., LayoutContainer]]:
    """``containers(layout, *flags)``: one running container per distinct arguments, started on first use."""
    started: dict[tuple[str, ...], LayoutContainer] = {}

    def get(layout: str, *flags: str) -> LayoutContainer:
        key = (layout, *flags)
        if key not in started:
            started[key] = LayoutContainer(layout, *flags).wait()
        return started[key]

    yield get
    for container in started.values():
        container.stop()


@pytest.fixture(scope="module")
def odd() -> Iterator[Callable[..., str]]:
    """``odd(*flags)``: the URL of tests/precheck/odd_container.py run with those flags (one process per flags)."""
    started: dict[tuple[str, ...], tuple[subprocess.Popen[bytes], str]] = {}

    def get(*flags: str) -> str:
        if flags not in started:
            port = free_port()
            cmd = [sys.executable, str(ODD), "--port", str(port), *flags]
            process = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:  # not /ping: it may be slow on purpose
                try:
                    httpx.post(url + "/invocations", content=b"0\n", timeout=5)
                    break
                except httpx.HTTPError:
                    time.sleep(0.05)
            started[flags] = (process, url)
        return started[flags][1]

    yield get
    for process, _ in started.values():
        process.terminate()
        process.wait(10)


def sample(n: int = 12, width: int = N_FEATURES, seed: int = 3) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, width)).round(3)


def csv_text(rows: np.ndarray) -> str:
    return "\n".join(",".join(repr(float(v)) for v in row) for row in np.atleast_2d(rows)) + "\n"


def jsonl_text(rows: np.ndarray) -> str:
    return "".join(json.dumps({"data": {"features": [float(v) for v in row]}}) + "\n" for row in rows)


def precheck(target: str | Target, records: str, *, timing_seconds: float = 0.3, **kwargs: Any) -> PrecheckReport:
    """The check with a short timing budget (tests stay fast); a test that needs the timing to reach a given batch
    size, whatever the machine's load, gives it more."""
    import asyncio

    service = PrecheckService(limits=PrecheckLimits(total_seconds=30, timing_seconds=timing_seconds))
    target = Target(url=target) if isinstance(target, str) else target
    return asyncio.run(service.run(PrecheckRequest(target=target, records=records.encode(), **kwargs)))


def levels(report: PrecheckReport, level: str) -> list[str]:
    return [f.message for f in report.findings if f.level == level]


def deploy(sagemaker: Any, container: dict[str, Any], explainer_config: dict[str, Any]) -> str:
    name = unique("pc")
    sagemaker.create_model(ModelName=name, PrimaryContainer=container)
    sagemaker.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": name, "InitialInstanceCount": 1, "InstanceType": "ml.m5.large"}
        ],
        ExplainerConfig=explainer_config,
    )
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST_WAIT)
    return name
