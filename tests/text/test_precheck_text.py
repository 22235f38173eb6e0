"""The pre-check with text samples: a column that holds words gets FeatureTypes "text", a TextConfig and the mask
token as its baseline, and the printed config deploys and explains the text unit by unit, in process and in a
container. Before, the pre-check printed a tabular config whose baseline was a whole review, which an in-process
endpoint could not deploy and a container explained as one opaque feature. A sample it cannot type (a lone "10")
is a finding, not a traceback or a 500."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from tests.precheck.test_cli_and_http import cli, post
from tests.text.conftest import deploy, invoke, units_of

from openclarify.clarify.text import split_units
from openclarify.services.precheck import PrecheckLimits, PrecheckReport, PrecheckRequest, PrecheckService, Target

SKLEARN = "openclarify/sklearn"
# Reviews and stars; "10" is a review too (a number-looking text: its column is text all the same).
SENTENCES = [("Great fit, I would buy it again.", 5), ("Terrible quality, it broke after one day.", 1)]
SENTENCES += [("10", 4), ("Very happy with this purchase.", 4), ("Awful fit, I returned it.", 2)]
PARAGRAPHS = [("Great fit. Nice colour and the size is right.", 5), ("Awful fit. It looked cheap!", 1)]
PARAGRAPHS += [("Very happy with this purchase.", 4)]


def csv_sample(rows: list[tuple[str, int]]) -> str:
    return "".join(f'"{text}",{stars}\n' for text, stars in rows)


def precheck(target: Target, records: str, roots: tuple[Path, ...] = ()) -> PrecheckReport:
    service = PrecheckService(model_roots=roots, limits=PrecheckLimits(total_seconds=60, timing_seconds=0.3))
    return asyncio.run(service.run(PrecheckRequest(target=target, records=records.encode())))


def errors(report: PrecheckReport) -> list[str]:
    return [f.message for f in report.findings if f.level == "error"]


def check_explains(sagemaker_runtime: Any, name: str, text: str, stars: int, predict: Any, baseline: tuple) -> None:
    _, body = invoke(sagemaker_runtime, name, f'"{text}",{stars}', ContentType="text/csv")
    review, star = body["explanations"]["kernel_shap"][0]
    assert (review["feature_type"], star["feature_type"]) == ("text", "numerical")
    assert len(units_of(review)) > 1
    total = sum(a["attribution"][0] for feature in (review, star) for a in feature["attributions"])
    assert total == pytest.approx(float(predict([(text, stars)])[0] - predict([baseline])[0]), abs=1e-9)


def test_in_process_text_sample_gives_a_text_config_that_deploys(sagemaker, sagemaker_runtime, text_models):
    path = text_models["mixed"].path
    report = precheck(Target(image=SKLEARN, model_data=str(path)), csv_sample(SENTENCES), (path.parent,))

    assert report.ok, report.findings
    config = report.explainer_config["ClarifyExplainerConfig"]
    assert config["InferenceConfig"] == {"FeatureTypes": ["text", "numerical"]}
    assert config["ShapConfig"]["TextConfig"] == {"Language": "en", "Granularity": "token"}  # one sentence each
    assert config["ShapConfig"]["ShapBaselineConfig"] == {"MimeType": "text/csv", "ShapBaseline": '"<UNK>",4'}
    longest = max(len(split_units(text, "en", "token")) for text, _ in SENTENCES)
    assert report.estimates["n_features"] == 1 + longest  # the stars + the tokens of the longest review
    assert any("The model scores the baseline row" in f.message for f in report.findings)

    name = deploy(sagemaker, {"Image": SKLEARN, "ModelDataUrl": str(path)}, config)
    check_explains(sagemaker_runtime, name, "Great fit, nice colour.", 5, text_models["mixed"].predict, ("<UNK>", 4))


def test_container_text_sample_with_several_sentences(sagemaker, sagemaker_runtime, text_container, text_models):
    report = precheck(Target(url=text_container.url), csv_sample(PARAGRAPHS))

    assert report.ok, report.findings
    config = report.explainer_config["ClarifyExplainerConfig"]
    assert config["InferenceConfig"]["FeatureTypes"] == ["text", "numerical"]
    assert config["ShapConfig"]["TextConfig"] == {"Language": "en", "Granularity": "sentence"}
    assert report.estimates["n_features"] == 3  # the stars + two sentences

    name = deploy(sagemaker, {"Image": text_container.url}, config)
    text = "Nice colour. Cheap fabric though!"
    check_explains(sagemaker_runtime, name, text, 2, text_models["mixed"].predict, ("<UNK>", 4))


def test_a_text_the_model_cannot_take_is_a_finding(text_models, server, tmp_path):
    path = text_models["mixed"].path
    records = tmp_path / "f.csv"
    records.write_text('"10",5\n')
    done = cli("--image", SKLEARN, "--model-data", str(path), "--records", str(records))
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "a single record fails: HTTP 500" in done.stdout and "AttributeError" in done.stdout
    assert "holds words" in done.stdout  # what to do: a sample where the text column is text

    response = post(server, {"image": SKLEARN, "model_data": str(path), "records": '"10",5\n'})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["ok"] is False and body["explainer_config"] is None
    assert any("a single record fails" in f["message"] for f in body["findings"] if f["level"] == "error")


def test_http_precheck_of_a_text_sample(text_models, server):
    path = text_models["mixed"].path
    response = post(server, {"image": SKLEARN, "model_data": str(path), "records": csv_sample(SENTENCES)})
    body = response.json()
    assert response.status_code == 200 and body["ok"], body
    shap = body["explainer_config"]["ClarifyExplainerConfig"]["ShapConfig"]
    assert shap["TextConfig"]["Granularity"] == "token"
    assert json.loads("[" + shap["ShapBaselineConfig"]["ShapBaseline"] + "]") == ["<UNK>", 4]


def test_a_column_is_text_when_some_cell_is_not_a_number():
    from openclarify.clarify.precheck import sample_feature_types

    assert sample_feature_types([("1", "2.5"), ("nan", "3")]) is None  # "nan" spells a number
    assert sample_feature_types([("10", "5"), ("great", "3")]) == ("text", "numerical")
