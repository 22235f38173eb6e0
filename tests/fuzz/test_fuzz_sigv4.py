"""Hostile SigV4 headers against a server with access keys: never a 5xx, never accepted unless correctly signed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.fuzz.conftest import examples, make_settings
from tests.fuzz.harness import HOSTILE_STRINGS, JSON_TYPE, FuzzApp
from tests.fuzz.test_fuzz_api import FUZZ

KEY, SECRET = "AKIDFUZZ", "fuzz-secret"
HOST = "127.0.0.1"


@pytest.fixture(scope="module")
def secured_app(tmp_path_factory: pytest.TempPathFactory, fuzz_model: Path) -> Iterator[FuzzApp]:
    settings_ = make_settings(tmp_path_factory.mktemp("fuzz-sigv4"), fuzz_model, access_keys=((KEY, SECRET),))
    with FuzzApp(settings_, label="in-process sigv4") as app:
        yield app


def signed(body: bytes, when: datetime, region: str = "us-east-1", service: str = "sagemaker") -> dict[str, str]:
    headers = {"Content-Type": JSON_TYPE, "X-Amz-Target": "SageMaker.ListModels", "Host": HOST}
    request = AWSRequest(method="POST", url=f"http://{HOST}/", data=body, headers=headers)
    request.context["timestamp"] = when.strftime("%Y%m%dT%H%M%SZ")
    request.headers["X-Amz-Date"] = request.context["timestamp"]
    SigV4Auth(Credentials(KEY, SECRET), service, region).add_auth(request)
    return dict(request.headers.items())


text = st.sampled_from(HOSTILE_STRINGS) | st.text(max_size=30)
hexes = st.text("0123456789abcdef", min_size=0, max_size=70)


def authorizations() -> st.SearchStrategy[str]:
    scope = st.tuples(
        st.sampled_from([KEY, "AKIDOTHER", ""]) | text, text, text, st.sampled_from(["sagemaker", "s3"]) | text
    )
    structured = st.builds(
        lambda s, signed_headers, sig, tail: (
            f"AWS4-HMAC-SHA256 Credential={s[0]}/{s[1]}/{s[2]}/{s[3]}/{tail}, "
            f"SignedHeaders={signed_headers}, Signature={sig}"
        ),
        scope,
        st.sampled_from(["host;x-amz-date", "host;x-amz-date;x-amz-target", "content-type", "nope", ""]) | text,
        hexes,
        st.sampled_from(["aws4_request", "x"]),
    )
    return structured | text | st.just("AWS4-HMAC-SHA256 ") | st.just("AWS4-HMAC-SHA256 Credential=")


def test_forged_and_malformed_authorization_headers(secured_app):
    now = datetime.now(UTC)
    dates = st.sampled_from([now.strftime("%Y%m%dT%H%M%SZ"), "20200101T000000Z", "", "99999999T999999Z"]) | text

    @settings(max_examples=examples(700), **FUZZ)
    @given(authorization=authorizations(), date=dates, token=st.none() | text, body=st.binary(max_size=40))
    def run(authorization, date, token, body):
        headers = {"Content-Type": JSON_TYPE, "X-Amz-Target": "SageMaker.ListModels", "Authorization": authorization}
        headers["X-Amz-Date"] = date
        if token is not None:
            headers["X-Amz-Security-Token"] = token
        response = secured_app.send("POST", "/", body, headers)
        assert response.status_code in (400, 403), response.status_code

    run()


def test_a_correctly_signed_request_with_one_thing_changed_is_refused(secured_app):
    body = b'{"MaxResults": 5}'
    good = signed(body, datetime.now(UTC))
    assert secured_app.send("POST", "/", body, good).status_code == 200

    @settings(max_examples=examples(300), **FUZZ)
    @given(
        which=st.sampled_from(["X-Amz-Target", "X-Amz-Date", "Authorization", "Content-Type", "body"]),
        value=text,
        skew=st.integers(-3600, 3600),
    )
    def run(which, value, skew):
        headers = dict(good)
        sent = body
        if which == "body":
            sent = value.encode() if value.encode() != body else b"{}"
        elif which == "X-Amz-Date":
            headers = signed(body, datetime.now(UTC))  # a fresh signature, then a different date
            headers["X-Amz-Date"] = (datetime.now(UTC) + timedelta(seconds=skew or 1)).strftime("%Y%m%dT%H%M%SZ")
        elif headers.get(which) == value:
            return
        else:
            headers[which] = value
        response = secured_app.send("POST", "/", sent, headers)
        assert response.status_code in (400, 403), (which, value, response.status_code)

    run()
