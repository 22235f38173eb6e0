"""The playground beyond the happy path: an endpoint without an explainer answering JSON Lines, an explainer that
explains no record, and endpoints that are not InService."""

from __future__ import annotations

import json
import threading

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from tests.web.conftest import GATED_PREFIX, N_FEATURES, deploy, invoke_raw, wait_for


@pytest.mark.parametrize(
    "records", ["[1,2,3,4,5,6,7,8]", "[1,2,3,4,5,6,7,8]\n[0,0,0,0,0,0,0,0]"], ids=["one record", "two records"]
)
def test_json_lines_from_an_endpoint_without_an_explainer_are_the_models_answer(
    browser, console_server, plain_endpoint, records
):
    browser.get(f"{console_server.url}/endpoints/{plain_endpoint}/playground")
    # No baseline to prefill from: the empty box says what to type.
    raw = browser.find_element(By.ID, "raw")
    assert raw.get_attribute("value") == "" and "One record per line" in raw.get_attribute("placeholder")
    invoke_raw(browser, records, "application/jsonlines")
    assert not browser.find_element(By.ID, "error").is_displayed()
    results = browser.find_element(By.ID, "results").text
    assert "no ExplainerConfig" in results and "EnableExplanations" not in results
    answer = browser.find_element(By.ID, "response-json").get_attribute("textContent")
    lines = [json.loads(line) for line in answer.splitlines()]  # the model's own JSON Lines, one per record
    assert len(lines) == len(records.splitlines()) and all("score" in line for line in lines)


def test_records_nobody_explained_still_show_the_models_predictions(browser, console_server, quiet_endpoint):
    browser.get(f"{console_server.url}/endpoints/{quiet_endpoint}/playground")
    invoke_raw(browser, "0,0,0,0,0,0,0,0\n1,1,1,1,1,1,1,1", "text/csv")
    assert not browser.find_element(By.ID, "error").is_displayed()
    answer = json.loads(browser.find_element(By.ID, "response-json").get_attribute("textContent"))
    predictions = answer["predictions"]["data"].splitlines()
    assert len(predictions) == 2 and not answer["explanations"]
    headings = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "section.record h2")]
    assert headings == [f"Record {i + 1}: the model answered {p}" for i, p in enumerate(predictions)]
    assert "No record was selected for explanation" in browser.find_element(By.ID, "results").text


@pytest.mark.parametrize("status", ["Failed", "Creating"])
def test_an_endpoint_not_in_service_says_so_and_cannot_be_invoked(request, browser, console_server, status):
    name = request.getfixturevalue(f"{status.lower()}_endpoint")
    described = console_server.client("sagemaker").describe_endpoint(EndpointName=name)
    assert described["EndpointStatus"] == status
    browser.get(f"{console_server.url}/endpoints/{name}/playground")
    warning = wait_for(browser, "#status-warning")
    assert status in warning.text
    if status == "Failed":
        assert described["FailureReason"] in warning.text
    # Checked after playground.js ran (it runs before the page's load event, which browser.get waits for).
    assert browser.execute_script("return document.readyState") == "complete"
    assert not browser.find_element(By.ID, "invoke").is_enabled()


def test_an_updating_endpoint_keeps_answering_with_its_current_deployment(browser, console_server, updating_endpoint):
    # As on SageMaker, an endpoint serves its current deployment while an update is under way.
    assert console_server.client("sagemaker").describe_endpoint(EndpointName=updating_endpoint)["EndpointStatus"] == (
        "Updating"
    )
    browser.get(f"{console_server.url}/endpoints/{updating_endpoint}/playground")
    assert not browser.find_elements(By.ID, "status-warning")
    assert "Updating" in wait_for(browser, "#status-note").text
    assert browser.execute_script("return document.readyState") == "complete"
    assert browser.find_element(By.ID, "invoke").is_enabled()


def test_an_endpoint_in_service_has_no_warning(browser, console_server, explained_endpoint):
    browser.get(f"{console_server.url}/endpoints/{explained_endpoint}/playground")
    assert not browser.find_elements(By.ID, "status-warning")
    assert browser.find_element(By.ID, "invoke").is_enabled()


def test_pages_of_a_creating_endpoint_follow_it_into_service(browser, console_server, web_model):
    """The endpoint page reloads by itself once the endpoint is InService; the playground turns Invoke on in place,
    keeping a record typed while it waited. Both used to say "reload this page" and stay as they were."""
    explainer = {"ShapConfig": {"ShapBaselineConfig": {"ShapBaseline": web_model.baseline}}}
    detail, playground = GATED_PREFIX + "detail", GATED_PREFIX + "playground"
    for name in (detail, playground):
        console_server.gates[name] = threading.Event()
        deploy(console_server, name, web_model.name, explainer, wait=False)

    browser.get(f"{console_server.url}/endpoints/{detail}")
    assert browser.find_element(By.CSS_SELECTOR, "h1 .status").text == "Creating"
    assert not browser.find_elements(By.LINK_TEXT, "Open the playground")
    console_server.gates[detail].set()
    WebDriverWait(browser, 20).until(lambda b: b.find_element(By.CSS_SELECTOR, "h1 .status").text == "InService")
    assert browser.find_element(By.LINK_TEXT, "Open the playground").is_displayed()

    browser.get(f"{console_server.url}/endpoints/{playground}/playground")
    assert "Creating" in wait_for(browser, "#status-warning").text
    invoke = browser.find_element(By.ID, "invoke")
    assert not invoke.is_enabled()
    browser.find_element(By.CSS_SELECTOR, "input[name=mode][value=raw]").click()
    typed = ",".join(["0.25"] * N_FEATURES)
    raw = browser.find_element(By.ID, "raw")
    raw.clear()
    raw.send_keys(typed)
    browser.execute_script("document.body.dataset.sameDocument = 'yes'")  # gone if the page reloads
    console_server.gates[playground].set()
    WebDriverWait(browser, 20).until(lambda b: invoke.is_enabled())
    assert browser.find_element(By.ID, "status").text == "InService"
    assert not browser.find_elements(By.ID, "status-warning")
    assert browser.execute_script("return document.body.dataset.sameDocument") == "yes"
    assert raw.get_attribute("value") == typed
    invoke.click()
    state = browser.find_element(By.ID, "state")
    WebDriverWait(browser, 20).until(lambda b: state.text.startswith("answered"))
    assert len(browser.find_elements(By.CSS_SELECTOR, "section.record")) == 1
