"""The web console in a real browser (headless Chromium): pages, the playground's charts, the pre-check page."""

from __future__ import annotations

import json
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import WebDriverWait
from tests.web.conftest import CANNED_PRECHECK, N_FEATURES, NAMES, invoke_raw, wait_for

ARTIFACTS = Path(__file__).parent.parent.parent / ".artifacts"


def test_overview_lists_the_endpoint_and_links_to_its_detail_page(browser, console_server, explained_endpoint):
    browser.get(console_server.url + "/")
    wait_for(browser, "#endpoints tbody tr")
    row = browser.find_element(By.XPATH, f"//table[@id='endpoints']//tr[td/a[text()='{explained_endpoint}']]")
    assert "InService" in row.text
    assert "web-config" in browser.find_element(By.ID, "endpoint-configs").text
    assert "web-model" in browser.find_element(By.ID, "models").text
    row.find_element(By.LINK_TEXT, explained_endpoint).click()
    wait_for(browser, "table.explainer")
    text = browser.find_element(By.CSS_SELECTOR, "table.explainer").text
    # The explainer config, readably: the budget and what it means for 8 features.
    assert "60 coalitions for 8 features: sampled, with error bars" in text
    assert "FeatureHeaders" in text and "x7" in text


def test_playground_draws_the_waterfall_and_the_bars_with_error_bars(browser, console_server, explained_endpoint):
    browser.get(f"{console_server.url}/endpoints/{explained_endpoint}/playground")
    inputs = browser.find_elements(By.CSS_SELECTOR, "#fields [data-index]")
    assert [i.find_element(By.XPATH, "..").text.strip() for i in inputs] == NAMES  # a form from FeatureHeaders
    values = [1.5, -0.7, 0.3, 2.0, -1.1, 0.4, 0.0, 0.9]
    for box, value in zip(inputs, values, strict=True):
        box.clear()
        box.send_keys(str(value))
    browser.find_element(By.ID, "invoke").click()
    wait_for(browser, ".chart.bars svg")

    bars = browser.find_elements(By.CSS_SELECTOR, ".chart.bars rect.attr-bar")
    steps = browser.find_elements(By.CSS_SELECTOR, ".chart.waterfall rect.wf-step")
    assert len(bars) == N_FEATURES and len(steps) == N_FEATURES
    assert all(float(b.get_attribute("width")) >= 1 for b in bars)
    # Sampled (60 of 254 coalitions): every feature that moved has an error bar (a line and two caps).
    assert len(browser.find_elements(By.CSS_SELECTOR, ".chart.bars line.err-bar")) >= 3 * (N_FEATURES - 1)

    raw = browser.find_element(By.ID, "response-json").text
    answer = json.loads(raw)
    assert list(answer) == ["version", "predictions", "explanations", "openclarify"]
    record = answer["explanations"]["kernel_shap"][0]
    extra = answer["openclarify"]["kernel_shap"][0]
    phi = [f["attributions"][0]["attribution"][0] for f in record]
    assert abs(extra["expected_value"][0] + sum(phi) - extra["f_x"][0]) < 1e-9
    # The bars are drawn in order of magnitude, signed as the response says.
    labels = [t.text for t in browser.find_elements(By.CSS_SELECTOR, ".chart.bars text.label")]
    by_size = sorted(range(N_FEATURES), key=lambda j: -abs(phi[j]))
    assert labels == [NAMES[j] for j in by_size]
    classes = [b.get_attribute("class") for b in bars]
    assert classes == ["attr-bar " + ("pos" if phi[j] >= 0 else "neg") for j in by_size]
    summary = browser.find_element(By.CSS_SELECTOR, ".summary").text
    assert "base value E[f]" in summary and "sampled" in summary

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / "console-playground.png"
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000


def test_playground_raw_mode_explains_several_records_and_reports_errors(browser, console_server, explained_endpoint):
    browser.get(f"{console_server.url}/endpoints/{explained_endpoint}/playground")
    invoke_raw(browser, "0,0,0,0,0,0,0,0\n1,1,1,1,1,1,1,1")
    WebDriverWait(browser, 20).until(lambda b: len(b.find_elements(By.CSS_SELECTOR, "section.record")) == 2)
    assert len(browser.find_elements(By.CSS_SELECTOR, ".chart.bars rect.attr-bar")) == 2 * N_FEATURES

    invoke_raw(browser, "1,2,3")  # too few features: the server's ValidationError is shown, not a broken chart
    error = WebDriverWait(browser, 20).until(EC.visibility_of_element_located((By.ID, "error")))
    assert error.text.startswith("ValidationError:")


def test_precheck_page_shows_findings_estimates_and_the_suggested_config(browser, console_server):
    browser.get(console_server.url + "/precheck")
    browser.find_element(By.ID, "container_url").send_keys("http://127.0.0.1:9")
    browser.find_element(By.ID, "records").send_keys("1,2,3")
    browser.find_element(By.ID, "check").click()
    if console_server.canned_precheck:
        wait_for(browser, "#findings li")
        findings = browser.find_elements(By.CSS_SELECTOR, "#findings li")
        assert [f.get_attribute("class") for f in findings] == [
            f"finding level-{f['level']}" for f in CANNED_PRECHECK["findings"]
        ]
        assert "answered 2 lines" in findings[2].text
        assert browser.find_element(By.ID, "verdict").text.startswith("✗")
        assert "2100" in browser.find_element(By.ID, "estimates").text
        shown = json.loads(browser.find_element(By.ID, "explainer-config").text)
        assert shown == CANNED_PRECHECK["explainer_config"]
    else:  # the real API against a port nothing listens on: it must say so as an error finding
        wait_for(browser, "#findings li.level-error", timeout=60)
        assert browser.find_element(By.ID, "verdict").text.startswith("✗")
