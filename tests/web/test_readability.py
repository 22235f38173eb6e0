"""What the console tells a reader, found by a usability audit in a real browser: long feature names that differ only
at their start, a form prefilled with a one-row baseline (whose explanation is all zeros), an Updating endpoint's
playground link, and what a Failed endpoint needs."""

from __future__ import annotations

import numpy as np
import pytest
from botocore.exceptions import ClientError
from selenium.webdriver.common.by import By
from tests.web.conftest import N_FEATURES, Console, WebModel, deploy, wait_for

# FeatureHeaders allow 64 characters: four of 56 that differ only in their first word, as in a feature store.
SUFFIX = "_rolling_mean_of_the_monthly_balance_over_90_days_v2"
LONG_FEATURES = [prefix + SUFFIX for prefix in ("cash", "debt", "loan", "rent")]

# Each chart label, the <title> that names it in full (on the label or a group around it), and its box in the SVG.
_LABELS = """
return [...document.querySelectorAll(arguments[0])].map((t) => {
  let title = null;
  for (let e = t; e && e.tagName !== "svg" && title === null; e = e.parentNode) {
    const own = [...e.children].find((c) => c.tagName === "title");
    if (own) title = own.textContent;
  }
  const box = t.getBBox(), view = t.ownerSVGElement.viewBox.baseVal;
  return {text: t.textContent, title, inside: box.x >= 0 && box.y >= 0 && box.x + box.width <= view.width
          && box.y + box.height <= view.height};
});
"""


@pytest.fixture(scope="module")
def long_names_endpoint(console_server: Console) -> str:
    import skops.io
    from sklearn.linear_model import LogisticRegression

    assert all(len(name) == 56 for name in LONG_FEATURES) and len(set(LONG_FEATURES)) == 4
    rng = np.random.default_rng(7)
    X = rng.normal(size=(200, 4))
    model = LogisticRegression().fit(X, (X @ [1.0, -0.8, 0.5, 0.3] > 0).astype(int))
    path = console_server.model_root / "long-names.skops"
    skops.io.dump(model, path)
    console_server.client("sagemaker").create_model(
        ModelName="web-long-names-model", PrimaryContainer={"Image": "openclarify/sklearn", "ModelDataUrl": str(path)}
    )
    baseline = "\n".join(",".join(f"{v:.3f}" for v in row) for row in X[:3])
    explainer = {
        "InferenceConfig": {"FeatureHeaders": LONG_FEATURES},
        "ShapConfig": {"ShapBaselineConfig": {"ShapBaseline": baseline}, "Seed": 1},
    }
    return deploy(console_server, "web-long-names", "web-long-names-model", explainer)


def test_long_feature_names_stay_distinct_inside_the_charts(browser, console_server, long_names_endpoint):
    browser.get(f"{console_server.url}/endpoints/{long_names_endpoint}/playground")
    values = ["2.5", "-1.5", "0.7", "-0.4"]
    for box, value in zip(browser.find_elements(By.CSS_SELECTOR, "#fields [data-index]"), values, strict=True):
        box.clear()
        box.send_keys(value)
    browser.find_element(By.ID, "invoke").click()
    wait_for(browser, ".chart.bars svg")
    for chart in ("waterfall", "bars"):
        labels = browser.execute_script(_LABELS, f".chart.{chart} text.label")
        features = [label for label in labels if label["text"] not in ("base value E[f]", "prediction f(x)")]
        assert len(features) == 4, chart
        assert all(label["inside"] for label in labels), (chart, labels)
        assert len({label["text"] for label in features}) == 4, (chart, features)
        # Cut in the middle: both ends of the name show, and hovering shows all of it.
        named = sorted(features, key=lambda label: label["title"])
        assert [label["title"] for label in named] == sorted(LONG_FEATURES), chart
        for label in named:
            head, _, tail = label["text"].partition("…")
            assert tail and label["title"].startswith(head) and label["title"].endswith(tail), label
            assert len(head) >= 4, label  # enough of the start to tell the four apart
    viewport, content = browser.execute_script(
        "return [document.documentElement.clientWidth, document.documentElement.scrollWidth]"
    )
    assert content <= viewport


def test_long_feature_names_wrap_in_the_record_form(browser, console_server, long_names_endpoint):
    browser.get(f"{console_server.url}/endpoints/{long_names_endpoint}/playground")
    assert browser.execute_script("return window.innerWidth") == 1200
    labels = browser.find_elements(By.CSS_SELECTOR, "#fields label")
    assert [label.text.strip() for label in labels] == LONG_FEATURES  # the form shows each name whole
    boxes = browser.execute_script(
        "return arguments[0].map((l) => { const r = l.getBoundingClientRect();"
        " return [r.left, r.right, r.top, r.bottom, l.scrollWidth <= l.clientWidth]; })",
        labels,
    )
    assert all(fits for *_, fits in boxes), boxes
    for i, (left, right, top, bottom, _) in enumerate(boxes):
        for other_left, other_right, other_top, other_bottom, _ in boxes[i + 1 :]:
            apart = right <= other_left or other_right <= left or bottom <= other_top or other_bottom <= top
            assert apart, boxes
    viewport, content = browser.execute_script(
        "return [document.documentElement.clientWidth, document.documentElement.scrollWidth]"
    )
    assert content <= viewport


@pytest.fixture(scope="module")
def one_row_endpoint(console_server: Console, web_model: WebModel) -> str:
    """A baseline of one row (a row of means is a common Clarify set-up)."""
    explainer = {"ShapConfig": {"ShapBaselineConfig": {"ShapBaseline": web_model.baseline.splitlines()[0]}}}
    return deploy(console_server, "web-one-row-baseline", web_model.name, explainer)


def test_a_form_prefilled_with_the_only_baseline_row_says_its_attributions_are_zero(
    browser, console_server, one_row_endpoint
):
    browser.get(f"{console_server.url}/endpoints/{one_row_endpoint}/playground")
    note = wait_for(browser, "#example-note").text
    assert "baseline" in note and "0" in note, note
    browser.find_element(By.ID, "invoke").click()
    wait_for(browser, ".chart.bars svg")
    # What the note says is what the first Invoke shows.
    values = [t.text for t in browser.find_elements(By.CSS_SELECTOR, ".chart.bars text.value")]
    assert len(values) == N_FEATURES and all(abs(float(v.replace("−", "-"))) < 1e-9 for v in values), values


def test_a_form_prefilled_from_a_baseline_of_several_rows_says_which(browser, console_server, explained_endpoint):
    browser.get(f"{console_server.url}/endpoints/{explained_endpoint}/playground")
    note = wait_for(browser, "#example-note").text
    assert "first of the 4 baseline rows" in note and "attribution" not in note, note


def test_an_updating_endpoint_links_to_its_playground(browser, console_server, updating_endpoint):
    assert console_server.client("sagemaker").describe_endpoint(EndpointName=updating_endpoint)["EndpointStatus"] == (
        "Updating"
    )
    playground = f"/endpoints/{updating_endpoint}/playground"
    browser.get(console_server.url + "/")
    row = wait_for(browser, "#endpoints").find_element(By.XPATH, f".//tr[td/a[text()='{updating_endpoint}']]")
    assert row.find_element(By.LINK_TEXT, "Playground").get_attribute("href").endswith(playground)
    browser.get(f"{console_server.url}/endpoints/{updating_endpoint}")
    assert browser.find_element(By.LINK_TEXT, "Open the playground").get_attribute("href").endswith(playground)


def test_a_failed_endpoint_says_it_must_be_created_again(browser, console_server, failed_endpoint):
    browser.get(f"{console_server.url}/endpoints/{failed_endpoint}/playground")
    warning = wait_for(browser, "#status-warning").text
    assert "only once it is InService" not in warning  # it never gets there by itself
    # UpdateEndpoint refuses a Failed endpoint, as on SageMaker: deleting and creating it again is the way back.
    with pytest.raises(ClientError, match="DeleteEndpoint is the only operation"):
        console_server.client("sagemaker").update_endpoint(
            EndpointName=failed_endpoint, EndpointConfigName=f"{failed_endpoint}-config"
        )
    assert "DeleteEndpoint" in warning and "CreateEndpoint" in warning, warning


def test_the_invoke_button_says_whether_it_explains(browser, console_server, plain_endpoint, explained_endpoint):
    browser.get(f"{console_server.url}/endpoints/{plain_endpoint}/playground")
    assert browser.find_element(By.ID, "invoke").text == "Invoke"
    browser.get(f"{console_server.url}/endpoints/{explained_endpoint}/playground")
    assert browser.find_element(By.ID, "invoke").text == "Invoke with explanations"
