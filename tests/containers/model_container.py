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
import json
import threading
import time
from http.server import ThreadingHTTPServer

import numpy as np
import xgboost
from container_kit import CUSTOM, ContainerHandler, custom_attributes, numeric_records


def make_handler(booster: xgboost.Booster, log_path: str | None, max_records: int | None):
    lock = threading.Lock()

    class Handler(ContainerHandler):
        echo_custom_attributes = True

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
            knobs = custom_attributes(self.headers.get(CUSTOM))
            entry = {
                "bytes": len(body),
                "content_type": content_type,
                "accept": self.headers.get("Accept"),
                "custom_attributes": self.headers.get(CUSTOM),
                "first_line": body.split(b"\n", 1)[0].decode(errors="replace")[:200],
            }
            try:
                rows = numeric_records(body, content_type)
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
