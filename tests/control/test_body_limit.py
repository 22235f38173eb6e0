"""Every request body is bounded as it arrives (6 MiB, InvokeEndpoint's limit), and with access keys a request
without a valid credential is refused before its body is read.

Before, the server buffered whatever it was sent: a 500 MB body without any Authorization grew it by about 1 GB
before the 403, and a chunked body (no Content-Length) slipped past the 6 MiB check.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from urllib.parse import urlparse

import httpx
import pytest
from tests.conftest import LiveServer

LIMIT = 6 * 1024 * 1024


@pytest.fixture(scope="module")
def secured(tmp_path_factory, model_root) -> Iterator[LiveServer]:
    live = LiveServer(
        tmp_path_factory.mktemp("body-limit"), [model_root], env={"OPENCLARIFY_ACCESS_KEYS": "AKIDBODY:secret"}
    ).start()
    yield live
    live.stop()


def head_only(url: str, path: str, headers: dict[str, str]) -> tuple[int, dict]:
    """Send a request's headers, promising a body that never comes, and read the answer: a server that waited for
    the body would not answer within the timeout."""
    parsed = urlparse(url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=10) as connection:
        lines = [f"POST {path} HTTP/1.1", f"Host: {parsed.netloc}", *(f"{k}: {v}" for k, v in headers.items())]
        connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = connection.recv(65536)
            if not chunk:
                break
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


@pytest.mark.parametrize("path", ["/", "/endpoints/any/invocations"])
def test_a_request_without_a_credential_is_refused_before_its_body_is_read(secured, path):
    # Ten bytes promised and none sent: a server that read the body before the credential would wait for them.
    status, body = head_only(secured.url, path, {"Content-Length": "10"})
    assert (status, body["__type"]) == (403, "MissingAuthenticationTokenException")
    status, body = head_only(
        secured.url, path, {"Content-Length": "10", "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDNOPE/x"}
    )
    assert (status, body["__type"]) == (400, "IncompleteSignatureException")  # AWS answers it with 400
    # Past the bound, the length alone is refused, credential or not.
    status, body = head_only(secured.url, path, {"Content-Length": str(500 * 1024 * 1024)})
    message = body["Message"] if path.endswith("/invocations") else body["message"]  # each API's error shape
    assert status == 400 and "at most 6291456 bytes (6 MiB)" in message


def test_a_declared_length_past_the_bound_is_refused_before_its_body_is_read(server):
    status, body = head_only(
        server.url, "/", {"Content-Length": str(LIMIT + 1), "X-Amz-Target": "SageMaker.ListModels"}
    )
    assert (status, body["__type"]) == (400, "ValidationException")
    assert (
        body["message"] == f"The request body is {LIMIT + 1} bytes; this server accepts at most {LIMIT} bytes (6 MiB)."
    )
    # In the runtime's error shape, as its handler answers (it was the control plane's __type and message).
    status, body = head_only(server.url, "/endpoints/any/invocations", {"Content-Length": str(LIMIT + 1)})
    assert (status, body["ErrorCode"]) == (400, "ValidationError")
    assert "InvokeEndpoint accepts at most 6291456 bytes (6 MiB)" in body["Message"]


@pytest.mark.parametrize(
    ("path", "headers", "code"),
    [
        (
            "/",
            {"X-Amz-Target": "SageMaker.ListModels", "Content-Type": "application/x-amz-json-1.1"},
            "ValidationException",
        ),
        ("/endpoints/any/invocations", {"Content-Type": "text/csv"}, "ValidationError"),
    ],
)
def test_a_chunked_body_past_the_bound_is_refused_as_it_streams(server, path, headers, code):
    def chunks() -> Iterator[bytes]:  # no Content-Length: the body is counted as it arrives
        for _ in range(7):
            yield b"1" * (1024 * 1024)

    response = httpx.post(server.url + path, content=chunks(), headers=headers, timeout=30)
    assert response.status_code == 400
    assert response.headers["x-amzn-errortype"] == code
    assert f"The request body is more than {LIMIT} bytes" in response.text


@pytest.mark.parametrize("path", ["/", "/endpoints/any/invocations"])
def test_a_client_that_leaves_mid_body_is_no_server_error(tmp_path, model_root, path):
    # Its own server, so that its log holds this request alone: the disconnect used to log an ERROR with a traceback.
    live = LiveServer(tmp_path / "server", [model_root]).start()
    try:
        parsed = urlparse(live.url)
        with socket.create_connection((parsed.hostname, parsed.port), timeout=10) as connection:
            head = f"POST {path} HTTP/1.1\r\nHost: {parsed.netloc}\r\nContent-Length: 100\r\n"
            connection.sendall((head + "X-Amz-Target: SageMaker.ListModels\r\n\r\n" + "123456789").encode())
        assert httpx.get(live.url + "/ping").status_code == 200
    finally:
        live.stop()
    log = live.log()
    assert "disconnected before sending its whole body" in log
    assert "ERROR" not in log and "Traceback" not in log


@pytest.mark.parametrize("path", ["/", "/endpoints/any/invocations"])
def test_a_body_that_does_not_arrive_within_the_deadline_is_refused(tmp_path, model_root, path):
    # A client that sends its headers and a little of its body, then stalls, held the request open for good.
    live = LiveServer(tmp_path / "server", [model_root], env={"OPENCLARIFY_INVOKE_DEADLINE_SECONDS": "1.5"}).start()
    try:
        parsed = urlparse(live.url)
        with socket.create_connection((parsed.hostname, parsed.port), timeout=10) as connection:
            head = f"POST {path} HTTP/1.1\r\nHost: {parsed.netloc}\r\nContent-Length: 100\r\n"
            connection.sendall((head + "X-Amz-Target: SageMaker.ListModels\r\n\r\n" + "123456789").encode())
            started = time.monotonic()
            answer = _response(connection)
            waited = time.monotonic() - started
    finally:
        live.stop()
    assert answer.startswith("HTTP/1.1 400") and "did not arrive within 1.5 seconds" in answer, answer
    assert 1.0 < waited < 5.0


def _response(connection: socket.socket) -> str:
    """The whole HTTP response: its head and body may come in separate segments (one recv read only the head on a
    busy machine)."""
    data = b""
    while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _content_length(data):
        chunk = connection.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.decode()


def _content_length(data: bytes) -> int:
    head = data.split(b"\r\n\r\n", 1)[0].decode().lower()
    lengths = [line.split(":", 1)[1] for line in head.split("\r\n") if line.startswith("content-length:")]
    return int(lengths[0]) if lengths else 0
