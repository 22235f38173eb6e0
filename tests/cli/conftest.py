"""What the command-line tests share: an ``openclarify serve`` subprocess of their own (so what other suites
deploy does not show in these listings), an explained endpoint and one without an explainer on it, and
:func:`cli`, which runs ``openclarify`` as a user does, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import numpy as np
import pytest
from tests.conftest import LiveServer

N_FEATURES = 8
NAMES = [f"x{j}" for j in range(N_FEATURES)]


def cli(
    *args: str,
    url: str | None = None,
    stdin: str | bytes | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 60,
    bounded: bool = False,
) -> subprocess.CompletedProcess:
    """``openclarify ARGS`` with none of the caller's AWS_ or OPENCLARIFY_ variables; ``url`` goes in
    ``$AWS_ENDPOINT_URL_SAGEMAKER``. Text in and out, unless ``stdin`` is bytes. ``bounded`` gives the command at most
    1 GiB of address space, so one reading without bound fails with MemoryError at once instead of taking the
    machine's memory."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OPENCLARIFY_"))}
    clean["COLUMNS"] = "200"
    if url:
        clean["AWS_ENDPOINT_URL_SAGEMAKER"] = url
    return subprocess.run(
        [sys.executable, "-m", "openclarify", *args],
        input=stdin,
        capture_output=True,
        text=not isinstance(stdin, bytes),
        env={**clean, **(env or {})},
        timeout=timeout,
        preexec_fn=_limited_memory if bounded else None,
    )


def _limited_memory() -> None:
    import resource

    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


def one_line_error(result: subprocess.CompletedProcess, code: int) -> str:
    """The one line on stderr of a command that failed with exit code ``code`` (docs/cli.md); returns it."""
    assert result.returncode == code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.startswith("openclarify: ") and result.stderr.count("\n") == 1, result.stderr
    return result.stderr.strip()


@pytest.fixture(scope="session")
def cli_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("cli-server")
    live = LiveServer(data_dir, [data_dir / "models"]).start()
    yield live
    live.stop()


def _deploy(server: LiveServer, name: str, model: object, explainer: dict | None = None) -> str:
    """The model saved with skops, then model, endpoint config and endpoint ``name`` through boto3; InService."""
    import skops.io

    path = server.model_roots[0] / f"{name}.skops"
    path.parent.mkdir(exist_ok=True)
    skops.io.dump(model, path)
    sm = server.client("sagemaker")
    sm.create_model(ModelName=name, PrimaryContainer={"Image": "openclarify/sklearn", "ModelDataUrl": str(path)})
    variant = {"VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
    extra = {"ExplainerConfig": {"ClarifyExplainerConfig": explainer}} if explainer else {}
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant], **extra)
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    return name


@pytest.fixture(scope="session")
def explained_endpoint(cli_server: LiveServer) -> str:
    """A classifier on N_FEATURES features behind an explainer with a sampled budget (so error bars show); model,
    config and endpoint are all named ``cli-explained``."""
    from sklearn.ensemble import GradientBoostingClassifier

    rng = np.random.default_rng(3)
    X = rng.normal(size=(300, N_FEATURES))
    y = (X[:, 0] + 0.8 * X[:, 1] - 0.6 * X[:, 2] + 0.4 * X[:, 3] * X[:, 4] > 0).astype(int)
    model = GradientBoostingClassifier(n_estimators=20, max_depth=2, random_state=0).fit(X, y)
    baseline = "\n".join(",".join(f"{v:.3f}" for v in row) for row in X[:4])
    explainer = {
        "InferenceConfig": {"FeatureHeaders": NAMES},
        "ShapConfig": {
            "ShapBaselineConfig": {"MimeType": "text/csv", "ShapBaseline": baseline},
            "NumberOfSamples": 60,
            "Seed": 5,
        },
    }
    return _deploy(cli_server, "cli-explained", model, explainer)


@pytest.fixture(scope="session")
def plain_endpoint(cli_server: LiveServer) -> str:
    """A regressor on N_FEATURES features behind an endpoint without ExplainerConfig: predictions only, one number
    per line."""
    from sklearn.ensemble import GradientBoostingRegressor

    rng = np.random.default_rng(7)
    X = rng.normal(size=(200, N_FEATURES))
    model = GradientBoostingRegressor(n_estimators=10, max_depth=2, random_state=0).fit(X, 3 * X[:, 0] + X[:, 1])
    return _deploy(cli_server, "cli-plain", model)
