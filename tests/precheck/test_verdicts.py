"""The pre-check says one thing and names the real cause: one verdict for the text, the exit code, ``ok`` and
``--create``; the Accept to ask for when a container answers one JSON document; NaN and infinity as what they are;
its own time limit and a slow /ping told apart from a slow or absent container; usage errors before the check; and
``POST /-/precheck`` closed to other web sites."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import numpy as np
import pytest
from tests.conftest import free_port
from tests.precheck.conftest import csv_text, levels, precheck, sample, unique
from tests.precheck.test_cli_and_http import cli, post

from openclarify.services.precheck import PrecheckLimits, PrecheckRequest, PrecheckService, Target


@pytest.fixture(scope="module")
def xgb_path(model_root: Path) -> Path:
    import xgboost

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5))
    booster = xgboost.train({"objective": "binary:logistic"}, xgboost.DMatrix(X, label=X[:, 0] > 0), 5)
    folder = model_root / "verdicts"
    folder.mkdir()
    booster.save_model(str(folder / "xgb.json"))
    return folder / "xgb.json"


@pytest.fixture(scope="module")
def records_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("verdicts") / "sample.csv"
    path.write_text(csv_text(sample()))
    return path


# -- one verdict -----------------------------------------------------------------------------------------------


def test_a_failing_accept_does_not_deny_the_config_that_works(xgb_path, records_file, server, sagemaker_runtime):
    args = ["--image", "openclarify/xgboost", "--model-data", str(xgb_path), "--records", str(records_file)]
    args += ["--accept", "application/json", "--accept", "text/csv"]
    name = unique("pc-verdict")
    done = cli(*args, "--create", name, server=server)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Explainable with this config, for requests with Content-Type text/csv and Accept text/csv." in done.stdout
    assert "Not explainable: text/csv → Accept application/json" in done.stdout
    assert f"Created model, endpoint config and endpoint {name}: InService." in done.stdout
    answer = sagemaker_runtime.invoke_endpoint(
        EndpointName=name, Body=csv_text(sample()[:1]), ContentType="text/csv", Accept="text/csv"
    )
    assert json.loads(answer["Body"].read())["explanations"]["kernel_shap"]

    payload = json.loads(cli(*args, "--format", "json").stdout)
    assert payload["ok"] is True and payload["explainer_config"] is not None
    assert [f["level"] for f in payload["findings"]].count("error") == 1  # the json Accept's, still reported


# -- application/json answers ----------------------------------------------------------------------------------


def test_one_json_document_gets_the_accept_hint(containers):
    report = precheck(containers("json").url, csv_text(sample()))
    (error,) = levels(report, "error")
    assert "ask it for Accept: application/jsonlines" in error and "predictions" in error


# -- NaN and infinity ------------------------------------------------------------------------------------------


def test_a_non_finite_sample_value_is_named_and_left_out(containers):
    rows = sample()
    text = csv_text(rows).replace(repr(float(rows[2, 1])), "nan", 1)
    report = precheck(containers("probability").url, text)
    assert report.ok, report.findings
    (warning,) = levels(report, "warn")
    assert "Sample record 3 holds nan in column 2" in warning and "left out" in warning
    baseline = report.explainer_config["ClarifyExplainerConfig"]["ShapConfig"]["ShapBaselineConfig"]["ShapBaseline"]
    assert np.allclose([float(v) for v in baseline.split(",")], np.median(np.delete(rows, 2, axis=0), axis=0))


@pytest.mark.parametrize(("mode", "where"), [("always", "record 1 gets a non-finite score"), ("batched", "record 2")])
def test_a_container_answering_nan_is_told_so(odd, mode, where):
    report = precheck(odd("--nan", mode), csv_text(sample()))
    assert not report.ok
    (error,) = levels(report, "error")
    assert where in error and "non-finite" in error and "NaN or infinite" in error
    said = " ".join(f.message for f in report.findings)
    misleading = ["nondeterministic", "request order", "MaxRecordCount 1"]
    if mode == "always":
        misleading.append("one score per record")
    assert not [m for m in misleading if m in said], said


# -- time limits -----------------------------------------------------------------------------------------------


def test_running_out_of_the_checks_own_time_is_not_a_verdict_on_the_container(odd):
    service = PrecheckService(limits=PrecheckLimits(total_seconds=1.0, timing_seconds=0.2))
    request = PrecheckRequest(Target(url=odd("--delay-ms", "300")), csv_text(sample()).encode())
    report = asyncio.run(service.run(request))
    (error,) = levels(report, "error")
    assert "did not finish within 1 s, its own time limit" in error
    assert "stopped while sending single records" in error and "slowest of its" in error
    assert "too slowly" not in error and "OPENCLARIFY_PRECHECK_TIMEOUT_SECONDS" in error


@pytest.mark.parametrize("value", ["0", "-5", "nan"])
def test_a_timeout_that_is_not_positive_is_a_usage_error(value, records_file):
    done = cli("--url", "http://127.0.0.1:1", "--records", str(records_file), f"--timeout={value}")
    assert done.returncode == 2 and "--timeout must be a positive number" in done.stderr


def test_a_slow_ping_is_told_apart_from_a_missing_container(odd):
    report = precheck(odd("--ping-delay-ms", "2500"), csv_text(sample()))
    (error,) = levels(report, "error")
    assert "later than SageMaker's 2-second limit" in error and "answered HTTP 200 after" in error
    assert "start the container" not in error


# -- wording and usage -----------------------------------------------------------------------------------------


def test_one_feature_counts_its_requests_in_the_singular(containers):
    report = precheck(containers("probability").url, csv_text(sample(width=1)))
    summary = next(m for m in levels(report, "ok") if m.startswith("Estimated explanation time"))
    assert "0 synthetic records in 1 request)" in summary and "M=1: 1 feature;" in summary


def test_the_label_headers_advice_is_given_once(containers):
    report = precheck(containers("multiclass").url, csv_text(sample()))
    assert sum("LabelHeaders" in f.message for f in report.findings) == 1


def test_an_invalid_create_name_is_refused_before_the_check(records_file):
    started = time.monotonic()
    done = cli("--url", f"http://127.0.0.1:{free_port()}", "--records", str(records_file), "--create", "no_such!")
    assert done.returncode == 2 and "is not a valid SageMaker name" in done.stderr
    assert "/ping" not in done.stdout + done.stderr and time.monotonic() - started < 30


def test_an_unknown_image_is_a_usage_error(records_file, server):
    done = cli("--image", "openclarify/bogus", "--model-data", str(records_file), "--records", str(records_file))
    assert done.returncode == 2 and "neither a built-in runtime" in done.stderr
    response = post(server, {"image": "openclarify/bogus", "records": "1,2\n"})
    assert response.status_code == 400 and "not a built-in runtime" in response.json()["findings"][0]["message"]


# -- not a tool for other web sites ----------------------------------------------------------------------------


def test_the_http_route_refuses_what_a_foreign_page_can_send(containers, server):
    payload = {"container_url": containers("probability").url, "records": csv_text(sample())}
    # A form or no-cors fetch from any site can POST text/plain without a preflight: refused.
    assert post(server, payload, **{"Content-Type": "text/plain"}).status_code == 415
    foreign = post(server, payload, Origin="https://evil.example")
    # Refused before the route by the guard on every route of a server without keys (wire.browser_guard), in the AWS
    # error shape; the route's own refusal, in its shape, remains for a server with keys.
    assert foreign.status_code == 403 and "Cross-origin requests are refused" in foreign.text
    same = post(server, payload, Origin=server.url)
    assert same.status_code == 200 and same.json()["ok"] is True
