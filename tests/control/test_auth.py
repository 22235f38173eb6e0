"""SigV4 authentication against a server with access keys, and the loopback-only rule without them."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from botocore import UNSIGNED
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from tests.conftest import LiveServer
from tests.control.helpers import client_error

KEY, SECRET = "AKIDOPENCLARIFY1", "s3cr3t-value"
FILE_KEY, FILE_SECRET = "AKIDFROMFILE", "another-secret"


@pytest.fixture(scope="module")
def secured(tmp_path_factory, model_root):
    data_dir = tmp_path_factory.mktemp("secured")
    (data_dir / "credentials").write_text(f"# operators\n{FILE_KEY}:{FILE_SECRET}\n")
    live = LiveServer(data_dir, [model_root], env={"OPENCLARIFY_ACCESS_KEYS": f"{KEY}:{SECRET}"}).start()
    yield live
    live.stop()


@pytest.mark.parametrize(("key", "secret"), [(KEY, SECRET), (FILE_KEY, FILE_SECRET)])
def test_correctly_signed_requests_pass_for_both_services(secured, key, secret):
    assert "Models" in secured.client("sagemaker", key, secret, region_name="eu-west-3").list_models()
    # Authentication wraps every route: a correctly signed runtime call gets past it (to whatever the route
    # answers), a wrongly signed one does not.
    runtime = secured.client("sagemaker-runtime", key, secret)
    error = client_error(runtime.invoke_endpoint, EndpointName="x", Body=b"1,2", ContentType="text/csv")
    assert error["Code"] not in ("InvalidSignatureException", "UnrecognizedClientException")
    wrong = secured.client("sagemaker-runtime", key, secret + "x")
    error = client_error(wrong.invoke_endpoint, EndpointName="x", Body=b"1,2", ContentType="text/csv")
    assert error["Code"] == "InvalidSignatureException"


def test_ping_needs_no_signature(secured):
    assert httpx.get(secured.url + "/ping").status_code == 200


def test_wrong_secret_unknown_key_and_missing_auth(secured):
    error = client_error(secured.client("sagemaker", KEY, "wrong").list_models)
    assert error["Code"] == "InvalidSignatureException"
    assert error["Message"].startswith("The request signature we calculated does not match")
    error = client_error(secured.client("sagemaker", "AKIDUNKNOWN", SECRET).list_models)
    assert error == {
        "Code": "UnrecognizedClientException",
        "Message": "The security token included in the request is invalid.",
    }
    error = client_error(secured.client("sagemaker", signature_version=UNSIGNED).list_models)
    assert error["Code"] == "MissingAuthenticationTokenException"


def _signed_post(server: LiveServer, when: datetime, body: bytes = b"{}", tamper: bool = False) -> httpx.Response:
    """Sign a ListModels call as botocore does, but at a chosen time."""
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "SageMaker.ListModels"}
    request = AWSRequest(method="POST", url=server.url + "/", data=body, headers=headers)
    request.context["timestamp"] = when.strftime("%Y%m%dT%H%M%SZ")
    request.headers["X-Amz-Date"] = request.context["timestamp"]
    auth = SigV4Auth(Credentials(KEY, SECRET), "sagemaker", "us-east-1")
    signature = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    request.headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={auth.scope(request)}, "
        f"SignedHeaders={auth.signed_headers(auth.headers_to_sign(request))}, Signature={signature}"
    )
    sent = b'{"MaxResults": 5}' if tamper else body
    return httpx.post(server.url + "/", content=sent, headers=dict(request.headers.items()))


def test_clock_skew_beyond_fifteen_minutes_is_rejected(secured):
    now = datetime.now(UTC)
    assert _signed_post(secured, now - timedelta(minutes=5)).status_code == 200
    for skew in (timedelta(minutes=-20), timedelta(minutes=20)):
        response = _signed_post(secured, now + skew)
        assert response.status_code == 403
        assert response.json()["__type"] == "InvalidSignatureException"
        assert "Signature expired" in response.json()["message"] or "not yet current" in response.json()["message"]


def test_a_tampered_body_fails_the_signature(secured):
    response = _signed_post(secured, datetime.now(UTC), tamper=True)
    assert response.status_code == 403
    assert response.json()["__type"] == "InvalidSignatureException"


def test_without_keys_a_public_address_is_refused(tmp_path):
    env = {"OPENCLARIFY_DATA_DIR": str(tmp_path), "PATH": ""}
    result = subprocess.run(
        [sys.executable, "-m", "openclarify", "serve", "--host", "0.0.0.0", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "--insecure" in result.stderr
