"""Verify AWS Signature Version 4 on incoming requests, with botocore's own canonicalisation.

We rebuild the request as botocore saw it when signing (raw path, the signed headers only, the exact body) and
let ``botocore.auth.SigV4Auth`` compute the signature we expect; a hand-written canonicaliser would drift from
the client on some edge case. Codes and messages are AWS's, so clients see familiar errors.

Any region is accepted (the scope's region is the client's business); the service must be ``sagemaker``, which
botocore uses for both the control plane and the runtime. A session token (``X-Amz-Security-Token``) is signed
over like any header but not checked: the key id alone names the caller.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import NamedTuple

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from starlette.datastructures import Headers

from openclarify.errors import AccessDenied

_AUTH = re.compile(
    r"AWS4-HMAC-SHA256\s+Credential=(?P<cred>[^,\s]+),\s*SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<sig>[0-9a-f]+)\s*$"
)
_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access "
    "Key and signing method. Consult the service documentation for details."
)


class SigV4Verifier:
    def __init__(
        self, keys: Mapping[str, str], *, max_skew_seconds: float = 900.0, clock: Callable[[], float] = time.time
    ) -> None:
        self._keys = dict(keys)
        self._skew = max_skew_seconds
        self._clock = clock

    def verify(self, method: str, raw_path: str, query: str, headers: Headers, body: bytes) -> str:
        """Return the access key id of a correctly signed request, else raise AccessDenied with AWS's code."""
        credential = self.check_headers(headers)
        return self.check_signature(credential, method, raw_path, query, headers, body)

    def check_headers(self, headers: Mapping[str, str]) -> _Credential:
        """Everything that does not need the body: a request without a credential this server knows, or out of
        date, is refused before its body is read, so an unauthenticated client cannot make the server buffer it."""
        authorization = headers.get("authorization")
        if not authorization:
            raise AccessDenied("Missing Authentication Token", code="MissingAuthenticationTokenException")
        match = _AUTH.match(authorization.strip())
        if not match:
            raise AccessDenied(
                "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' parameters.",
                code="IncompleteSignatureException",
            )
        scope = match["cred"].split("/")
        if len(scope) != 5 or scope[4] != "aws4_request" or not scope[2]:
            raise AccessDenied("Credential should be scoped to a valid region.", code="IncompleteSignatureException")
        akid, day, region, service, _ = scope
        secret = self._keys.get(akid)
        if secret is None:
            raise AccessDenied(
                "The security token included in the request is invalid.", code="UnrecognizedClientException"
            )
        if service != "sagemaker":
            raise AccessDenied(
                f"Credential should be scoped to correct service: 'sagemaker'. Got '{service}'.",
                code="InvalidSignatureException",
            )
        amz_date = headers.get("x-amz-date", "")
        try:
            signed_at = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC).timestamp()
        except ValueError:
            raise AccessDenied("X-Amz-Date is missing or malformed.", code="IncompleteSignatureException") from None
        now = self._clock()
        if abs(now - signed_at) > self._skew:
            # AWS's wording: the bound, then how it follows from the server's clock.
            window = f"{self._skew / 60:g} min."
            raise AccessDenied(
                f"Signature expired: {amz_date} is now earlier than {_fmt(now - self._skew)} ({_fmt(now)} - {window})"
                if signed_at < now
                else f"Signature not yet current: {amz_date} is still later than {_fmt(now + self._skew)} "
                f"({_fmt(now)} + {window})",
                code="InvalidSignatureException",
            )
        if not amz_date.startswith(day):
            raise AccessDenied("Date in Credential scope does not match X-Amz-Date.", code="InvalidSignatureException")
        signed = match["signed"].split(";")
        if "host" not in signed:
            # Without a signed Host a captured request could be replayed to another server that shares the key.
            raise AccessDenied(
                "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization.",
                code="IncompleteSignatureException",
            )
        if any(h not in headers for h in signed):
            raise AccessDenied(_MISMATCH, code="InvalidSignatureException")
        return _Credential(akid, secret, region, amz_date, signed, match["sig"])

    def check_signature(
        self,
        credential: _Credential,
        method: str,
        raw_path: str,
        query: str,
        headers: Headers,
        body: bytes,
    ) -> str:
        """The signature over the request and its body (after ``check_headers``); the access key id if it holds."""
        akid, secret, region, amz_date, signed, signature = credential
        claimed = headers.get("x-amz-content-sha256")
        # botocore puts this header's value in the canonical request in place of the body's hash, so the signature
        # alone would not cover the body: it must be the hash of the body that came. UNSIGNED-PAYLOAD is refused
        # too, as no SageMaker operation is modelled with an unsigned body.
        if claimed is not None and claimed.lower() != hashlib.sha256(body).hexdigest():
            raise AccessDenied(
                "The provided 'x-amz-content-sha256' header does not match what was computed.",
                code="InvalidSignatureException",
            )
        request = AWSRequest(
            method=method, url="http://" + headers["host"] + raw_path + (f"?{query}" if query else ""), data=body
        )
        for name in signed:
            # Each value of a repeated header, in order: botocore's canonical form joins them with commas.
            for value in headers.getlist(name):
                request.headers[name] = value
        request.context["timestamp"] = amz_date
        token = headers.get("x-amz-security-token")
        auth = SigV4Auth(Credentials(akid, secret, token), "sagemaker", region)
        expected = auth.signature(auth.string_to_sign(request, auth.canonical_request(request)), request)
        if not hmac.compare_digest(expected, signature):
            raise AccessDenied(_MISMATCH, code="InvalidSignatureException")
        return akid


class _Credential(NamedTuple):
    akid: str
    secret: str
    region: str
    amz_date: str
    signed_headers: list[str]
    signature: str


def _fmt(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y%m%dT%H%M%SZ")
