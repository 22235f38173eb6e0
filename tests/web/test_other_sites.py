"""Other websites, opened in a browser on this machine, cannot use a server that runs without access keys.

Found by an audit, in a real browser: a form on another site posted to an endpoint whose container answers HTML
(text/plain form bodies need no CORS preflight); the answer carried the container's content type and ran as a page of
the server's origin, whose script then created a model through the unauthenticated control plane. And a site whose
name resolves to 127.0.0.1 (DNS rebinding) read the console's data as its own origin.
"""

from __future__ import annotations

import html
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest
from botocore.exceptions import ClientError
from tests.conftest import free_port
from tests.web.conftest import REBOUND_HOST, deploy

STOLEN_MODEL = "made-by-another-site"


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class HtmlEchoContainer(_Quiet):
    """A model container that echoes its input as HTML: any container a client can make answer markup."""

    def do_GET(self) -> None:
        self.answer(200, b"", "text/plain")

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.answer(200, body, "text/html")


def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture(scope="module")
def echo_endpoint(console_server) -> Iterator[str]:
    for url in serve(HtmlEchoContainer):
        console_server.client("sagemaker").create_model(ModelName="html-echo", PrimaryContainer={"Image": url})
        yield deploy(console_server, "html-echo", "html-echo")


def attack_page(target: str) -> bytes:
    """Another site's page: a form that posts, as text/plain, a script that would create a model on the target's
    control plane, to an endpoint whose container echoes it back as HTML."""
    script = (
        "<script>fetch('/', {method: 'POST', headers: {'X-Amz-Target': 'SageMaker.CreateModel', "
        "'Content-Type': 'application/x-amz-json-1.1'}, body: JSON.stringify({ModelName: '" + STOLEN_MODEL + "', "
        "PrimaryContainer: {Image: 'http://127.0.0.1:9/'}})}).then(() => { document.title = 'it ran'; });</script>"
    )
    return (
        f'<html><body><form id="f" method="POST" enctype="text/plain" action="{html.escape(target)}">'
        f'<input type="hidden" name="{html.escape(script)}" value=""></form>'
        '<script>document.getElementById("f").submit();</script></body></html>'
    ).encode()


def test_a_form_on_another_site_cannot_run_script_on_the_servers_origin(browser, console_server, echo_endpoint):
    target = f"{console_server.url}/endpoints/{echo_endpoint}/invocations"

    class AttackSite(_Quiet):
        def do_GET(self) -> None:
            self.answer(200, attack_page(target), "text/html")

    for site in serve(AttackSite):  # another origin: another port
        browser.get(site)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and browser.current_url.startswith(site):
            time.sleep(0.05)
        time.sleep(1.0)  # time for a script on the answer to run, if any could
        assert browser.title != "it ran"
    with pytest.raises(ClientError):
        console_server.client("sagemaker").describe_model(ModelName=STOLEN_MODEL)


def test_a_site_whose_name_resolves_here_is_refused(browser, console_server):
    port = console_server.url.rsplit(":", 1)[1]
    browser.get(f"http://console.test:{port}/")  # a name the operator trusts: the console
    assert "openclarify" in browser.title
    browser.get(f"http://{REBOUND_HOST}:{port}/")  # the same machine under a website's name: no console
    assert "openclarify" not in browser.title and "Endpoints" not in browser.page_source
    # Without a browser: the same Host header is refused, loopback names and the operator's trusted one are not.
    assert httpx.get(console_server.url + "/.json", headers={"Host": f"{REBOUND_HOST}:{port}"}).status_code == 403
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"console.test:{port}"):
        assert httpx.get(console_server.url + "/.json", headers={"Host": host}).status_code == 200, host


def test_every_answer_tells_the_browser_what_it_may_do(console_server, echo_endpoint):
    page = httpx.get(console_server.url + "/")
    assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    # An API answer may carry a container's own content type: sandboxed, it can run nothing even if rendered.
    answer = httpx.post(
        f"{console_server.url}/endpoints/{echo_endpoint}/invocations",
        content=b"<script>1</script>",
        headers={"Content-Type": "text/csv"},
    )
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
    assert answer.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'; sandbox"
    assert answer.headers["x-content-type-options"] == "nosniff"
