"""Accessibility and small screens, in the browser: labels and live regions as the accessibility tree computes them,
text contrast (WCAG AA, 4.5:1) as the browser renders it, no sideways scrolling at 385 px, and the pre-check page's
controls (Check disabled while a check runs, Copy without the Clipboard API)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait
from tests.precheck.conftest import LayoutContainer, csv_text, sample
from tests.web.conftest import (
    INSECURE_HOST,
    LONG_CONFIG_NAME,
    LONG_MODEL_NAME,
    LONG_NAME,
    contrast,
    invoke_raw,
    wait_for,
)

AA = 4.5


@pytest.fixture(scope="module")
def container() -> Iterator[LayoutContainer]:
    """A real model container that passes the pre-check; each request takes 100 ms, so a check lasts seconds."""
    live = LayoutContainer("probability", "--delay-ms", "100").wait()
    yield live
    live.stop()


def run_precheck(browser, base_url: str, container: LayoutContainer) -> None:
    browser.get(base_url + "/precheck")
    browser.find_element(By.ID, "container_url").send_keys(container.url)
    browser.find_element(By.ID, "records").send_keys(csv_text(sample(3)))
    browser.find_element(By.ID, "check").click()


def test_playground_controls_are_labelled_and_announced(browser, console_server, explained_endpoint):
    browser.get(f"{console_server.url}/endpoints/{explained_endpoint}/playground")
    browser.find_element(By.CSS_SELECTOR, "input[name=mode][value=raw]").click()
    assert browser.find_element(By.ID, "raw").accessible_name == "Records, one per line (CSV or JSON Lines)"
    assert browser.find_element(By.ID, "state").aria_role == "status"  # a polite live region
    # Hidden until there is an error, and outside the accessibility tree meanwhile: its role is declared.
    assert browser.find_element(By.ID, "error").get_attribute("role") == "alert"


def test_the_playground_error_is_announced_and_readable(browser, console_server, explained_endpoint):
    browser.get(f"{console_server.url}/endpoints/{explained_endpoint}/playground")
    invoke_raw(browser, "1,2,3")
    error = browser.find_element(By.ID, "error")
    assert error.is_displayed()
    assert error.aria_role == "alert"
    assert contrast(browser, error) >= AA


def test_precheck_controls_verdict_and_findings(browser, console_server, container):
    run_precheck(browser, console_server.url, container)
    check = browser.find_element(By.ID, "check")
    assert not check.is_enabled()  # while the check runs: no second one on top
    assert browser.find_element(By.ID, "state").text == "checking…"
    wait_for(browser, "#findings li", timeout=60)
    assert check.is_enabled()
    verdict = browser.find_element(By.ID, "verdict")
    assert verdict.text.startswith("✓")
    findings = browser.find_elements(By.CSS_SELECTOR, "#findings li")
    assert findings and all("level-ok" in f.get_attribute("class") for f in findings)
    for element in [verdict, *findings, *browser.find_elements(By.CSS_SELECTOR, "#findings .level")]:
        assert contrast(browser, element) >= AA, element.text
    assert browser.find_element(By.ID, "error").get_attribute("role") == "alert"
    assert browser.find_element(By.ID, "state").aria_role == "status"


@pytest.mark.parametrize("page", ["precheck", "playground"])
def test_copy_without_the_clipboard_api(browser, console_server, container, explained_endpoint, page):
    """Over plain http on a name that is not loopback (serve --insecure on a LAN address) the page is not a secure
    context and has no navigator.clipboard: Copy selects the text and copies it the older way."""
    base = console_server.url.replace("127.0.0.1", INSECURE_HOST)
    if page == "precheck":
        run_precheck(browser, base, container)
        wait_for(browser, "#findings li", timeout=60)
        button, source, state = "copy-config", "explainer-config", "config-copied"
    else:
        browser.get(f"{base}/endpoints/{explained_endpoint}/playground")
        browser.find_element(By.ID, "invoke").click()
        wait_for(browser, ".chart.bars svg")
        button, source, state = "copy", "response-json", "copied"
    assert browser.execute_script("return [window.isSecureContext, 'clipboard' in navigator]") == [False, False]
    text = browser.find_element(By.ID, source).get_attribute("textContent")
    browser.find_element(By.ID, button).click()
    WebDriverWait(browser, 5).until(lambda b: b.find_element(By.ID, state).text == "copied")
    # What the clipboard holds, pasted back into a field of the page.
    browser.execute_script(
        "const t = document.createElement('textarea'); t.id = 'paste'; document.body.appendChild(t); t.focus();"
    )
    browser.find_element(By.ID, "paste").send_keys(Keys.CONTROL, "v")
    assert browser.find_element(By.ID, "paste").get_attribute("value") == text


@pytest.fixture
def narrow(browser) -> Iterator[None]:
    size = browser.get_window_size()
    browser.set_window_size(385, 900)
    yield
    browser.set_window_size(size["width"], size["height"])


def test_no_page_scrolls_sideways_at_385_px(browser, narrow, console_server, plain_endpoint, explained_endpoint):
    pages = [
        "/",
        f"/endpoints/{LONG_NAME}",
        f"/endpoint-configs/{LONG_CONFIG_NAME}",
        f"/models/{LONG_MODEL_NAME}",
        "/endpoint-configs/web-config",
        f"/endpoints/{explained_endpoint}/playground",
        f"/endpoints/{LONG_NAME}/playground",
        "/precheck",
        "/no/such/page",
    ]
    for page in pages:
        browser.get(console_server.url + page)
        viewport, content = browser.execute_script(
            "return [document.documentElement.clientWidth, document.documentElement.scrollWidth]"
        )
        assert viewport <= 385 and content <= viewport, (page, content)
