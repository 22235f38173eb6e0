"""The fuzzing harness: the ASGI app in process, input strategies from botocore's shapes, and the invariants.

Invariants checked on every generated input (``FuzzApp.send``):

- no 5xx, and no exception escaping the app (Starlette's TestClient re-raises them);
- no ERROR log record from the server (handlers log unexpected exceptions before answering 500);
- every 4xx carries an error code and a non-empty message (AWS JSON ``__type``/``message`` or the runtime's
  ``x-amzn-ErrorType``/``Message``);
- no file opened outside the model roots, the data directory and the Python installation, and no socket
  connection or name lookup at all (the operator allowed no network address), seen through ``sys.addaudithook``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import sysconfig
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.model import ServiceModel, Shape
from hypothesis import strategies as st
from starlette.testclient import TestClient

from openclarify.app import build_app
from openclarify.settings import Settings
from openclarify.wire.spec import sagemaker_model

JSON_TYPE = "application/x-amz-json-1.1"
SUPPORTED = (
    "CreateModel",
    "DescribeModel",
    "ListModels",
    "DeleteModel",
    "CreateEndpointConfig",
    "DescribeEndpointConfig",
    "ListEndpointConfigs",
    "DeleteEndpointConfig",
    "CreateEndpoint",
    "DescribeEndpoint",
    "ListEndpoints",
    "UpdateEndpoint",
    "DeleteEndpoint",
)

# -- the audit guard ---------------------------------------------------------------------------------------------

_guard_lock = threading.Lock()
_guard: dict[str, Any] = {"armed": False, "allowed": (), "violations": []}


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if not _guard["armed"]:
        return
    if event == "open":
        path = args[0]
        if isinstance(path, int) or path is None:
            return
        text = os.fsdecode(path) if isinstance(path, (str, bytes, os.PathLike)) else str(path)
        resolved = os.path.realpath(text)
        if not any(resolved == root or resolved.startswith(root + os.sep) for root in _guard["allowed"]):
            _guard["violations"].append(f"open {text!r}")
    elif event in ("socket.connect", "socket.getaddrinfo", "socket.gethostbyname"):
        _guard["violations"].append(f"{event} {args[1:]!r}")


_installed = False


@contextmanager
def guarded(allowed: list[Path]) -> Iterator[list[str]]:
    """Record file opens outside ``allowed`` (plus Python's own directories) and any network attempt."""
    global _installed
    with _guard_lock:
        if not _installed:
            sys.addaudithook(_audit)
            _installed = True
    python_dirs = {sys.prefix, sys.base_prefix, sys.exec_prefix, *sysconfig.get_paths().values()}
    python_dirs |= {p for p in sys.path if p and os.path.isdir(p)}
    roots = {os.path.realpath(str(p)) for p in [*allowed, *python_dirs]} | {"/dev/urandom", "/dev/null"}
    _guard.update(allowed=tuple(sorted(roots)), violations=[], armed=True)
    try:
        yield _guard["violations"]
    finally:
        _guard["armed"] = False


# -- the app -----------------------------------------------------------------------------------------------------


class ServerErrors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(self.format(record))


@dataclass
class Tally:
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)

    def add(self, status: int) -> None:
        self.requests += 1
        self.statuses[status] = self.statuses.get(status, 0) + 1


class FuzzApp:
    """``build_app(settings)`` behind Starlette's TestClient, lifespan included."""

    def __init__(self, settings: Settings, label: str = "app") -> None:
        self.settings = settings
        self.label = label
        self.client = TestClient(build_app(settings), base_url="http://127.0.0.1", raise_server_exceptions=True)
        self.errors = ServerErrors()
        self.tally = Tally()

    def __enter__(self) -> FuzzApp:
        self.client.__enter__()
        logging.getLogger("openclarify").addHandler(self.errors)
        return self

    def __exit__(self, *exc: object) -> None:
        logging.getLogger("openclarify").removeHandler(self.errors)
        self.client.__exit__(*exc)
        report(self.label, self.tally)

    def send(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> Any:
        raw = {k: v.encode("utf-8") if isinstance(v, str) else v for k, v in headers.items()}  # any bytes may arrive
        response = self.client.request(method, path, content=body, headers=raw)
        self.tally.add(response.status_code)
        check(response, self.errors.records)
        return response

    def control(self, operation: str, body: bytes | dict[str, Any], **headers: str) -> Any:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.send(
            "POST", "/", raw, {"Content-Type": JSON_TYPE, "X-Amz-Target": f"SageMaker.{operation}", **headers}
        )


def report(label: str, tally: Tally) -> None:
    """Append ``{"suite", "requests", "statuses"}`` to ``$OPENCLARIFY_FUZZ_REPORT`` when it is set."""
    path = os.environ.get("OPENCLARIFY_FUZZ_REPORT")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(json.dumps({"suite": label, "requests": tally.requests, "statuses": tally.statuses}) + "\n")


def check(response: Any, server_errors: list[str]) -> None:
    status = response.status_code
    assert status < 500, f"{status}: {response.text[:500]}"
    logged = list(server_errors)
    server_errors.clear()  # reported once, so later inputs are judged on their own
    assert not logged, logged[-1]
    if status >= 400:
        code = response.headers.get("x-amzn-errortype")
        assert code, f"{status} without an error code: {response.text[:300]}"
        payload = response.json()
        message = payload.get("message") or payload.get("Message")
        assert isinstance(message, str) and message.strip(), payload


# -- strategies from botocore's input shapes ---------------------------------------------------------------------

HOSTILE_STRINGS = [
    "",
    " ",
    "a" * 70,
    "../../../../etc/passwd",
    "/etc/passwd",
    "file:///etc/passwd",
    "s3://bucket/model.tar.gz",
    "http://169.254.169.254/latest/meta-data/",
    "https://example.com/baseline.csv",
    "http://127.0.0.1:1/",
    "model.pkl",
    "/tmp/../etc/shadow",
    "\x00",
    "\ud7ff\ufffd",
    "${jndi:ldap://x}",
    "'; DROP TABLE models; --",
    "[*].features",
    "features[",
    '`"',
    "openclarify/xgboost",
    "openclarify/sklearn",
    "ml.m5.large",
    "AllTraffic",
    "1,2,3\n4,5,6",
    "1e400",
    "NaN",
]

JSON_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
)
ANY_JSON = st.recursive(
    JSON_LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def names() -> st.SearchStrategy[str]:
    return st.from_regex(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,8}", fullmatch=True)


def shape_strategy(shape: Shape, depth: int = 0) -> st.SearchStrategy[Any]:
    """Values for a botocore input shape: mostly well-typed (so validation passes and handlers run), sometimes any
    JSON value (so validation is exercised too)."""
    if not depth:
        return _typed(shape, depth)
    return st.integers(0, 15).flatmap(lambda i: ANY_JSON if i == 0 else _typed(shape, depth))


def _typed(shape: Shape, depth: int) -> st.SearchStrategy[Any]:
    kind = shape.type_name
    if kind == "structure":
        if depth > 4:
            return st.just({})
        members = shape.members
        required = set(shape.required_members)
        return st.fixed_dictionaries(
            {k: _member(v, depth) for k, v in members.items() if k in required},
            optional={k: _member(v, depth) for k, v in members.items() if k not in required},
        )
    if kind == "list":
        return st.lists(_member(shape.member, depth), max_size=3)
    if kind == "map":
        return st.dictionaries(st.text(max_size=10), _member(shape.value, depth), max_size=3)
    if kind == "string":
        enum = shape.enum
        pool = st.sampled_from(HOSTILE_STRINGS) | names() | st.text(max_size=40)
        return st.sampled_from(enum) | pool if enum else pool
    if kind in ("integer", "long"):
        return st.integers(min_value=-10, max_value=2**40)
    if kind in ("float", "double"):
        return st.floats(allow_nan=False, width=64) | st.integers(min_value=-5, max_value=100)
    if kind == "boolean":
        return st.booleans()
    if kind == "timestamp":
        return st.floats(min_value=0, max_value=4e9, allow_nan=False) | st.text(max_size=10)
    if kind == "blob":
        return st.text(max_size=20)
    return ANY_JSON


def _member(shape: Shape, depth: int) -> st.SearchStrategy[Any]:
    return st.deferred(lambda: shape_strategy(shape, depth + 1))


_MODEL: ServiceModel | None = None


def service_model() -> ServiceModel:
    global _MODEL
    if _MODEL is None:
        _MODEL = sagemaker_model()
    return _MODEL


def operation_bodies(operation: str) -> st.SearchStrategy[dict[str, Any]]:
    shape = service_model().operation_model(operation).input_shape
    return _typed(shape, 0) if shape is not None else st.just({})


def explainer_configs() -> st.SearchStrategy[dict[str, Any]]:
    """ClarifyExplainerConfig with hostile JMESPath, templates and inline baselines."""
    jmes = st.sampled_from(
        ["features", "[*].features", "data.features", "a[", "`x`", "@", "foo|bar", "&x", "a.b[?c>`1`]"]
    ) | st.text(max_size=20)
    baseline = st.sampled_from(
        ["1,2,3", "1,2,3\n4,5,6", "", "\n\n", "a,b", '"1",2,"3', "1e999,0,0", "[1,2,3]", '{"features":[1,2,3]}']
    ) | st.text(max_size=60)
    inference = st.fixed_dictionaries(
        {},
        optional={
            "FeaturesAttribute": jmes,
            "ContentTemplate": st.sampled_from(['{"features":$features}', "$record", "$features", '{"a":$x}'])
            | st.text(max_size=30),
            "MaxRecordCount": st.integers(min_value=-1, max_value=10**6),
            "MaxPayloadInMB": st.integers(min_value=-1, max_value=100),
            "ProbabilityIndex": st.integers(min_value=-1, max_value=10),
            "LabelIndex": st.integers(min_value=-1, max_value=10),
            "ProbabilityAttribute": jmes,
            "LabelAttribute": jmes,
            "LabelHeaders": st.lists(st.text(max_size=5), max_size=3),
            "FeatureHeaders": st.lists(st.text(max_size=5), max_size=4),
            "FeatureTypes": st.lists(st.sampled_from(["numerical", "categorical", "text", "x"]), max_size=4),
        },
    )
    shap = st.fixed_dictionaries(
        {
            "ShapBaselineConfig": st.fixed_dictionaries(
                {},
                optional={
                    "MimeType": st.sampled_from(["text/csv", "application/jsonlines", "x/y"]),
                    "ShapBaseline": baseline,
                    "ShapBaselineUri": st.sampled_from(HOSTILE_STRINGS),
                },
            )
        },
        optional={
            "NumberOfSamples": st.integers(min_value=-1, max_value=10**7),
            "UseLogit": st.booleans(),
            "Seed": st.integers(min_value=-1, max_value=2**40),
            "TextConfig": st.fixed_dictionaries(
                {"Language": st.sampled_from(["en", "zz", ""]), "Granularity": st.sampled_from(["token", "word", ""])}
            ),
        },
    )
    return st.fixed_dictionaries(
        {"ShapConfig": shap},
        optional={"EnableExplanations": jmes, "InferenceConfig": inference},
    )


def csv_bodies() -> st.SearchStrategy[bytes]:
    cell = st.sampled_from(
        ["1", "-2.5", "1e308", "1e999", "nan", "inf", "", '"3"', '"a,b"', "x", '"', "\x00"]
    ) | st.floats(allow_nan=True).map(repr)
    line = st.lists(cell, min_size=0, max_size=7).map(",".join)
    return st.lists(line, max_size=6).map("\n".join).map(lambda s: s.encode()) | st.binary(max_size=64)


def jsonlines_bodies() -> st.SearchStrategy[bytes]:
    record = (
        st.lists(st.floats(allow_nan=False, allow_infinity=False), max_size=6)
        | st.fixed_dictionaries({"features": st.lists(JSON_LEAVES, max_size=6)})
        | ANY_JSON
    ).map(lambda v: json.dumps(v))
    raw = st.sampled_from(["{", "[1,2", "null", '{"features": {"a": 1}}', "[[1,2,3]]", "1", '"x"'])
    return st.lists(record | raw, max_size=5).map("\n".join).map(lambda s: s.encode())


def nested_json(depth: int) -> bytes:
    return ("[" * depth + "]" * depth).encode()
