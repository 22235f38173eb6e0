"""SigV4 details a client can get wrong, or an attacker can exploit, against a live server with access keys.

Requests are signed by botocore itself (boto3 clients with event hooks, or ``SigV4Auth`` where the request must be
shaped by hand) and sent over real sockets.
"""

from __future__ import annotations

import hashlib
import socket
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from tests.conftest import LiveServer
from tests.control.helpers import client_error

KEY, SECRET = "AKIDWIRE", "wire-secret"
JSON = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "SageMaker.ListModels"}


@pytest.fixture(scope="module")
def secured(tmp_path_factory, model_root):
    live = LiveServer(
        tmp_path_factory.mktemp("secured-wire"), [model_root], env={"OPENCLARIFY_ACCESS_KEYS": f"{KEY}:{SECRET}"}
    ).start()
    yield live
    live.stop()


def _sign(
    server: LiveServer, headers: list[tuple[str, str]], body: bytes = b"{}", **auth: str
) -> list[tuple[str, str]]:
    """botocore's signature over ``headers`` (repeats kept, as botocore's HTTPHeaders keeps them)."""
    request = AWSRequest(method="POST", url=server.url + "/", data=body)
    for name, value in headers:
        request.headers[name] = value
    SigV4Auth(Credentials(KEY, SECRET), auth.get("service", "sagemaker"), auth.get("region", "us-east-1")).add_auth(
        request
    )
    return list(request.headers.items())


def _describe_with_swapped_body(secured: LiveServer, content_sha256: str | None) -> dict[str, str]:
    """DescribeModel signed by boto3 for model ``alpha-1``, whose body is changed to ``alpha-2`` on the way."""
    client = secured.client("sagemaker", KEY, SECRET)

    def claim_hash(request, **_):
        request.headers["X-Amz-Content-SHA256"] = content_sha256 or hashlib.sha256(request.body).hexdigest()

    def swap(request, **_):
        request.body = request.body.replace(b"alpha-1", b"alpha-2")

    client.meta.events.register("before-sign.sagemaker.DescribeModel", claim_hash)
    client.meta.events.register("before-send.sagemaker.DescribeModel", swap)
    return client_error(client.describe_model, ModelName="alpha-1")


@pytest.mark.parametrize("content_sha256", [None, "UNSIGNED-PAYLOAD"])
def test_a_body_is_covered_even_when_its_hash_travels_in_a_header(secured, content_sha256):
    # Signed with X-Amz-Content-SHA256 (the real hash, or UNSIGNED-PAYLOAD), the body must still be the one signed:
    # otherwise anyone on the path can replace it and the server acts on the replacement.
    error = _describe_with_swapped_body(secured, content_sha256)
    assert error["Code"] == "InvalidSignatureException", error
    assert "alpha-2" not in error["Message"]


def test_an_honest_content_sha256_header_is_accepted(secured):
    client = secured.client("sagemaker", KEY, SECRET)
    client.meta.events.register(
        "before-sign.sagemaker.ListModels",
        lambda request, **_: request.headers.__setitem__(
            "X-Amz-Content-SHA256", hashlib.sha256(request.body).hexdigest().upper()
        ),
    )
    assert client.list_models()["Models"] == []


def test_host_must_be_signed_and_a_request_without_one_is_no_500(secured):
    headers = _sign(secured, list(JSON.items()))
    authorization = dict(headers)["Authorization"].replace(
        "SignedHeaders=content-type;host;", "SignedHeaders=content-type;"
    )
    unsigned_host = [(k, v) for k, v in headers if k != "Authorization"] + [("Authorization", authorization)]
    response = httpx.post(secured.url + "/", content=b"{}", headers=unsigned_host)
    assert response.status_code == 400
    assert response.json()["__type"] == "IncompleteSignatureException"
    # HTTP/1.0 allows a request without Host at all.
    lines = "".join(f"{k}: {v}\r\n" for k, v in unsigned_host)
    with socket.create_connection(("127.0.0.1", secured.port), timeout=10) as conn:
        conn.sendall(f"POST / HTTP/1.0\r\n{lines}Content-Length: 2\r\n\r\n{{}}".encode())
        answer = b""
        while chunk := conn.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 400 "), answer[:200]
    assert b"IncompleteSignatureException" in answer


def test_a_repeated_header_is_signed_with_all_its_values(secured):
    headers = _sign(secured, [*JSON.items(), ("X-Trace", "one"), ("X-Trace", "two")])
    assert httpx.post(secured.url + "/", content=b"{}", headers=headers).status_code == 200
    # A value added after signing changes the canonical header, even when the application reads only the first.
    added = [*_sign(secured, list(JSON.items())), ("X-Amz-Target", "SageMaker.ListEndpoints")]
    response = httpx.post(secured.url + "/", content=b"{}", headers=added)
    assert response.status_code == 403
    assert response.json()["__type"] == "InvalidSignatureException"


def test_an_empty_region_in_the_scope_is_refused(secured):
    response = httpx.post(secured.url + "/", content=b"{}", headers=_sign(secured, list(JSON.items()), region=""))
    assert response.status_code == 400
    assert response.json() == {
        "__type": "IncompleteSignatureException",
        "message": "Credential should be scoped to a valid region.",
    }


@pytest.mark.parametrize(("minutes", "words", "sign"), [(-20, "Signature expired", "-"), (20, "not yet current", "+")])
def test_clock_skew_messages_show_the_server_clock_as_aws_does(secured, minutes, words, sign):
    when = datetime.now(UTC) + timedelta(minutes=minutes)
    request = AWSRequest(method="POST", url=secured.url + "/", data=b"{}", headers=JSON)
    request.context["timestamp"] = when.strftime("%Y%m%dT%H%M%SZ")
    auth = SigV4Auth(Credentials(KEY, SECRET), "sagemaker", "us-east-1")
    auth._modify_request_before_signing(request)  # adds X-Amz-Date from the chosen timestamp, as add_auth would
    signature = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    request.headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={auth.scope(request)}, "
        f"SignedHeaders={auth.signed_headers(auth.headers_to_sign(request))}, Signature={signature}"
    )
    response = httpx.post(secured.url + "/", content=b"{}", headers=dict(request.headers.items()))
    assert response.status_code == 403
    message = response.json()["message"]
    assert words in message
    # AWS: "... is now earlier than <now - 15 min> (<now> - 15 min.)"; the parenthesis names the server's now.
    server_now = datetime.strptime(message.split("(")[1][:16], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    assert abs(server_now - datetime.now(UTC)) < timedelta(minutes=1)
    assert message.endswith(f"{sign} 15 min.)")
