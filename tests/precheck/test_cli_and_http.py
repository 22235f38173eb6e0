"""``openclarify precheck`` as users run it (exit codes, text and JSON, --create through boto3, a built-in model
file, a registered model) and ``POST /-/precheck`` on the live server (contract, host policy, bad input)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
from tests.conftest import LiveServer
from tests.precheck.conftest import csv_text, sample, unique
from tests.precheck.test_layouts import attribution_sums


def cli(*args: str, stdin: str | None = None, server: LiveServer | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENCLARIFY_", "AWS_"))}
    if server is not None:
        env.update(AWS_ACCESS_KEY_ID="AKIDTESTING", AWS_SECRET_ACCESS_KEY="x", AWS_DEFAULT_REGION="us-east-1")
        args = (*args, "--endpoint-url", server.url)
    return subprocess.run(
        [sys.executable, "-m", "openclarify", "precheck", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.fixture(scope="module")
def records_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("records") / "sample.csv"
    path.write_text(csv_text(sample()))
    return path


def test_cli_text_output_and_exit_code_0(containers, records_file):
    done = cli("--url", containers("autopilot").url, "--records", str(records_file))
    assert done.returncode == 0, done.stderr
    assert "ok    " in done.stdout and "ProbabilityIndex 1, LabelIndex 0" in done.stdout
    assert "sm.create_endpoint_config(" in done.stdout and '"ProbabilityIndex": 1' in done.stdout
    assert "Traceback" not in done.stderr


def test_cli_json_from_stdin_matches_the_http_contract(containers):
    done = cli("--url", containers("jsonl-score").url, "--format", "json", stdin=csv_text(sample()))
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert set(payload) == {"ok", "findings", "explainer_config", "estimates"}
    assert payload["explainer_config"]["ClarifyExplainerConfig"]["InferenceConfig"] == {"ProbabilityAttribute": "score"}


def test_cli_exit_code_1_when_the_container_cannot_be_explained(containers, records_file):
    done = cli("--url", containers("probability", "--reverse-batches").url, "--records", str(records_file))
    assert done.returncode == 1
    assert "error" in done.stdout and "Not explainable as is" in done.stdout
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--url", "http://127.0.0.1:1", "--records", "/nonexistent/records.csv"], "cannot read"),
        (["--image", "openclarify/xgboost", "--records", "/dev/null"], "--image needs --model-data"),
        (["--url", "ftp://127.0.0.1/x", "--records", "SAMPLE"], "http:// or https://"),
        (["--url", "http://127.0.0.1:1", "--records", "EMPTY"], "holds no records"),
    ],
)
def test_cli_usage_errors_are_one_line_and_exit_2(args, message, tmp_path):
    (tmp_path / "sample.csv").write_text("1,2\n")
    (tmp_path / "empty.csv").write_text("\n")
    files = {"SAMPLE": str(tmp_path / "sample.csv"), "EMPTY": str(tmp_path / "empty.csv")}
    done = cli(*[files.get(a, a) for a in args])
    assert done.returncode == 2
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1


@pytest.fixture(scope="module")
def xgb_model(model_root: Path) -> tuple[Path, object]:
    import xgboost

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    y = (X[:, 0] - X[:, 1] > 0).astype(int)
    booster = xgboost.train({"objective": "binary:logistic", "max_depth": 2}, xgboost.DMatrix(X, label=y), 10)
    folder = model_root / "precheck"
    folder.mkdir(exist_ok=True)
    booster.save_model(str(folder / "xgb.json"))
    return folder / "xgb.json", booster


def test_cli_builtin_model_and_create_end_to_end(xgb_model, records_file, server, sagemaker_runtime):
    import xgboost

    path, booster = xgb_model
    name = unique("pc-create")
    done = cli(
        "--image", "openclarify/xgboost", "--model-data", str(path), "--records", str(records_file),
        "--create", name, server=server,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "built-in runtime openclarify/xgboost loaded the model" in done.stdout
    assert f"Created model, endpoint config and endpoint {name}: InService." in done.stdout

    rows = sample()
    answer = sagemaker_runtime.invoke_endpoint(EndpointName=name, Body=csv_text(rows[:1]), ContentType="text/csv")
    payload = json.loads(answer["Body"].read())
    baseline = np.median(rows, axis=0, keepdims=True)
    f = booster.predict(xgboost.DMatrix(np.vstack([rows[:1], baseline])))
    assert np.allclose(attribution_sums(payload), [f[0] - f[1]], atol=1e-6)


def test_cli_registered_model(containers, records_file, server, sagemaker):
    name = unique("pc-registered")
    sagemaker.create_model(ModelName=name, PrimaryContainer={"Image": containers("multiclass").url})
    done = cli("--model", name, "--records", str(records_file), "--format", "json", server=server)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["estimates"]["baseline_1"]["n_samples"] == 30

    missing = cli("--model", "no-such-model", "--records", str(records_file), server=server)
    assert missing.returncode == 4 and "Could not find model" in missing.stderr


# -- POST /-/precheck ------------------------------------------------------------------------------------------


def post(server: LiveServer, payload: object, **headers: str) -> httpx.Response:
    headers = {"Content-Type": "application/json", **headers}
    return httpx.post(server.url + "/-/precheck", content=json.dumps(payload), headers=headers, timeout=60)


def test_http_precheck_contract(containers, server):
    url = containers("label-probability").url
    response = post(server, {"container_url": url, "records": csv_text(sample()), "content_type": "text/csv"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"ok", "findings", "explainer_config", "estimates"} and body["ok"] is True
    assert all(set(f) == {"level", "message"} and f["level"] in ("ok", "warn", "error") for f in body["findings"])
    assert body["explainer_config"]["ClarifyExplainerConfig"]["InferenceConfig"] == {
        "ProbabilityIndex": 1,
        "LabelIndex": 0,
    }
    assert body["estimates"]["baseline_10"]["baseline_size"] == 10


def test_http_precheck_of_a_registered_model(containers, server, sagemaker):
    name = unique("pc-http-model")
    sagemaker.create_model(ModelName=name, PrimaryContainer={"Image": containers("jsonl-label-probability").url})
    body = post(server, {"model_name": name, "records": csv_text(sample())}).json()
    assert body["ok"], body
    assert body["explainer_config"]["ClarifyExplainerConfig"]["InferenceConfig"]["LabelAttribute"] == "predicted_label"


def test_http_failing_container_answers_200_with_ok_false(containers, server):
    url = containers("probability", "--reverse-batches").url
    response = post(server, {"container_url": url, "records": csv_text(sample())})
    assert response.status_code == 200 and response.json()["ok"] is False


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"container_url": "http://10.1.2.3:8080", "records": "1,2\n"}, "not allowed"),
        ({"container_url": "http://example.com/", "records": "1,2\n"}, "not allowed"),
        ({"container_url": "file:///etc/passwd", "records": "1,2\n"}, "http:// or https://"),
        ({"container_url": "http://127.0.0.1:1"}, "'records' is required"),
        ({"container_url": 5, "records": "1\n"}, "must be a string"),
        ({"container_url": "http://127.0.0.1:1", "records": "x" * 1_100_000}, "at most"),
        ({"model_name": "no-such-model", "records": "1,2\n"}, "Could not find model"),
        ([1, 2], "JSON object"),
    ],
)
def test_http_bad_requests_answer_400_with_one_error(server, payload, message):
    response = post(server, payload)
    assert response.status_code == 400
    body = response.json()
    assert body["ok"] is False and body["explainer_config"] is None
    (finding,) = body["findings"]
    assert finding["level"] == "error" and message in finding["message"]


def test_http_localhost_by_name_is_loopback(containers, server):
    port = containers("probability").port
    ok = post(server, {"container_url": f"http://localhost:{port}", "records": csv_text(sample())})
    assert ok.status_code == 200 and ok.json()["ok"]


def test_the_operator_can_allow_other_hosts():
    """Checked without contacting the host: the policy, and the setting that feeds it."""
    from openclarify.errors import ValidationException
    from openclarify.services.precheck import HostPolicy
    from openclarify.settings import Settings

    settings = Settings.from_env({"OPENCLARIFY_PRECHECK_ALLOWED_HOSTS": "models.internal, 10.1.2.3"})
    policy = HostPolicy(settings.precheck_allowed_hosts)
    policy.check("http://10.1.2.3:8080")
    policy.check("https://MODELS.internal/")
    with pytest.raises(ValidationException, match="not allowed"):
        policy.check("http://10.1.2.4:8080")
    HostPolicy(("*",)).check("http://anything.example:8080")
    with pytest.raises(ValidationException, match="http:// or https://"):
        HostPolicy(("*",)).check("gopher://anything.example")
