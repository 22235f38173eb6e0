"""What the test model containers share: SageMaker's container contract on top of ``http.server``.

The containers run as scripts (``python tests/containers/x_container.py``), so they import this module as a
sibling from their own directory.
"""

from __future__ import annotations

import csv
import io
import json
from http.server import BaseHTTPRequestHandler

CUSTOM = "X-Amzn-SageMaker-Custom-Attributes"


def numeric_records(body: bytes, content_type: str) -> list[list[float]]:
    """``text/csv`` rows, or ``application/jsonlines`` lines holding an array, ``{"features": [...]}`` or
    ``{"data": {"features": [...]}}``."""
    text = body.decode()
    if content_type.startswith("application/jsonlines"):
        rows = []
        for line in text.split("\n"):
            if not line.strip():
                continue
            value = json.loads(line)
            if isinstance(value, dict):
                value = value["features"] if "features" in value else value["data"]["features"]
            # A numeric model server reads JSON numbers: a feature spelled as a JSON string is refused, as such a
            # server's parser would (json.loads keeps "0" a string; numpy or a typed schema then fails on it).
            strings = [v for v in value if not isinstance(v, int | float) or isinstance(v, bool)]
            if strings:
                raise ValueError(f"features must be JSON numbers, got {json.dumps(strings[0])}")
            rows.append([float(v) for v in value])
        return rows
    return [[float(c) for c in cells] for cells in csv.reader(io.StringIO(text)) if cells]


def custom_attributes(header: str | None) -> dict[str, str]:
    """``key=value`` items of a CustomAttributes header, separated by ``;`` or ``,``."""
    items = [item.partition("=") for item in (header or "").replace(",", ";").split(";")]
    return {key.strip(): value.strip() for key, _, value in items if key.strip()}


class ContainerHandler(BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1, no access log, and ``_send`` for a whole answer."""

    protocol_version = "HTTP/1.1"
    echo_custom_attributes = False
    """Whether answers carry the request's CustomAttributes back, as a container may."""

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if self.echo_custom_attributes and self.headers.get(CUSTOM):
            self.send_header(CUSTOM, self.headers[CUSTOM])
        self.end_headers()
        self.wfile.write(body)
