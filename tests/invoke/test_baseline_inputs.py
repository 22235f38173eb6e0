"""SHAP baselines as users give them, against a live server: byte-order marks, encodings, unreadable and oversized
files. Every bad baseline must fail the deployment with a FailureReason that says what is wrong with it."""

from __future__ import annotations

import json
import math
import os
import stat
from pathlib import Path

import pytest
from tests.conftest import LiveServer
from tests.invoke.conftest import csv_body, deploy, failure_reason, shap_config, unique

from openclarify.clarify.baseline import MAX_BASELINE_CELLS, MAX_BASELINE_ROWS

XGB = "openclarify/xgboost"


def expected_values(sagemaker_runtime, name: str, body: str) -> list[float]:
    answer = sagemaker_runtime.invoke_endpoint(
        EndpointName=name, Body=body, ContentType="text/csv", CustomAttributes="openclarify-extended=true"
    )
    return [item["expected_value"][0] for item in json.loads(answer["Body"].read())["openclarify"]["kernel_shap"]]


def create_failing(sagemaker, model: dict, explainer: dict) -> str:
    return failure_reason(sagemaker, deploy(sagemaker, model, explainer, wait=False))


@pytest.mark.parametrize("use_logit", [False, True])
def test_an_inline_baseline_with_a_byte_order_mark_is_the_same_baseline_as_without(
    sagemaker, sagemaker_runtime, trained, records, baseline, use_logit
):
    # Text read from a spreadsheet export keeps its BOM; the same bytes given by ShapBaselineUri always dropped it,
    # but inline the first cell read as "\ufeff0.11", and the deployment failed as non-numeric.
    model = trained[XGB]
    name = deploy(
        sagemaker,
        {"Image": XGB, "ModelDataUrl": str(model.path)},
        shap_config("\ufeff" + csv_body(baseline), UseLogit=use_logit),
    )
    mean = float(model.predict(baseline).mean())
    expected = math.log(mean / (1 - mean)) if use_logit else mean
    assert expected_values(sagemaker_runtime, name, csv_body(records[:2])) == [pytest.approx(expected, abs=1e-12)] * 2


def test_a_jsonlines_inline_baseline_with_a_byte_order_mark_is_accepted(
    sagemaker, sagemaker_runtime, trained, records, baseline
):
    model = trained[XGB]
    inline = "\ufeff" + "\n".join(json.dumps({"features": row}) for row in baseline.tolist())
    explainer = {
        "InferenceConfig": {"FeaturesAttribute": "features"},
        "ShapConfig": {"ShapBaselineConfig": {"ShapBaseline": inline, "MimeType": "application/jsonlines"}},
    }
    name = deploy(sagemaker, {"Image": XGB, "ModelDataUrl": str(model.path)}, explainer)
    mean = float(model.predict(baseline).mean())
    assert expected_values(sagemaker_runtime, name, csv_body(records[:1])) == [pytest.approx(mean, abs=1e-12)]


def test_a_baseline_file_not_in_utf8_is_named_as_the_baseline(sagemaker, trained, model_root):
    path = model_root / "latin1-baseline.csv"
    path.write_bytes("0.1,0.2,0.3,0.4,0.5\n\xe9,1,2,3,4\n".encode("latin-1"))
    model = {"Image": XGB, "ModelDataUrl": str(trained[XGB].path)}
    reason = create_failing(sagemaker, model, {"ShapConfig": {"ShapBaselineConfig": {"ShapBaselineUri": str(path)}}})
    assert reason == f"ShapBaselineUri {str(path)!r} is not valid UTF-8 (byte 20); save the baseline as UTF-8 text."


def _unreadable_file(tmp_path: Path) -> Path:
    """A regular file this process cannot read: mode 000 for an ordinary user; root reads those, but not a
    write-only sysfs attribute."""
    if os.geteuid() != 0:
        path = tmp_path / "unreadable.csv"
        path.write_text("1,2,3,4,5\n")
        path.chmod(0)
        return path
    for candidate in (Path("/sys/bus/pci/drivers_probe"), Path("/sys/bus/pci/rescan")):
        try:
            if stat.S_ISREG(candidate.stat().st_mode):
                candidate.open("rb").close()
        except PermissionError:
            return candidate
        except OSError:
            continue
    pytest.skip("no regular file here that root cannot read")


def test_an_unreadable_baseline_file_fails_the_deployment_with_its_reason(tmp_path, model_root, trained):
    # It failed as "Internal error while deploying the endpoint (PermissionError)." with a traceback in the log.
    path = _unreadable_file(tmp_path)
    live = LiveServer(tmp_path / "server", [model_root, path.parent]).start()
    try:
        sagemaker = live.client("sagemaker")
        model = {"Image": XGB, "ModelDataUrl": str(trained[XGB].path)}
        explainer = {"ShapConfig": {"ShapBaselineConfig": {"ShapBaselineUri": path.as_uri()}}}
        reason = create_failing(sagemaker, model, explainer)
    finally:
        live.stop()
    assert reason == f"ShapBaselineUri {path.as_uri()!r} cannot be read (Permission denied)."


@pytest.mark.parametrize(
    ("text", "words"),
    [
        # 16 MiB of "0\n" took a minute of CPU and 2 GB of memory to read, then failed or served a baseline no
        # request could be explained with.
        pytest.param("0,0,0,0,0\n" * (MAX_BASELINE_ROWS + 1), f"more than {MAX_BASELINE_ROWS:,} rows", id="rows"),
        pytest.param(
            ",".join(["0"] * (MAX_BASELINE_CELLS + 1)), f"more than {MAX_BASELINE_CELLS:,} values", id="cells"
        ),
    ],
)
def test_a_baseline_file_past_the_row_or_value_bound_fails_the_deployment_at_once(
    sagemaker, trained, model_root, text, words
):
    path = model_root / f"{unique('big-baseline')}.csv"
    path.write_text(text)
    model = {"Image": XGB, "ModelDataUrl": str(trained[XGB].path)}
    reason = create_failing(sagemaker, model, {"ShapConfig": {"ShapBaselineConfig": {"ShapBaselineUri": str(path)}}})
    assert reason.startswith(f"ShapBaselineUri {str(path)!r} holds {words}")


@pytest.mark.parametrize(
    ("inline", "cell"),
    [
        ("x0,x1,x2,x3,x4\n0.1,0.2,0.3,0.4,0.5", 'Baseline row 1, column 1: "x0" is not a number'),  # a header line
        ("0.1,0.2,0.3,0.4,0.5,", 'Baseline row 1, column 6: "" is not a number'),  # a trailing comma
        ("0.1,nan,0.3,0.4,0.5", "Baseline row 1, column 2 is nan, not a finite number"),
    ],
    ids=["header", "trailing comma", "nan"],
)
def test_a_non_numeric_baseline_for_an_in_process_model_names_the_cell(sagemaker, trained, inline, cell):
    # The FailureReason said only "non-numeric or missing values", leaving the user to search the baseline.
    reason = create_failing(sagemaker, {"Image": XGB, "ModelDataUrl": str(trained[XGB].path)}, shap_config(inline))
    assert f"the SHAP baseline has non-numeric or missing values ({cell}), but model" in reason
