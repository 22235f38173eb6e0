"""What the pre-check costs the server, and what it refuses before calling anything: a health check reads no body,
no request carries more than MaxPayloadInMB, a few checks run at once, and a request that cannot be checked (a URL
httpx cannot send, a model file that is not there) is a 400, never a 500 or a finding."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest
from botocore.exceptions import ClientError
from starlette.applications import Starlette
from tests.conftest import LiveServer
from tests.precheck.conftest import csv_text, levels, precheck, sample, unique
from tests.precheck.test_cli_and_http import cli, post

from openclarify.errors import ModelError
from openclarify.runtimes import RuntimeSpec, create_runtime
from openclarify.services.precheck import PrecheckLimits, PrecheckReport, PrecheckRequest, PrecheckService, Target
from openclarify.services.precheck_probe import Probe, invoke
from openclarify.wire import precheck_api

MIB = 1024 * 1024


def stats(url: str) -> dict[str, int]:
    return httpx.get(url + "/stats", timeout=5).json()


# -- the container's answers and the requests sent to it -------------------------------------------------------------


def test_the_health_check_reads_the_status_not_the_body(odd):
    # The /ping body was read whole: a container answering 1.5 GB grew the server to 3.3 GB.
    url = odd("--ping-body", "endless")
    stats(url)
    service = PrecheckService(limits=PrecheckLimits(total_seconds=8, timing_seconds=0.3))
    report = asyncio.run(service.run(PrecheckRequest(Target(url=url), csv_text(sample()).encode())))
    assert report.ok, report.findings
    assert any(m.startswith(f"GET {url}/ping answered 200") for m in levels(report, "ok"))
    # The connection is closed rather than left for the container to fill: it stops sending at once.
    sent, deadline = 0, time.monotonic() + 5
    while True:
        now = stats(url)
        sent += now["ping_bytes"]
        if now["ping_streams"] == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert now["ping_streams"] == 0 and sent < 16 * MIB


def test_no_request_carries_more_than_max_payload_in_mb(odd):
    # One record of about 0.9 MB: batches of 8 and timing requests of up to 1024 records made 7 MB, then 133 MB and
    # 266 MB requests. Clarify sends at most MaxPayloadInMB (6 MiB by default) in one request.
    url = odd()
    record = ",".join("0." + "1" * 998 for _ in range(900))
    stats(url)
    report = precheck(url, record + "\n", timing_seconds=2)
    largest = stats(url)["largest_request"]
    assert 4 * MIB < largest <= 6 * MIB  # bounded, but still batches: 6 records of 0.9 MB
    measured = [n for n, _ in report.estimates["measured"]]
    assert measured[0] == 1 and max(measured) <= 6, measured


def test_a_server_runs_a_few_prechecks_at_once_and_answers_503_beyond(odd):
    url = odd("--ping-delay-ms", "1500")
    service = PrecheckService(limits=PrecheckLimits(total_seconds=20, timing_seconds=0.2, max_running=1))
    app = Starlette(routes=precheck_api.routes(service))
    payload = {"container_url": url, "records": csv_text(sample())}

    async def run() -> tuple[httpx.Response, httpx.Response, httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=30) as client:
            first = asyncio.create_task(client.post(precheck_api.PATH, json=payload))
            await asyncio.sleep(0.5)  # the first check waits for its /ping
            busy = await client.post(precheck_api.PATH, json=payload)
            done = await first
            after = await client.post(precheck_api.PATH, json={"container_url": "http://10.1.2.3", "records": "1\n"})
        return done, busy, after

    done, busy, after = asyncio.run(run())
    assert done.status_code == 200 and done.json()["ok"], done.json()
    assert busy.status_code == 503 and int(busy.headers["retry-after"]) > 0
    body = busy.json()
    assert body["ok"] is False and body["explainer_config"] is None
    (finding,) = body["findings"]
    assert finding["level"] == "error" and "1 pre-check" in finding["message"] and "retry" in finding["message"]
    assert after.status_code == 400  # the slot was given back: this one was checked (and refused for its host)
    assert PrecheckLimits().max_running == 4  # what docs/precheck.md promises a server


def test_how_many_checks_run_at_once_is_a_server_setting(odd, tmp_path):
    """``--max-running-prechecks``: a server started with 1 answers a second check, sent while the first waits for
    its container, with 503 and Retry-After; the limit used to be fixed at 4."""
    from concurrent.futures import ThreadPoolExecutor

    url = odd("--ping-delay-ms", "1500")
    live = LiveServer(tmp_path, [tmp_path], extra_args=["--max-running-prechecks", "1"]).start()
    try:
        payload = {"container_url": url, "records": csv_text(sample())}
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(post, live, payload)
            time.sleep(0.5)  # the first check waits for its /ping
            busy = post(live, payload)
            done = first.result()
    finally:
        live.stop()
    assert done.status_code == 200 and done.json()["ok"], done.json()
    assert busy.status_code == 503 and int(busy.headers["retry-after"]) > 0
    assert "running 1 pre-check already" in busy.json()["findings"][0]["message"]


# -- URLs httpx cannot send ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:1/\x7f", "'\\x7f' at position 20: a URL may not hold control characters or whitespace"),
        ("http://127.0.0.1:1/\x00", "'\\x00' at position 20"),
        ("http://evil.com\t@127.0.0.1:1", "'\\t' at position 16"),
        ("http://127.0.0.1:1/ a", "' ' at position 20"),
        ("http://127.0.0.1:1/" + "a" * 65_000, "is 65019 characters; a container URL is at most 255"),
    ],
)
def test_a_url_httpx_cannot_send_is_a_400_before_any_call(server, url, message):
    response = post(server, {"container_url": url, "records": "1,2\n"})
    assert response.status_code == 400, response.text
    (finding,) = response.json()["findings"]
    assert finding["level"] == "error" and message in finding["message"]
    assert len(finding["message"]) < 400  # the URL is shown shortened


def test_a_model_whose_url_cannot_be_sent_is_refused_before_the_pre_check_sees_it(server, sagemaker):
    # Its Image pattern refuses whitespace only; CreateModel refuses the control character itself (a model stored
    # before it did is refused by the pre-check's own check of the URL, as a container_url is above).
    with pytest.raises(ClientError) as info:
        sagemaker.create_model(ModelName=unique("pc-ctl"), PrimaryContainer={"Image": "http://127.0.0.1:1/\x7f"})
    assert "a control character at position 20" in info.value.response["Error"]["Message"]


@pytest.mark.parametrize("url", ["http://127.0.0.1:1/\x7f", "http://127.0.0.1:1/" + "a" * 70_000])
def test_the_cli_refuses_such_a_url_in_one_line(url, tmp_path):
    (tmp_path / "sample.csv").write_text("1,2\n")
    done = cli("--url", url, "--records", str(tmp_path / "sample.csv"))
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "Container URL" in done.stderr


def test_a_url_httpx_refuses_where_it_is_called_is_a_finding_not_an_exception():
    # The up-front check keeps such URLs out; these are the calls' own guard, should one get past it.
    bad = "http://127.0.0.1:1/\x7f"
    report = PrecheckReport()
    assert asyncio.run(PrecheckService()._ping(bad, report)) is False
    (finding,) = report.findings
    assert finding.level == "error" and "is not a URL httpx can send" in finding.message

    async def call() -> None:
        runtime = create_runtime(RuntimeSpec(image=bad, url=bad))
        try:
            await invoke(runtime, Probe("text/csv", None, [b"1,2"]), [b"1,2"])
        finally:
            await runtime.aclose()

    with pytest.raises(ModelError, match="is not a URL httpx can send"):
        asyncio.run(call())


# -- what cannot be checked is a 400; what was checked and failed is a finding ---------------------------------------


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"image": "openclarify/sklearn", "model_data": "/etc/passwd"}, "outside the model roots"),
        ({"image": "openclarify/sklearn", "model_data": "ROOT/nope.skops"}, "ModelDataUrl does not exist"),
        ({"image": "openclarify/sklearn"}, "needs a ModelDataUrl"),
        ({"container_url": "HTTP://127.0.0.1:1"}, "in lower case"),
        ({"container_url": "http://127.0.0.1:99999"}, "port from 1 to 65535"),
        ({"container_url": "http://127.0.0.1:0"}, "port from 1 to 65535"),
        ({"container_url": "http://[::1"}, "not a valid URL"),
    ],
)
def test_a_request_that_cannot_be_checked_is_a_400(server, model_root: Path, payload, message):
    payload = {k: v.replace("ROOT", str(model_root)) for k, v in payload.items()}
    response = post(server, {**payload, "records": "1,2\n"})
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["ok"] is False and body["explainer_config"] is None
    (finding,) = body["findings"]
    assert finding["level"] == "error" and message in finding["message"]


def test_a_model_file_that_does_not_load_is_a_finding(server, model_root: Path):
    folder = model_root / "bounds"
    folder.mkdir(exist_ok=True)
    (folder / "garbage.skops").write_bytes(b"not a model")
    payload = {"image": "openclarify/sklearn", "model_data": str(folder / "garbage.skops"), "records": "1,2\n"}
    response = post(server, payload)
    assert response.status_code == 200 and response.json()["ok"] is False
    assert "The model does not load" in response.json()["findings"][0]["message"]
