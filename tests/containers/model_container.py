"""A model container following SageMaker's contract, for the invocation tests: ``GET /ping``, ``POST /invocations``.

It serves a real XGBoost model (``--model model.json``) and records every ``/invocations`` request it receives as
one JSON line in ``--log`` (records, body bytes, content type, accept, custom attributes, status), so tests can
prove how the server batched the synthetic records.

Input (``Content-Type``): ``text/csv`` (RFC 4180; quoted numbers allowed) or ``application/jsonlines`` where each
line is a JSON array, ``{"features": [...]}`` or ``{"data": {"features": [...]}}``.
Output (``Accept``, default ``text/csv``): ``text/csv`` one probability per line, or ``application/jsonlines``
``{"predicted_label": 0|1, "probability": p}`` per line.

Knobs, for failure tests:

- ``--max-records N``: answer 413 to a request holding more than N records (a container with a payload limit);
- CustomAttributes ``delay=S``: sleep S seconds before answering; ``fail=S``: answer status S;
  ``rows=K``: answer K extra lines (a model that returns the wrong number of rows);
- CustomAttributes ``csv=label``: CSV lines ``label,probability``; ``classes=3``: three class probabilities
  ``[(1-p)/2, (1-p)/2, p]`` with labels cat, dog, fish (CSV: a quoted label-list cell and a probability-list cell).

    python model_container.py --port 8080 --model model.json --log requests.jsonl
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import xgboost

CUSTOM = "X-Amzn-SageMaker-Custom-Attributes"


def parse_features(body: bytes, content_type: str) -> list[list[float]]:
    text = body.decode()
    if content_type.startswith("application/jsonlines"):
        rows = []
        for line in text.split("\n"):
            if not line.strip():
                continue
            value = json.loads(line)
            if isinstance(value, dict):
                value = value["features"] if "features" in value else value["data"]["features"]
            rows.append([float(v) for v in value])
        return rows
    return [[float(c) for c in cells] for cells in csv.reader(io.StringIO(text)) if cells]


def attributes(header: str | None) -> dict[str, str]:
    items = [item.partition("=") for item in (header or "").replace(",", ";").split(";")]
    return {key.strip(): value.strip() for key, _, value in items if key.strip()}


def make_handler(booster: xgboost.Booster, log_path: str | None, max_records: int | None):
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            if self.headers.get(CUSTOM):
                self.send_header(CUSTOM, self.headers[CUSTOM])
            self.end_headers()
            self.wfile.write(body)

        def _record(self, entry: dict) -> None:
            if log_path:
                with lock, open(log_path, "a", encoding="utf-8") as f:
                    f.write(json.dumps(entry) + "\n")

        def do_GET(self) -> None:
            if self.path == "/ping":
                self._send(200, b"", "text/plain")
            else:
                self._send(404, b"not found", "text/plain")

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path != "/invocations":
                self._send(404, b"not found", "text/plain")
                return
            content_type = self.headers.get("Content-Type", "text/csv")
            accept = self.headers.get("Accept") or "text/csv"
            knobs = attributes(self.headers.get(CUSTOM))
            entry = {
                "bytes": len(body),
                "content_type": content_type,
                "accept": self.headers.get("Accept"),
                "custom_attributes": self.headers.get(CUSTOM),
                "first_line": body.split(b"\n", 1)[0].decode(errors="replace")[:200],
            }
            try:
                rows = parse_features(body, content_type)
            except (ValueError, KeyError, TypeError) as exc:
                self._record({**entry, "records": None, "status": 400})
                self._send(400, f"unable to parse the payload: {exc}".encode(), "text/plain")
                return
            entry["records"] = len(rows)
            if "delay" in knobs:
                time.sleep(float(knobs["delay"]))
            if "fail" in knobs:
                self._record({**entry, "status": int(knobs["fail"])})
                self._send(int(knobs["fail"]), b"the model failed on purpose", "text/plain")
                return
            if max_records is not None and len(rows) > max_records:
                self._record({**entry, "status": 413})
                self._send(413, f"too many records: {len(rows)} > {max_records}".encode(), "text/plain")
                return
            scores = booster.predict(xgboost.DMatrix(np.asarray(rows, dtype=np.float64))).tolist()
            scores += [0.5] * int(knobs.get("rows", 0))
            jsonlines = accept.startswith("application/jsonlines")
            if knobs.get("classes") == "3":
                # A three-class view of the same model: the positive probability is the last class's.
                probs = [[(1 - p) / 2, (1 - p) / 2, p] for p in scores]
                if jsonlines:
                    lines = [json.dumps({"probabilities": q, "labels": ["cat", "dog", "fish"]}) for q in probs]
                else:
                    lines = ["\"['cat','dog','fish']\",\"" + json.dumps(q) + '"' for q in probs]
                out, out_type = "\n".join(lines) + "\n", "application/jsonlines" if jsonlines else "text/csv"
            elif jsonlines:
                lines = [json.dumps({"predicted_label": int(p > 0.5), "probability": p}) for p in scores]
                out, out_type = "\n".join(lines) + "\n", "application/jsonlines"
            elif knobs.get("csv") == "label":
                out, out_type = "".join(f"{int(p > 0.5)},{p!r}\n" for p in scores), "text/csv"
            else:
                out, out_type = "".join(f"{p!r}\n" for p in scores), "text/csv; charset=utf-8"
            self._record({**entry, "status": 200})
            self._send(200, out.encode(), out_type)

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--log")
    parser.add_argument("--max-records", type=int)
    args = parser.parse_args()
    booster = xgboost.Booster()
    booster.load_model(args.model)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(booster, args.log, args.max_records))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
