"""What the client commands make of AWS credentials they cannot use and of a server that is not a SageMaker API:
one line on stderr with the exit code docs/cli.md gives (2 for the configuration, 4 for the answer), never a
traceback from botocore."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from tests.cli.conftest import cli, one_line_error
from tests.conftest import LiveServer


@pytest.fixture
def no_aws_files(tmp_path) -> dict[str, str]:
    """Empty AWS config and credentials files, so that what is on this machine does not count."""
    config, credentials = tmp_path / "config", tmp_path / "credentials"
    config.write_text("")
    credentials.write_text("")
    return {"AWS_CONFIG_FILE": str(config), "AWS_SHARED_CREDENTIALS_FILE": str(credentials)}


def test_a_key_id_without_its_secret_is_a_configuration_error(cli_server, no_aws_files):
    env = {**no_aws_files, "AWS_ACCESS_KEY_ID": "AKIDONLY"}
    message = one_line_error(cli("endpoints", url=cli_server.url, env=env), 2)
    assert "AWS_SECRET_ACCESS_KEY" in message
    invoke = one_line_error(cli("invoke", "some-endpoint", url=cli_server.url, env=env, stdin="1,2\n"), 2)
    assert "AWS_SECRET_ACCESS_KEY" in invoke


def test_an_unknown_profile_is_a_configuration_error(cli_server, no_aws_files):
    env = {**no_aws_files, "AWS_PROFILE": "no-such-profile"}
    message = one_line_error(cli("models", url=cli_server.url, env=env), 2)
    assert "no-such-profile" in message and "AWS_PROFILE" in message


def test_a_key_the_server_does_not_know_names_both_ways_to_give_another(tmp_path, model_root, no_aws_files):
    """A profile's key refused by a server with access keys: exit 4, and the fix names AWS_PROFILE too, where it
    named only the two variables the key had not come from."""
    server = LiveServer(tmp_path / "data", [model_root], env={"OPENCLARIFY_ACCESS_KEYS": "AKIDKNOWN:known"}).start()
    try:
        Path(no_aws_files["AWS_SHARED_CREDENTIALS_FILE"]).write_text(
            "[work]\naws_access_key_id = AKIDOTHER\naws_secret_access_key = other\n"
        )
        env = {**no_aws_files, "AWS_PROFILE": "work"}
        message = one_line_error(cli("models", url=server.url, env=env), 4)
    finally:
        server.stop()
    assert message.startswith("openclarify: UnrecognizedClientException: ")
    assert "AWS_PROFILE" in message and "AWS_ACCESS_KEY_ID" in message


def test_a_batch_size_no_request_can_hold_is_a_usage_error(cli_server):
    message = one_line_error(
        cli("invoke", "some-endpoint", "--batch-size", "99999999999999999999", url=cli_server.url, stdin="1,2\n"), 2
    )
    assert "--batch-size must be 1 to 3145728" in message


def _answering(status: int, body: bytes) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def foreign_server(request) -> Iterator[str]:
    """A server that is not a SageMaker API, answering every request as ``request.param`` says: (status, body),
    or None for Python's file server, which answers POST with a 501 HTML page of several lines."""
    handler = SimpleHTTPRequestHandler if request.param is None else _answering(*request.param)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize(
    "foreign_server",
    [
        pytest.param((200, b"0.6000"), id="a-model-container"),
        pytest.param((200, b"[1, 2]"), id="a-json-list"),
        pytest.param((200, b'{"status": "ok"}'), id="another-json-api"),
        pytest.param((200, b"hello"), id="text"),
        pytest.param((200, b""), id="nothing"),
        pytest.param((400, b"[1, 2]"), id="an-error-with-a-json-list"),
        pytest.param(None, id="python-http-server"),
    ],
    indirect=True,
)
def test_a_server_that_is_not_a_sagemaker_api_is_named_in_one_line(foreign_server):
    for args in (["endpoints"], ["configs", "describe", "some-config"], ["models", "--json"]):
        message = one_line_error(cli(*args, "--endpoint-url", foreign_server), 4)
        assert f"{foreign_server} answered HTTP " in message and "not as a SageMaker API answers" in message, message


@pytest.mark.parametrize(
    "foreign_server",
    [
        pytest.param((400, b"[1, 2]"), id="an-error-with-a-json-list"),
        pytest.param((404, b"<html>\n<p>Not here</p>\n</html>"), id="an-html-page"),
        pytest.param(None, id="python-http-server"),
    ],
    indirect=True,
)
def test_invoke_against_a_server_that_is_not_a_sagemaker_api_stops_in_one_line(foreign_server):
    result = cli("invoke", "some-endpoint", "--endpoint-url", foreign_server, stdin="1,2\n3,4\n")
    assert "not as a SageMaker API answers" in one_line_error(result, 4)
    assert result.stdout == ""
