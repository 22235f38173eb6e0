"""Metric labels name real endpoints only: a client cannot grow /metrics without bound by making up names, whether
its request is refused for its signature or for its endpoint."""

from __future__ import annotations

from starlette.testclient import TestClient

from openclarify.app import build_app
from openclarify.settings import Settings


def _series_naming(text: str, name: str) -> list[str]:
    return [line for line in text.splitlines() if not line.startswith("#") and name in line]


def test_refused_and_unknown_invocations_add_no_series_per_name(tmp_path):
    # Each made-up name used to add 84 series (a counter, the four stages' histograms, zero counters).
    settings = Settings(data_dir=tmp_path, model_roots=(tmp_path,), access_keys=(("AKIDEXAMPLE", "secret"),))
    app = build_app(settings)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        for i in range(20):
            refused = client.post(
                f"/endpoints/made-up-{i}/invocations", content=b"1", headers={"Content-Type": "text/csv"}
            )
            assert refused.status_code == 403
        # /metrics itself needs a signature here: read the registry it serves.
        text = app.state.components.metrics.exposition().decode()
    assert _series_naming(text, "made-up-") == []
    # They are counted, under an empty endpoint label, with their total latency only.
    refused_count = [
        line
        for line in text.splitlines()
        if line.startswith('openclarify_invocations_total{code="MissingAuthenticationTokenException",endpoint=""')
    ]
    assert refused_count and refused_count[0].endswith(" 20.0")
    stages = {line.split('stage="')[1].split('"')[0] for line in text.splitlines() if 'stage="' in line}
    assert stages == {"total"}


def test_an_unknown_endpoint_name_adds_no_series_either(tmp_path):
    settings = Settings(data_dir=tmp_path, model_roots=(tmp_path,))
    with TestClient(build_app(settings), base_url="http://127.0.0.1") as client:
        answer = client.post("/endpoints/nope-123/invocations", content=b"1", headers={"Content-Type": "text/csv"})
        assert answer.status_code == 400
        text = client.get("/metrics").text
    assert _series_naming(text, "nope-123") == []
    assert 'openclarify_invocations_total{code="ValidationError",endpoint="",variant=""} 1.0' in text
