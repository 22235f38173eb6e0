"""Several ProductionVariants behind one explainer: the weighted draw, TargetVariant, the invoked variant boto3 reads,
DescribeEndpoint's summaries, and admission control's retryable 503."""

from __future__ import annotations

import concurrent.futures
import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import ClientError
from tests.conftest import LiveServer
from tests.invoke.conftest import csv_body, deploy, shap_config, unique

XGB = "openclarify/xgboost"


@pytest.fixture(scope="module")
def weighted(sagemaker, trained, container, baseline) -> str:
    """Variant A (built-in XGBoost, weight 3), B (the same model in a container, weight 1), Z (weight 0)."""
    builtin = unique("var-model")
    sagemaker.create_model(ModelName=builtin, PrimaryContainer={"Image": XGB, "ModelDataUrl": str(trained[XGB].path)})
    remote = unique("var-model")
    sagemaker.create_model(ModelName=remote, PrimaryContainer={"Image": container.url})
    config = unique("var-config")
    variants = [("A", builtin, 3.0), ("B", remote, 1.0), ("Z", builtin, 0.0)]
    sagemaker.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=[
            {"VariantName": v, "ModelName": m, "InitialVariantWeight": w, "InitialInstanceCount": 1}
            for v, m, w in variants
        ],
        ExplainerConfig={"ClarifyExplainerConfig": shap_config(baseline, Seed=1)},
    )
    name = unique("var-ep")
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=config)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 150})
    return name


def test_the_draw_follows_the_weights_and_never_picks_weight_zero(sagemaker_runtime, weighted, records):
    seen = Counter(
        sagemaker_runtime.invoke_endpoint(
            EndpointName=weighted, Body=csv_body(records[:1]), ContentType="text/csv", EnableExplanations="`false`"
        )["InvokedProductionVariant"]
        for _ in range(200)
    )
    assert set(seen) <= {"A", "B"}
    assert 120 <= seen["A"] <= 180, seen  # 150 expected; this band is more than 5 standard deviations wide


def test_target_variant_reaches_any_variant_and_each_explains_with_its_model(
    sagemaker_runtime, weighted, trained, records
):
    answers = {}
    for variant in ("A", "B", "Z"):
        response = sagemaker_runtime.invoke_endpoint(
            EndpointName=weighted, Body=csv_body(records[:2]), ContentType="text/csv", TargetVariant=variant
        )
        assert response["InvokedProductionVariant"] == variant
        assert response["ContentType"] == "application/json"
        answers[variant] = json.loads(response["Body"].read())
    p = trained[XGB].predict(records[:2])
    for answer in answers.values():
        assert [float(v) for v in answer["predictions"]["data"].split()] == pytest.approx(p.tolist(), abs=1e-6)
        assert [e is not None for e in answer["explanations"]["kernel_shap"]] == [True, True]
    # The container answers its own content type (with a charset), the built-in runtime plain text/csv.
    assert answers["B"]["predictions"]["content_type"] == "text/csv; charset=utf-8"
    assert answers["A"]["predictions"]["content_type"] == "text/csv"


def test_an_unknown_or_differently_cased_variant_is_a_validation_error(sagemaker_runtime, weighted):
    for target in ("C", "a"):
        with pytest.raises(ClientError) as info:
            sagemaker_runtime.invoke_endpoint(
                EndpointName=weighted, Body=b"0.1,0.2,0.3,0.4,0.5", ContentType="text/csv", TargetVariant=target
            )
        error = info.value.response["Error"]
        assert (error["Code"], error["Message"]) == (
            "ValidationError",
            f"Endpoint {weighted} does not have a variant named {target}.",
        )


def test_describe_endpoint_summarises_each_variant(sagemaker, weighted):
    summaries = sagemaker.describe_endpoint(EndpointName=weighted)["ProductionVariants"]
    assert [(s["VariantName"], s["CurrentWeight"], s["DesiredWeight"]) for s in summaries] == [
        ("A", 3.0, 3.0),
        ("B", 1.0, 1.0),
        ("Z", 0.0, 0.0),
    ]
    assert all(s["CurrentInstanceCount"] == s["DesiredInstanceCount"] == 1 for s in summaries)


@pytest.fixture(scope="module")
def no_queue_server(tmp_path_factory: pytest.TempPathFactory, model_root: Path) -> Iterator[LiveServer]:
    """A server that refuses what cannot start at once."""
    live = LiveServer(
        tmp_path_factory.mktemp("no-queue"), [model_root], env={"OPENCLARIFY_MAX_QUEUED_INVOCATIONS": "0"}
    ).start()
    yield live
    live.stop()


def test_a_variant_at_capacity_answers_a_retryable_503(no_queue_server, container):
    sagemaker, runtime = no_queue_server.client("sagemaker"), no_queue_server.client("sagemaker-runtime")
    name = deploy(sagemaker, {"Image": container.url}, variants=[{"VariantName": "One", "InitialInstanceCount": 1}])

    def slow(_: int) -> dict:
        try:
            runtime.invoke_endpoint(
                EndpointName=name, Body=b"0.1,0.2,0.3,0.4,0.5", ContentType="text/csv", CustomAttributes="delay=0.5"
            )
            return {"Code": "OK"}
        except ClientError as exc:
            return {**exc.response["Error"], **exc.response["ResponseMetadata"]}

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        outcomes = list(pool.map(slow, range(3)))
    refused = [o for o in outcomes if o["Code"] != "OK"]
    assert len(refused) == 2, outcomes
    for outcome in refused:
        assert (outcome["Code"], outcome["HTTPStatusCode"]) == ("ServiceUnavailable", 503)
        assert outcome["HTTPHeaders"]["retry-after"] == "1"
        assert outcome["Message"].startswith("Variant One is at capacity: 1 invocation(s) running and 0 waiting.")
