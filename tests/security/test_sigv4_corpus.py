"""A SigV4 corpus against a live server with access keys: every forged or stale request is refused, and boto3's
real signed requests (control plane and runtime, both regions' worth) are all accepted.

Any region is accepted when the signature is computed for it (the region is the client's business; see
wire/sigv4.py); "wrong region" below means a scope that names another region than the one signed for.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from tests.conftest import LiveServer
from tests.control.helpers import client_error, unique, variant

KEY, SECRET = "AKIDCORPUS", "corpus-secret"
BODY = b'{"MaxResults": 5}'


@pytest.fixture(scope="module")
def secured(tmp_path_factory, model_root):
    live = LiveServer(
        tmp_path_factory.mktemp("corpus"), [model_root], env={"OPENCLARIFY_ACCESS_KEYS": f"{KEY}:{SECRET}"}
    )
    live.start()
    yield live
    live.stop()


def sign(
    server: LiveServer,
    *,
    when: datetime | None = None,
    region: str = "us-east-1",
    service: str = "sagemaker",
    key: str = KEY,
    secret: str = SECRET,
) -> dict[str, str]:
    when = when or datetime.now(UTC)
    host = server.url.removeprefix("http://")
    headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "SageMaker.ListModels", "Host": host}
    request = AWSRequest(method="POST", url=server.url + "/", data=BODY, headers=headers)
    request.context["timestamp"] = when.strftime("%Y%m%dT%H%M%SZ")
    request.headers["X-Amz-Date"] = request.context["timestamp"]
    # Not add_auth: it would stamp the current time over ours.
    auth = SigV4Auth(Credentials(key, secret), service, region)
    signature = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
    request.headers["Authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={auth.scope(request)}, "
        f"SignedHeaders={auth.signed_headers(auth.headers_to_sign(request))}, Signature={signature}"
    )
    return dict(request.headers.items())


def post(server: LiveServer, headers: dict[str, str], body: bytes = BODY) -> httpx.Response:
    return httpx.post(server.url + "/", content=body, headers=headers, timeout=10)


def refused(response: httpx.Response, code: str) -> None:
    assert response.status_code in (400, 403), response.text
    assert response.json()["__type"] == code, response.json()


def test_the_untouched_request_is_accepted(secured):
    assert post(secured, sign(secured)).status_code == 200


def test_tampered_body(secured):
    refused(post(secured, sign(secured), b'{"MaxResults": 6}'), "InvalidSignatureException")


@pytest.mark.parametrize("header", ["X-Amz-Target", "Content-Type"])
def test_tampered_signed_header(secured, header):
    headers = sign(secured)
    headers[header] = "SageMaker.DeleteModel" if header == "X-Amz-Target" else "application/json"
    refused(post(secured, headers), "InvalidSignatureException")


def test_tampered_signed_date(secured):
    headers = sign(secured)
    headers["X-Amz-Date"] = (datetime.now(UTC) - timedelta(seconds=30)).strftime("%Y%m%dT%H%M%SZ")
    refused(post(secured, headers), "InvalidSignatureException")


def test_wrong_region_in_the_scope(secured):
    headers = sign(secured, region="us-east-1")
    headers["Authorization"] = headers["Authorization"].replace("/us-east-1/", "/eu-west-1/")
    refused(post(secured, headers), "InvalidSignatureException")


def test_wrong_service(secured):
    refused(post(secured, sign(secured, service="s3")), "InvalidSignatureException")


def test_replayed_request_with_an_old_date(secured):
    old = sign(secured, when=datetime.now(UTC) - timedelta(minutes=16))
    response = post(secured, old)
    refused(response, "InvalidSignatureException")
    assert "Signature expired" in response.json()["message"]


def test_unknown_key_and_wrong_secret(secured):
    refused(post(secured, sign(secured, key="AKIDNOBODY")), "UnrecognizedClientException")
    refused(post(secured, sign(secured, secret="not-it")), "InvalidSignatureException")


def test_missing_or_truncated_signature(secured):
    headers = sign(secured)
    unsigned = {k: v for k, v in headers.items() if k != "Authorization"}
    refused(post(secured, unsigned), "MissingAuthenticationTokenException")
    truncated = {**headers, "Authorization": headers["Authorization"].split(", Signature=")[0]}
    refused(post(secured, truncated), "IncompleteSignatureException")
    no_date = {k: v for k, v in headers.items() if k != "X-Amz-Date"}
    assert post(secured, no_date).status_code in (400, 403)


def test_the_runtime_route_refuses_forgeries_too(secured):
    url = secured.url + "/endpoints/x/invocations"
    response = httpx.post(url, content=b"1,2", headers={"Content-Type": "text/csv"}, timeout=10)
    assert response.status_code == 403 and response.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-3"])
def test_boto3_real_signed_requests_are_all_accepted(secured, model_root, region):
    import boto3
    from botocore.config import Config

    def make(service: str):
        return boto3.session.Session().client(
            service,
            endpoint_url=secured.url,
            region_name=region,
            aws_access_key_id=KEY,
            aws_secret_access_key=SECRET,
            config=Config(retries={"max_attempts": 1}),
        )

    sm, runtime = make("sagemaker"), make("sagemaker-runtime")
    model, config, endpoint = unique("sig-m"), unique("sig-c"), unique("sig-e")
    sm.create_model(ModelName=model, PrimaryContainer={"Image": "http://127.0.0.1:9"})
    sm.describe_model(ModelName=model)
    sm.list_models(NameContains="sig", MaxResults=10)
    sm.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[variant(model)])
    sm.describe_endpoint_config(EndpointConfigName=config)
    sm.list_endpoint_configs()
    sm.list_endpoints(StatusEquals="InService")
    # A real signed runtime call passes authentication and reaches the route (the endpoint does not exist).
    error = client_error(runtime.invoke_endpoint, EndpointName=endpoint, Body=b"1,2,3", ContentType="text/csv")
    assert error["Code"] == "ValidationError"
    error = client_error(sm.describe_endpoint, EndpointName=endpoint)
    assert error["Code"] == "ValidationException"
    sm.delete_endpoint_config(EndpointConfigName=config)
    sm.delete_model(ModelName=model)
