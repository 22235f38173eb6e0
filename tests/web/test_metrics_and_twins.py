"""/metrics after real invocations; every console page's JSON twin; the console stays off with access keys."""

from __future__ import annotations

import contextlib

import httpx
from prometheus_client.parser import text_string_to_metric_families
from tests.conftest import free_port
from tests.web.conftest import N_FEATURES

from openclarify.app import build_app
from openclarify.settings import Settings


def samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(url + "/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(all_samples, name: str, **labels: str) -> float:
    return all_samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_invocations_split_latency_rows_and_exact_vs_sampled(console_server, explained_endpoint):
    runtime = console_server.client("sagemaker-runtime")
    before = samples(console_server.url)
    body = "\n".join(",".join(str(0.1 * (i + j)) for j in range(N_FEATURES)) for i in range(3))
    runtime.invoke_endpoint(EndpointName=explained_endpoint, Body=body, ContentType="text/csv")
    with contextlib.suppress(runtime.exceptions.ValidationError):
        runtime.invoke_endpoint(EndpointName=explained_endpoint, Body="1,2", ContentType="text/csv")
    after = samples(console_server.url)

    def delta(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    ep = {"endpoint": explained_endpoint}
    assert delta("openclarify_invocations_total", **ep, variant="AllTraffic", code="Success") == 1
    # The variant that served it, also when the request then failed.
    assert delta("openclarify_invocations_total", **ep, variant="AllTraffic", code="ValidationError") == 1
    assert delta("openclarify_requests_total", operation="InvokeEndpoint", status="200") == 1
    assert delta("openclarify_requests_total", operation="InvokeEndpoint", status="400") == 1
    # 3 records, each: baseline 4 rows x 60 coalitions sampled (fewer when the engine skips duplicates), plus
    # the 3 records' own prediction.
    rows = delta("openclarify_model_rows_total", **ep)
    assert 3 < rows <= 3 + 3 * 4 * 60
    assert delta("openclarify_explanations_total", **ep, kind="sampled") == 3
    assert delta("openclarify_explanations_total", **ep, kind="exact") == 0
    for stage in ("queue", "model", "explainer", "total"):
        assert delta("openclarify_invocation_seconds_count", **ep, stage=stage) == 2
    model = delta("openclarify_invocation_seconds_sum", **ep, stage="model")
    total = delta("openclarify_invocation_seconds_sum", **ep, stage="total")
    assert 0 < model < total


def test_every_page_has_a_json_twin(console_server, explained_endpoint):
    pages = [
        "/",
        "/models/web-model",
        "/endpoint-configs/web-config",
        f"/endpoints/{explained_endpoint}",
        f"/endpoints/{explained_endpoint}/playground",
        "/precheck",
    ]
    for page in pages:
        html = httpx.get(console_server.url + page)
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html"), page
        twin = "/.json" if page == "/" else page + ".json"
        assert f'href="{twin}"' in html.text, page
        data = httpx.get(console_server.url + twin)
        assert data.status_code == 200 and data.headers["content-type"] == "application/json", twin
    index = httpx.get(console_server.url + "/.json").json()
    assert explained_endpoint in [e["EndpointName"] for e in index["endpoints"]]
    spec = httpx.get(f"{console_server.url}/endpoints/{explained_endpoint}/playground.json").json()["playground"]
    assert len(spec["features"]) == N_FEATURES and spec["invoke_url"].endswith("/invocations")
    missing = httpx.get(console_server.url + "/models/nope.json")
    assert missing.status_code == 404 and "nope" in missing.json()["error"]
    assert httpx.get(console_server.url + "/models/nope").status_code == 404


def test_the_console_is_not_served_when_access_keys_are_configured(tmp_path):
    with_keys = Settings(port=free_port(), data_dir=tmp_path, access_keys=(("AKID", "SECRET"),))
    paths = {getattr(r, "path", None) for r in build_app(with_keys).routes}
    assert "/" in paths  # the control plane (POST)
    assert "/.json" not in paths and "/endpoints/{name}/playground" not in paths and "/-/static" not in paths
    without = {getattr(r, "path", None) for r in build_app(Settings(data_dir=tmp_path / "open")).routes}
    assert "/.json" in without and "/-/static" in without


def test_unknown_paths_get_the_consoles_404_page(console_server):
    page = httpx.get(console_server.url + "/no/such/page")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert 'class="brand"' in page.text and "/no/such/page" in page.text  # the console's page, saying what was asked
    twin = httpx.get(console_server.url + "/no/such/page.json")
    assert twin.status_code == 404 and twin.headers["content-type"] == "application/json"
    assert "/no/such/page.json" in twin.json()["error"]
    assert httpx.head(console_server.url + "/no/such/page").status_code == 404
    # What the router answered before stays: another method's route (405), a trailing slash (redirect), and the
    # API's own paths under other methods.
    assert httpx.get(console_server.url + "/-/precheck").status_code == 405
    assert httpx.get(console_server.url + "/endpoints/any/invocations").status_code == 405
    slash = httpx.get(console_server.url + "/precheck/")
    assert slash.status_code == 307 and slash.headers["location"].endswith("/precheck")
    assert httpx.post(console_server.url + "/no/such/page").status_code == 404


def test_favicon_is_inline_and_the_ico_path_answers_empty(console_server):
    """Pages carry their icon inline (no request); /favicon.ico, which browsers still ask for on pages without a
    <link rel=icon> (the JSON twins), answers 204 rather than a 404 in every log."""
    assert '<link rel="icon" href="data:image/svg+xml,' in httpx.get(console_server.url + "/").text
    icon = httpx.get(console_server.url + "/favicon.ico")
    assert icon.status_code == 204 and icon.content == b""
