"""A local Ray head on loopback only, a PostgreSQL server, and ``openclarify serve --ray`` against both.

Ray is started with the settings that keep every listener on 127.0.0.1 (docs/scaling.md) and stopped at the end.
These tests are marked ``distributed`` (deselect with ``-m 'not distributed'``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import LiveServer, free_port

pytest.importorskip("ray.serve", reason="the ray extra is not installed")

LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
N_FEATURES = 8


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/distributed" in str(item.fspath):
            item.add_marker(pytest.mark.distributed)


@pytest.fixture(scope="session")
def ray_head(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    ray = str(Path(sys.executable).parent / "ray")
    port = free_port()
    # Serve's controller kills an HTTP proxy not ready within 5 s, three times over; on a loaded 2-core machine its
    # start-up takes longer (docs/scaling.md), and the server would exit before any test ran.
    env = {**os.environ, **LOOPBACK_ENV, "RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S": "60"}
    temp = tmp_path_factory.mktemp("ray")
    cmd = [ray, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2"]
    cmd += ["--include-dashboard=false", "--object-store-memory=200000000", "--disable-usage-stats"]
    cmd += [f"--temp-dir={temp}"]
    subprocess.run(cmd, check=True, env=env, capture_output=True, timeout=120)
    try:
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([ray, "stop", "--force"], env=env, capture_output=True, timeout=120)
        shutil.rmtree(temp, ignore_errors=True)


@pytest.fixture(scope="session")
def dist_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    import lightgbm
    import skops.io
    from sklearn.linear_model import LogisticRegression

    root = tmp_path_factory.mktemp("dist-models")
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, N_FEATURES))
    y = (X[:, 0] + 0.5 * X[:, 1] - X[:, 2] > 0).astype(int)
    files = {"sklearn": root / "lr" / "model.skops", "lightgbm": root / "lgb" / "model.txt"}
    for f in files.values():
        f.parent.mkdir()
    skops.io.dump(LogisticRegression().fit(X, y), files["sklearn"])
    lightgbm.train({"objective": "binary", "verbose": -1, "num_leaves": 7}, lightgbm.Dataset(X, y), 20).save_model(
        str(files["lightgbm"])
    )
    return files


@pytest.fixture(scope="session")
def ray_server(ray_head: str, postgres, dist_models, tmp_path_factory) -> Iterator[LiveServer]:
    args = ["--ray", "--ray-address", ray_head, "--database-url", postgres.create_database()]
    root = next(iter(dist_models.values())).parent.parent
    live = LiveServer(tmp_path_factory.mktemp("ray-server"), [root], env=LOOPBACK_ENV, extra_args=args)
    live.start(timeout=240)  # seconds when the machine is quiet; minutes when it is loaded
    yield live
    live.stop()
