"""Names, labels and baselines that hold markup, through every page that shows them: JSON embedded in a <script>
block escapes what the HTML parser reads (a "<!--<script>" would otherwise swallow the rest of the page), and the
blocks that show JSON as submitted show it character for character, in the order it was written."""

from __future__ import annotations

import json

import httpx
from selenium.webdriver.common.by import By
from tests.web.conftest import HOSTILE, HOSTILE_NAMES, HOSTILE_TEXT, hostile_explainer, wait_for


def test_markup_in_feature_and_label_headers_leaves_the_playground_working(browser, console_server, hostile_endpoint):
    browser.get(f"{console_server.url}/endpoints/{hostile_endpoint}/playground")
    inputs = browser.find_elements(By.CSS_SELECTOR, "#fields [data-index]")
    # The form is built by playground.js from the spec block: it exists only if the scripts after it still run.
    assert [i.find_element(By.XPATH, "..").text.strip() for i in inputs] == HOSTILE_NAMES
    browser.find_element(By.ID, "invoke").click()
    wait_for(browser, ".chart.bars svg")
    labels = [t.text for t in browser.find_elements(By.CSS_SELECTOR, ".chart.bars text.label")]
    assert sorted(labels) == sorted(HOSTILE_NAMES)


def test_markup_in_a_text_baseline_leaves_the_playground_working(browser, console_server, text_endpoint):
    browser.get(f"{console_server.url}/endpoints/{text_endpoint}/playground")
    fields = browser.find_elements(By.CSS_SELECTOR, "#fields textarea[data-index]")
    assert len(fields) == 1
    assert fields[0].get_attribute("value") == HOSTILE  # the example record is the baseline row
    fields[0].clear()
    fields[0].send_keys("Great fit, I love it.")
    browser.find_element(By.ID, "invoke").click()
    text = wait_for(browser, ".text-feature")
    assert text.text == "Great fit, I love it."
    units = [u.text for u in text.find_elements(By.CSS_SELECTOR, ".unit")]
    assert units == ["Great", "fit", ",", "I", "love", "it", "."]


def shown_as_submitted(browser) -> str:
    return browser.find_element(By.CSS_SELECTOR, "details.submitted pre").get_attribute("textContent")


def test_the_explainer_config_is_shown_as_submitted(browser, console_server, hostile_endpoint, web_model):
    submitted = json.dumps(hostile_explainer(web_model.baseline), indent=2, ensure_ascii=False)
    for page in (f"/endpoint-configs/{hostile_endpoint}-config", f"/endpoints/{hostile_endpoint}"):
        browser.get(console_server.url + page)
        shown = shown_as_submitted(browser)
        assert shown == submitted, page  # key order, real characters, nothing escaped twice
        assert HOSTILE in shown and "x&amp;y" in shown and "O'Brien" in shown


def test_describe_model_is_shown_as_the_api_answers_it(browser, console_server, web_model):
    browser.get(f"{console_server.url}/models/{web_model.name}")
    shown = shown_as_submitted(browser)
    answer = httpx.get(f"{console_server.url}/models/{web_model.name}.json").json()["model"]
    assert shown == json.dumps(answer, indent=2, ensure_ascii=False)
    assert HOSTILE_TEXT in shown


def test_every_script_block_escapes_markup(console_server, hostile_endpoint, text_endpoint):
    """The JSON in <script> blocks, read as the HTML parser reads it: no "<", ">", "&" or "'" at all."""
    for page in (
        f"/endpoints/{hostile_endpoint}/playground",
        f"/endpoints/{text_endpoint}/playground",
        "/precheck",
    ):
        html = httpx.get(console_server.url + page).text
        block = html.split('<script type="application/json" id="spec">', 1)[1].split("</script>", 1)[0]
        assert not set(block) & set("<>&'"), page
        assert json.loads(block)  # and it is still the same JSON
