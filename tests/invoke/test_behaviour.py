"""EnableExplanations (the spec's table, per-record gating, the header override), errors with boto3's codes,
pass-through endpoints, the extended response, baseline failures at deployment, and the deadline."""

from __future__ import annotations

import json
import time

import httpx
import numpy as np
import pytest
from botocore.exceptions import ClientError
from tests.invoke.conftest import csv_body, deploy, failure_reason, shap_config

XGB = "openclarify/xgboost"


def error_of(call, **kwargs) -> dict:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    response = info.value.response
    return {**response["Error"], "status": response["ResponseMetadata"]["HTTPStatusCode"], "response": response}


@pytest.fixture(scope="module")
def xgb_endpoint(sagemaker, trained, baseline) -> str:
    return deploy(sagemaker, {"Image": XGB, "ModelDataUrl": str(trained[XGB].path)}, shap_config(baseline))


@pytest.fixture(scope="module")
def remote_endpoint(sagemaker, container, baseline) -> str:
    return deploy(sagemaker, {"Image": container.url}, shap_config(baseline, Seed=1))


def call(runtime, name, body, **kwargs) -> dict:
    response = runtime.invoke_endpoint(EndpointName=name, Body=body, **kwargs)
    return json.loads(response["Body"].read())


# -- EnableExplanations --------------------------------------------------------------------------------------------


def test_header_false_gives_empty_explanations_and_the_model_answer(sagemaker_runtime, xgb_endpoint, records):
    response = sagemaker_runtime.invoke_endpoint(
        EndpointName=xgb_endpoint, Body=csv_body(records[:2]), ContentType="text/csv", EnableExplanations="`false`"
    )
    raw = response["Body"].read()
    body = json.loads(raw)
    assert body["explanations"] == {}
    assert raw.endswith(b',"explanations":{}}')  # compact JSON, Clarify's bytes
    assert len(body["predictions"]["data"].splitlines()) == 2


def test_header_overrides_the_config_per_record(sagemaker_runtime, xgb_endpoint, trained, records):
    scores = trained[XGB].predict(records)
    threshold = float(np.median(scores))
    body = call(
        sagemaker_runtime,
        xgb_endpoint,
        csv_body(records),
        ContentType="text/csv",
        EnableExplanations=f"[0]>`{threshold}`",
    )
    assert [e is not None for e in body["explanations"]["kernel_shap"]] == (scores > threshold).tolist()


def test_label_and_probability_csv_output_index_1(sagemaker_runtime, remote_endpoint, trained, records):
    # The table's '[1]>`0.5`' on '1,0.6': the model answers label,probability per CSV line.
    scores = trained[XGB].predict(records)
    body = call(
        sagemaker_runtime,
        remote_endpoint,
        csv_body(records),
        ContentType="text/csv",
        CustomAttributes="csv=label",
        EnableExplanations="[1]>`0.5`",
    )
    assert body["predictions"]["data"].splitlines()[0] == f"{int(scores[0] > 0.5)},{float(scores[0])!r}"
    assert [e is not None for e in body["explanations"]["kernel_shap"]] == (scores > 0.5).tolist()
    # Without ProbabilityIndex the whole row (label and probability) is the score vector: two outputs.
    explained = [e for e in body["explanations"]["kernel_shap"] if e is not None]
    assert {len(f["attributions"][0]["attribution"]) for f in explained[0]} == {2}


def test_multiclass_jsonlines_expression_and_label_headers(sagemaker, sagemaker_runtime, container, trained, records):
    explainer = {
        "EnableExplanations": "!contains(probabilities[:-1], max(probabilities))",
        "InferenceConfig": {"ProbabilityAttribute": "probabilities", "LabelAttribute": "labels"},
        **shap_config(np.array([[0.11, -0.23, 0.05, 0.31, -0.07]])),
    }
    name = deploy(sagemaker, {"Image": container.url}, explainer)
    body = call(
        sagemaker_runtime,
        name,
        csv_body(records),
        ContentType="text/csv",
        Accept="application/jsonlines",
        CustomAttributes="classes=3",
    )
    p = trained[XGB].predict(records)
    fish_wins = p > (1 - p) / 2
    assert body["label_headers"] == ["cat", "dog", "fish"]
    assert list(body) == ["version", "predictions", "label_headers", "explanations"]
    kernel_shap = body["explanations"]["kernel_shap"]
    assert [e is not None for e in kernel_shap] == fish_wins.tolist()
    phi = np.array([f["attributions"][0]["attribution"] for f in next(e for e in kernel_shap if e is not None)])
    assert phi.shape == (5, 3)  # one attribution per class
    np.testing.assert_allclose(phi.sum(axis=1), 0.0, atol=1e-12)  # the three class probabilities sum to 1


def test_a_non_boolean_result_is_a_validation_error_naming_expression_and_value(
    sagemaker_runtime, xgb_endpoint, records
):
    error = error_of(
        sagemaker_runtime.invoke_endpoint,
        EndpointName=xgb_endpoint,
        Body=csv_body(records[:1]),
        ContentType="text/csv",
        EnableExplanations="[0]",
    )
    assert error["Code"] == "ValidationError" and error["status"] == 400
    assert "'[0]'" in error["Message"] and "must give true or false" in error["Message"]


def test_an_invalid_header_expression_is_a_validation_error(sagemaker_runtime, xgb_endpoint, records):
    error = error_of(
        sagemaker_runtime.invoke_endpoint,
        EndpointName=xgb_endpoint,
        Body=csv_body(records[:1]),
        ContentType="text/csv",
        EnableExplanations="[0]>>",
    )
    assert error["Code"] == "ValidationError"
    assert "not a valid JMESPath expression" in error["Message"]


# -- client errors are 4xx and name the record -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "words"),
    [
        ("1,2,3\n", "text/csv", "Record 1 has 3 features but the SHAP baseline has 5"),
        ("0.1,0.2,0.3,0.4,0.5\n0.1,0.2\n", "text/csv", "Record 2 has 2 features; expected 5"),
        ('0.1,"0.2,0.3,0.4,0.5\n', "text/csv", "is not valid CSV"),
        ("0.1,abc,0.3,0.4,0.5\n", "text/csv", "Record 1, column 2"),
        ('{"a": 1}\n', "application/json", "not supported for explanations"),
        ("[1,2,3,4,5]\n{oops\n", "application/jsonlines", "Record 2 is not valid JSON"),
        # These two were a 500 (OverflowError, RecursionError) with a traceback in the log.
        pytest.param(
            f"[0.1,0.2,0.3,0.4,0.5]\n[1{'0' * 400},2,3,4,5]\n",
            "application/jsonlines",
            "Record 2, column 1: an integer of 401 digits is not a finite number as a 64-bit float",
            id="integer-past-float64",
        ),
        pytest.param(
            "[" * 100_000 + "]" * 100_000,
            "application/jsonlines",
            "Record 1 nests JSON deeper than 64 levels.",
            id="nested-100000-deep",
        ),
    ],
)
def test_bad_input_is_a_validation_error(sagemaker_runtime, xgb_endpoint, body, content_type, words):
    error = error_of(sagemaker_runtime.invoke_endpoint, EndpointName=xgb_endpoint, Body=body, ContentType=content_type)
    assert (error["Code"], error["status"]) == ("ValidationError", 400)
    assert words in error["Message"]


def test_a_request_without_content_type_is_told_it_is_missing(sagemaker_runtime, xgb_endpoint):
    error = error_of(sagemaker_runtime.invoke_endpoint, EndpointName=xgb_endpoint, Body=b"0.1,0.2,0.3,0.4,0.5")
    assert (error["Code"], error["status"]) == ("ValidationError", 400)
    assert error["Message"] == (
        "The request has no content type; explanations need ContentType text/csv or application/jsonlines."
    )


FINITE = "0.1,0.2,0.3,0.4,0.5"


@pytest.mark.parametrize(
    ("body", "content_type", "where"),
    [
        (f"{FINITE}\n0.1,nan,0.3,0.4,0.5\n", "text/csv", 'Record 2, column 2: "nan"'),
        (f"{FINITE}\n0.1,0.2,0.3,0.4,-inf\n", "text/csv", 'Record 2, column 5: "-inf"'),
        (f"[{FINITE}]\n[0.1,NaN,0.3,0.4,0.5]\n", "application/jsonlines", "Record 2, column 2: NaN"),
        (f"[0.1,0.2,1e999,0.4,0.5]\n[{FINITE}]\n", "application/jsonlines", "Record 1, column 3: Infinity"),
    ],
)
def test_nan_or_infinity_in_a_record_to_explain_is_a_validation_error(
    sagemaker_runtime, xgb_endpoint, body, content_type, where
):
    """The client's values, not the model's failure: 400 naming the record, as for any other bad cell."""
    error = error_of(sagemaker_runtime.invoke_endpoint, EndpointName=xgb_endpoint, Body=body, ContentType=content_type)
    assert (error["Code"], error["status"]) == ("ValidationError", 400)
    assert error["Message"].startswith(f"{where} is not a finite number; a record to explain needs finite features")


def test_a_value_past_single_precision_is_a_validation_error_for_a_model_computing_in_it(
    sagemaker_runtime, xgb_endpoint
):
    # XGBoost computes in float32: 1e39 would reach it as infinity. It was a 424 telling the client to "use float64",
    # a dtype the client does not choose.
    body = f"{FINITE}\n0.1,0.2,1e39,0.4,0.5\n"
    error = error_of(sagemaker_runtime.invoke_endpoint, EndpointName=xgb_endpoint, Body=body, ContentType="text/csv")
    assert (error["Code"], error["status"]) == ("ValidationError", 400)
    assert error["Message"].startswith(
        'Record 2, column 3: "1e39" is not a finite number in the single precision this model computes in'
    )


@pytest.mark.parametrize("content_type", ["text/csv", "application/jsonlines"])
def test_nan_in_a_record_left_unexplained_is_predicted_as_missing(
    sagemaker_runtime, xgb_endpoint, trained, content_type
):
    rows = np.array([[0.1, 0.2, 0.3, 0.4, 0.5], [0.9, np.nan, -0.3, 0.4, 0.5]])
    p = trained[XGB].predict(rows)  # XGBoost reads NaN as a missing value
    assert p[0] != p[1]
    middle = repr(float(p.mean()))
    expression = f"[0]>`{middle}`" if p[0] > p[1] else f"[0]<`{middle}`"  # record 1 only
    if content_type == "text/csv":
        body = "0.1,0.2,0.3,0.4,0.5\n0.9,nan,-0.3,0.4,0.5\n"
    else:
        body = "[0.1,0.2,0.3,0.4,0.5]\n[0.9,NaN,-0.3,0.4,0.5]\n"
    answer = call(
        sagemaker_runtime,
        xgb_endpoint,
        body,
        ContentType=content_type,
        Accept="text/csv",
        EnableExplanations=expression,
    )
    first, second = answer["explanations"]["kernel_shap"]
    assert len(first) == 5 and second is None
    predicted = [float(v) for v in answer["predictions"]["data"].split()]
    assert predicted == pytest.approx(p.tolist(), abs=1e-9)


def test_a_body_over_6_mib_is_a_validation_error(sagemaker_runtime, xgb_endpoint):
    body = ("0.1,0.2,0.3,0.4,0.5\n" * (6 * 1024 * 1024 // 20 + 10)).encode()
    error = error_of(sagemaker_runtime.invoke_endpoint, EndpointName=xgb_endpoint, Body=body, ContentType="text/csv")
    assert (error["Code"], error["status"]) == ("ValidationError", 400)
    assert "6 MiB" in error["Message"]


def test_unknown_endpoint_and_variant(sagemaker_runtime, xgb_endpoint):
    error = error_of(sagemaker_runtime.invoke_endpoint, EndpointName="nope", Body=b"1", ContentType="text/csv")
    assert (error["Code"], error["Message"]) == ("ValidationError", "Endpoint nope of account 000000000000 not found.")
    error = error_of(
        sagemaker_runtime.invoke_endpoint,
        EndpointName=xgb_endpoint,
        Body=b"1",
        ContentType="text/csv",
        TargetVariant="Other",
    )
    assert error["Code"] == "ValidationError" and "Other" in error["Message"]


def test_invoke_endpoint_matches_the_name_as_created_case_and_all(sagemaker_runtime, xgb_endpoint):
    # "The name is case-insensitive in CreateEndpoint, but the case is preserved and must be matched in
    # InvokeEndpoint" (SageMaker's API reference): another spelling names no endpoint.
    assert xgb_endpoint != xgb_endpoint.upper()
    error = error_of(
        sagemaker_runtime.invoke_endpoint, EndpointName=xgb_endpoint.upper(), Body=b"1", ContentType="text/csv"
    )
    assert (error["Code"], error["Message"]) == (
        "ValidationError",
        f"Endpoint {xgb_endpoint.upper()} of account 000000000000 not found.",
    )


@pytest.mark.parametrize(
    ("member", "value", "message"),
    [
        ("TargetModel", "model.tar.gz", "TargetModel is not supported: this server has no multi-model endpoints."),
        (
            "InferenceComponentName",
            "component",
            "InferenceComponentName is not supported: this server has no inference components.",
        ),
        ("SessionId", "NEW_SESSION", "SessionId is not supported: this server has no stateful sessions."),
        (
            "TargetContainerHostname",
            "primary",
            "TargetContainerHostname is not supported: a model here runs one container, invoked as a whole.",
        ),
    ],
)
def test_members_without_an_implementation_are_refused_not_ignored(
    sagemaker_runtime, xgb_endpoint, member, value, message
):
    error = error_of(
        sagemaker_runtime.invoke_endpoint,
        EndpointName=xgb_endpoint,
        Body=b"0.1,0.2,0.3,0.4,0.5",
        ContentType="text/csv",
        **{member: value},
    )
    assert (error["Code"], error["status"], error["Message"]) == ("ValidationError", 400, message)


# -- model errors are ModelError (424) with the container's status ------------------------------------------------


def test_container_error_is_model_error_with_original_status(sagemaker_runtime, remote_endpoint, records):
    error = error_of(
        sagemaker_runtime.invoke_endpoint,
        EndpointName=remote_endpoint,
        Body=csv_body(records[:1]),
        ContentType="text/csv",
        CustomAttributes="fail=503",
    )
    assert (error["Code"], error["status"]) == ("ModelError", 424)
    assert error["response"]["OriginalStatusCode"] == 503
    assert error["response"]["OriginalMessage"] == "the model failed on purpose"
    assert error["response"]["LogStreamArn"].endswith(f"/aws/sagemaker/Endpoints/{remote_endpoint}")
    assert error["Message"].startswith("Received server error (503) from primary")


def test_wrong_number_of_output_rows_is_model_error(sagemaker_runtime, remote_endpoint, records):
    error = error_of(
        sagemaker_runtime.invoke_endpoint,
        EndpointName=remote_endpoint,
        Body=csv_body(records[:2]),
        ContentType="text/csv",
        CustomAttributes="rows=1",
    )
    assert (error["Code"], error["status"]) == ("ModelError", 424)
    assert "returned 3 lines for 2 records" in error["Message"]


# -- pass-through ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("image", [XGB, "openclarify/sklearn"])  # numbers only, and numbers or text (accepts_text)
@pytest.mark.parametrize(
    ("body", "words"),
    [
        (
            f"[0.1,0.2,0.3,0.4,0.5]\n[0.1,-1{'0' * 400},0.3,0.4,0.5]\n",
            "Record 2, column 2: an integer of 401 digits is not a finite number as a 64-bit float",
        ),
        ("[" * 100_000 + "]" * 100_000, "Record 1 nests JSON too deeply to be read."),
    ],
    ids=["integer-past-float64", "nested-100000-deep"],
)
def test_a_builtin_model_without_explainer_answers_unreadable_json_lines_as_its_container_would(
    sagemaker, sagemaker_runtime, trained, image, body, words
):
    """A 400 from the model (ModelError, 424), as for any body it cannot read; it was a 500 (OverflowError,
    RecursionError)."""
    name = deploy(sagemaker, {"Image": image, "ModelDataUrl": str(trained[image].path)})
    error = error_of(
        sagemaker_runtime.invoke_endpoint, EndpointName=name, Body=body, ContentType="application/jsonlines"
    )
    assert (error["Code"], error["status"], error["response"]["OriginalStatusCode"]) == ("ModelError", 424, 400)
    assert words in error["response"]["OriginalMessage"]


def test_endpoint_without_explainer_passes_the_model_answer_through(
    sagemaker, sagemaker_runtime, container, trained, records
):
    name = deploy(sagemaker, {"Image": container.url})
    response = sagemaker_runtime.invoke_endpoint(
        EndpointName=name, Body=csv_body(records[:2]), ContentType="text/csv", CustomAttributes="trace=1"
    )
    assert response["ContentType"] == "text/csv; charset=utf-8"
    assert response["InvokedProductionVariant"] == "AllTraffic"
    assert response["CustomAttributes"] == "trace=1"
    p = trained[XGB].predict(records[:2])
    assert response["Body"].read() == f"{float(p[0])!r}\n{float(p[1])!r}\n".encode()


def test_builtin_pass_through_and_target_variant(sagemaker, sagemaker_runtime, trained, records):
    container = {"Image": XGB, "ModelDataUrl": str(trained[XGB].path)}
    variants = [
        {"VariantName": "A", "InitialInstanceCount": 1, "InitialVariantWeight": 1.0},
        {"VariantName": "B", "InitialInstanceCount": 2, "InitialVariantWeight": 1.0},
    ]
    name = deploy(sagemaker, container, variants=variants)
    response = sagemaker_runtime.invoke_endpoint(
        EndpointName=name,
        Body=csv_body(records[:1]),
        ContentType="text/csv",
        Accept="application/jsonlines",
        TargetVariant="B",
    )
    assert response["InvokedProductionVariant"] == "B"
    assert response["ContentType"] == "application/jsonlines"
    assert json.loads(response["Body"].read()) == {"score": pytest.approx(float(trained[XGB].predict(records[:1])[0]))}


@pytest.mark.parametrize("image", [XGB, "openclarify/sklearn"])
def test_a_byte_order_mark_and_quoted_numbers_read_alike_everywhere(
    sagemaker, sagemaker_runtime, trained, records, image
):
    # The explainer's parser reads RFC 4180 CSV after dropping a UTF-8 byte-order mark; the built-in runtimes read the
    # same body the same way (the XGBoost runtime answered 424 "not comma-separated numbers" to both).
    name = deploy(sagemaker, {"Image": image, "ModelDataUrl": str(trained[image].path)})
    quoted = ",".join(f'"{v!r}"' for v in records[0].tolist())
    body = "\ufeff" + quoted + "\n" + csv_body(records[1:2])
    answer = sagemaker_runtime.invoke_endpoint(EndpointName=name, Body=body.encode(), ContentType="text/csv")
    scores = [float(line) for line in answer["Body"].read().decode().split()]
    assert scores == pytest.approx(trained[image].predict(records[:2]).tolist(), abs=1e-12)


# -- the extended response ----------------------------------------------------------------------------------------


def test_extended_response_adds_details_and_keeps_clarify_members(
    sagemaker_runtime, xgb_endpoint, trained, records, baseline
):
    plain = call(sagemaker_runtime, xgb_endpoint, csv_body(records[:2]), ContentType="text/csv")
    extended = call(
        sagemaker_runtime,
        xgb_endpoint,
        csv_body(records[:2]),
        ContentType="text/csv",
        CustomAttributes="openclarify-extended=true",
    )
    assert {k: v for k, v in extended.items() if k != "openclarify"} == plain
    assert "openclarify" not in plain
    details = extended["openclarify"]["kernel_shap"]
    model = trained[XGB]
    for x, item in zip(records[:2], details, strict=True):
        assert item["expected_value"] == [pytest.approx(model.predict(baseline).mean(), abs=1e-12)]
        assert item["f_x"] == [pytest.approx(float(model.predict(x[None])[0]), abs=1e-12)]
        assert item["exact"] is True
        assert item["standard_errors"] == [[0.0]] * 5
        assert item["model_rows"] == len(baseline) * 30
        assert isinstance(item["seed"], int)
        assert item["deadline_reached"] is False


# -- Seed ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [-5, -1, -(2**31)])
def test_a_negative_seed_is_a_valid_seed_with_reproducible_explanations(
    sagemaker, sagemaker_runtime, trained, records, baseline, seed
):
    """Seed is a plain Integer in SageMaker's API model (no minimum): a negative one is accepted and fixes the
    sample like any other (it is mapped to the engine's non-negative range, services.explanations.engine_seed)."""
    explainer = shap_config(baseline, Seed=seed, NumberOfSamples=8)  # 8 of 30 coalitions: sampled, not exact
    name = deploy(sagemaker, {"Image": XGB, "ModelDataUrl": str(trained[XGB].path)}, explainer)
    body = csv_body(records[:2])
    answers = [
        call(sagemaker_runtime, name, body, ContentType="text/csv", CustomAttributes="openclarify-extended=true")
        for _ in range(2)
    ]
    assert answers[0] == answers[1]
    details = answers[0]["openclarify"]["kernel_shap"]
    assert all(item["exact"] is False for item in details)
    assert all(item["seed"] == seed for item in details)  # the Seed to set to reproduce it, as configured


def test_a_negative_seed_fixes_the_sample_of_a_container_endpoint_too(
    sagemaker, sagemaker_runtime, container, records, baseline
):
    """Endpoints with the same negative Seed answer alike; its positive counterpart is another Seed."""
    answers = []
    for seed in (-7, -7, 7):
        name = deploy(sagemaker, {"Image": container.url}, shap_config(baseline, Seed=seed, NumberOfSamples=8))
        answers.append(call(sagemaker_runtime, name, csv_body(records[:1]), ContentType="text/csv"))
    assert answers[0] == answers[1]
    assert answers[0]["explanations"] != answers[2]["explanations"]


# -- baselines at deployment ---------------------------------------------------------------------------------------


def test_baseline_the_model_cannot_score_fails_the_endpoint(sagemaker, trained):
    name = deploy(sagemaker, {"Image": XGB, "ModelDataUrl": str(trained[XGB].path)}, shap_config("1,2,3"), wait=False)
    reason = failure_reason(sagemaker, name)
    assert "cannot score the SHAP baseline" in reason and "expects 5 features" in reason


def test_a_baseline_file_holding_an_integer_past_float64_fails_the_endpoint_with_its_reason(
    sagemaker, trained, model_root
):
    # It failed with "Internal error while deploying the endpoint (OverflowError)".
    path = model_root / "invoke" / "huge-baseline.jsonl"
    path.write_text(f"[0.1,0.2,0.3,0.4,0.5]\n[0.1,0.2,1{'0' * 400},0.4,0.5]\n")
    explainer = {
        "ShapConfig": {"ShapBaselineConfig": {"ShapBaselineUri": str(path), "MimeType": "application/jsonlines"}}
    }
    name = deploy(sagemaker, {"Image": XGB, "ModelDataUrl": str(trained[XGB].path)}, explainer, wait=False)
    reason = failure_reason(sagemaker, name)
    assert "Baseline row 2, column 3: an integer of 401 digits is not a finite number" in reason, reason


def test_baseline_uri_outside_the_model_roots_fails_the_endpoint(sagemaker, trained, tmp_path):
    outside = tmp_path / "baseline.csv"
    outside.write_text("0,0,0,0,0\n")
    explainer = {"ShapConfig": {"ShapBaselineConfig": {"ShapBaselineUri": outside.as_uri()}}}
    name = deploy(sagemaker, {"Image": XGB, "ModelDataUrl": str(trained[XGB].path)}, explainer, wait=False)
    assert "outside the model roots" in failure_reason(sagemaker, name)


def test_a_baseline_uri_python_cannot_parse_fails_the_endpoint_naming_it(sagemaker, trained):
    explainer = {"ShapConfig": {"ShapBaselineConfig": {"ShapBaselineUri": "s3://[bucket/b.csv"}}}
    name = deploy(sagemaker, {"Image": XGB, "ModelDataUrl": str(trained[XGB].path)}, explainer, wait=False)
    reason = failure_reason(sagemaker, name)
    assert reason.startswith("ShapBaselineUri 's3://[bucket/b.csv' is not a valid URL"), reason


def test_https_baseline_needs_the_operator_flag(sagemaker, trained):
    explainer = {"ShapConfig": {"ShapBaselineConfig": {"ShapBaselineUri": "https://example.invalid/b.csv"}}}
    name = deploy(sagemaker, {"Image": XGB, "ModelDataUrl": str(trained[XGB].path)}, explainer, wait=False)
    assert "https:// baselines are disabled" in failure_reason(sagemaker, name)


def test_baseline_uri_under_the_model_roots(sagemaker, sagemaker_runtime, trained, model_root, records, baseline):
    path = model_root / "invoke" / "baseline.csv"
    path.write_text(csv_body(baseline) + "\n")
    explainer = {"ShapConfig": {"ShapBaselineConfig": {"ShapBaselineUri": str(path)}}}
    name = deploy(sagemaker, {"Image": XGB, "ModelDataUrl": str(trained[XGB].path)}, explainer)
    body = call(
        sagemaker_runtime,
        name,
        csv_body(records[:1]),
        ContentType="text/csv",
        CustomAttributes="openclarify-extended=true",
    )
    assert body["openclarify"]["kernel_shap"][0]["expected_value"] == [
        pytest.approx(trained[XGB].predict(baseline).mean(), abs=1e-12)
    ]


# -- the deadline -------------------------------------------------------------------------------------------------


def test_the_deadline_gives_a_clear_error_not_a_hung_connection(deadline_server, container, baseline, records):
    sagemaker = deadline_server.client("sagemaker")
    runtime = deadline_server.client("sagemaker-runtime")
    explainer = {"InferenceConfig": {"MaxRecordCount": 1}, **shap_config(baseline)}
    name = deploy(sagemaker, {"Image": container.url}, explainer)
    started = time.monotonic()
    error = error_of(
        runtime.invoke_endpoint,
        EndpointName=name,
        Body=csv_body(records[:1]),
        ContentType="text/csv",
        CustomAttributes="delay=0.05",
    )
    elapsed = time.monotonic() - started
    assert (error["Code"], error["status"]) == ("ModelError", 424)
    assert "timed out" in error["Message"] and "1.5-second limit" in error["Message"]
    assert elapsed < 4.0

    plain = deploy(sagemaker, {"Image": container.url})
    started = time.monotonic()
    error = error_of(
        runtime.invoke_endpoint,
        EndpointName=plain,
        Body=b"1,2,3,4,5",
        ContentType="text/csv",
        CustomAttributes="delay=3",
    )
    assert error["Code"] == "ModelError" and time.monotonic() - started < 3.0
    # The server is still answering.
    assert runtime.invoke_endpoint(EndpointName=plain, Body=b"1,2,3,4,5", ContentType="text/csv")["Body"].read()


def test_an_over_long_header_is_refused_in_aws_words(sagemaker_runtime, xgb_endpoint):
    expression = "`true`" + " " * 59  # 65 characters; EnableExplanations takes at most 64
    error = error_of(
        sagemaker_runtime.invoke_endpoint,
        EndpointName=xgb_endpoint,
        Body=b"0.1,0.2,0.3,0.4,0.5",
        ContentType="text/csv",
        EnableExplanations=expression,
    )
    assert (error["Code"], error["status"]) == ("ValidationError", 400)
    assert error["Message"] == (
        f"1 validation error detected: Value '{expression}' at 'enableExplanations' failed to satisfy constraint: "
        "Member must have length less than or equal to 64"
    )


def test_a_header_sent_as_utf_8_is_read_as_utf_8(server, xgb_endpoint):
    # ASGI hands header bytes over as latin-1: a UTF-8 expression was echoed back as mojibake ("Ã©").
    answer = httpx.post(
        f"{server.url}/endpoints/{xgb_endpoint}/invocations",
        content=b"0.1,0.2,0.3,0.4,0.5",
        headers={"Content-Type": "text/csv", "X-Amzn-SageMaker-Enable-Explanations": "é".encode()},
    )
    assert answer.status_code == 400
    assert "'é'" in answer.json()["Message"] and "Ã" not in answer.json()["Message"], answer.text
