"""A model container that takes text over HTTP, for the text-feature tests: ``GET /ping``, ``POST /invocations``.

It serves a scikit-learn Pipeline stored with skops (``--model model.skops``): either a text vectorizer first (one
text column) or a ColumnTransformer over text and numeric columns. Every request's record count is appended to
``--log`` as one JSON line, so tests can count the synthetic records.

Input (``Content-Type``): ``text/csv`` (RFC 4180: quoted fields with commas, doubled quotes and newlines) or
``application/jsonlines``, each line ``{"features": [...]}`` or a JSON array. Output: ``text/csv``, one probability
per line.

    python text_container.py --port 8080 --model model.skops --log requests.jsonl
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import skops.io


def parse_records(body: bytes, content_type: str) -> list[list[object]]:
    text = body.decode()
    if content_type.startswith("application/jsonlines"):
        rows = []
        for line in text.split("\n"):
            if line.strip():
                value = json.loads(line)
                rows.append(value["features"] if isinstance(value, dict) else value)
        return rows
    return [cells for cells in csv.reader(io.StringIO(text, newline="")) if cells]


def table(rows: list[list[object]], text_columns: set[int]) -> np.ndarray:
    out = np.empty((len(rows), len(rows[0])), dtype=object)
    for i, row in enumerate(rows):
        for j, value in enumerate(row):
            out[i, j] = str(value) if j in text_columns else float(value)  # type: ignore[arg-type]
    return out


def make_handler(model, text_columns: set[int], log_path: str | None):
    lock = threading.Lock()
    takes_column = hasattr(model.steps[0][1], "build_analyzer")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def _answer(self, status: int, body: bytes, content_type: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            self._answer(200 if self.path == "/ping" else 404, b"")

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            try:
                rows = parse_records(body, self.headers.get("Content-Type", "text/csv"))
                X = table(rows, text_columns)
                proba = model.predict_proba(X[:, 0] if takes_column else X)[:, 1]
            except Exception as exc:
                self._answer(400, str(exc).encode())
                return
            if log_path:
                with lock, open(log_path, "a") as f:
                    f.write(json.dumps({"records": len(rows)}) + "\n")
            self._answer(200, ("\n".join(repr(float(p)) for p in proba) + "\n").encode(), "text/csv")

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--text-columns", default="0", help="comma-separated 0-based indices of the text columns")
    parser.add_argument("--log")
    args = parser.parse_args()
    model = skops.io.load(args.model, trusted=skops.io.get_untrusted_types(file=args.model))
    text_columns = {int(c) for c in args.text_columns.split(",")}
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(model, text_columns, args.log))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
