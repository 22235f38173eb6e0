"""The endpoint-config and endpoint pages: the explainer readout for text endpoints, and variant weights."""

from __future__ import annotations

import httpx
from selenium.webdriver.common.by import By
from tests.web.conftest import LONG_CONFIG_NAME


def readout(browser, setting: str) -> str:
    for row in browser.find_elements(By.CSS_SELECTOR, "table.explainer tbody tr"):
        if row.find_element(By.TAG_NAME, "th").text == setting:
            return row.find_elements(By.TAG_NAME, "td")[1].text
    raise AssertionError(f"no {setting} row")


def test_the_budget_of_a_text_endpoint_depends_on_each_records_text_units(browser, console_server, text_endpoint):
    """The players are the text units of each record (docs/text.md), not the one text column: the readout says
    so, and how far the default budget (2M + 2048) covers every coalition: 2^11 - 2 = 2046 <= 2070, 2^12 - 2 > 2072."""
    for page in (f"/endpoint-configs/{text_endpoint}-config", f"/endpoints/{text_endpoint}"):
        browser.get(console_server.url + page)
        meaning = readout(browser, "NumberOfSamples")
        assert "for 1 features" not in meaning, page
        assert "text units of each record" in meaning and "up to 11 players" in meaning, page
        twin = httpx.get(console_server.url + page + ".json").json()["explainer"]["items"]
        assert meaning == next(i["meaning"] for i in twin if i["setting"] == "NumberOfSamples")


def test_variant_weights_show_their_real_value(browser, console_server, plain_endpoint):
    browser.get(f"{console_server.url}/endpoint-configs/{LONG_CONFIG_NAME}")
    rows = browser.find_elements(By.CSS_SELECTOR, "table.list tbody tr")
    cells = [[td.text for td in row.find_elements(By.TAG_NAME, "td")] for row in rows]
    weights = {variant: weight for variant, _model, _instances, weight in cells}
    assert weights == {"Shadow": "0.0", "Main": "1.0 (default)"}
