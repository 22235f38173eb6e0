"""A model container with a chosen output layout, for the pre-check tests: ``GET /ping``, ``POST /invocations``.

The model is a fixed logistic (binary) or softmax (three classes: cat, dog, fish) function of the features, so
tests can compute every score themselves. Input: ``text/csv`` or ``application/jsonlines`` (a JSON array,
``{"features": [...]}`` or ``{"data": {"features": [...]}}`` per line).

``--layout`` picks the output (spec §6 table):

- ``probability``: CSV ``0.6`` per line;
- ``one-line``: CSV, a batch answers one line ``0.6,0.3`` with one value per record;
- ``label-probability``: CSV ``1,0.6``;
- ``multiclass``: CSV ``0.1,0.6,0.3``;
- ``autopilot``: CSV ``"['cat', 'dog', 'fish']","[0.1, 0.6, 0.3]"`` (string-encoded Python lists);
- ``autopilot-full``: CSV ``dog,0.6,"['cat', 'dog', 'fish']","[0.1, 0.6, 0.3]"``;
- ``jsonl-score``: ``{"score": 0.6}``;
- ``jsonl-label-probability``: ``{"predicted_label": 1, "probability": 0.6}``;
- ``jsonl-labels-probabilities``: ``{"predicted_labels": ["cat", "dog", "fish"], "probabilities": [...]}``;
- ``json``: one ``application/json`` document ``{"predictions": [{"score": 0.6}, ...]}`` per request.

Behaviour knobs: ``--no-batch`` (HTTP 400 for more than one record), ``--max-records N`` (HTTP 413 above N),
``--noise S`` (adds uniform noise of ±S to every score), ``--reverse-batches`` (answers a batch in reverse
order), ``--delay-ms`` per request and ``--row-delay-ms`` per record.

    python layout_container.py --port 8080 --layout autopilot
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import random
import socket
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# Run as a script the sibling module is top-level; the pre-check tests also import this file for its model.
if __package__:
    from .container_kit import ContainerHandler, numeric_records
else:
    from container_kit import ContainerHandler, numeric_records

LABELS = ["cat", "dog", "fish"]


def weights(width: int, k: int = 0) -> list[float]:
    return [((j + 1 + k) % 5 - 2) / 2.0 + 0.1 * k for j in range(width)]


def binary(x: list[float]) -> float:
    z = sum(w * v for w, v in zip(weights(len(x)), x, strict=True))
    return 1.0 / (1.0 + math.exp(-z))


def classes(x: list[float]) -> list[float]:
    z = [sum(w * v for w, v in zip(weights(len(x), k), x, strict=True)) for k in range(3)]
    top = max(z)
    e = [math.exp(v - top) for v in z]
    return [v / sum(e) for v in e]


def answer(layout: str, rows: list[list[float]], noise: float) -> tuple[str, str]:
    def jitter(p: float) -> float:
        return p + random.uniform(-noise, noise) if noise else p

    if layout in ("multiclass", "autopilot", "autopilot-full", "jsonl-labels-probabilities"):
        probs = [[jitter(q) for q in classes(x)] for x in rows]
        if layout == "multiclass":
            return "".join(",".join(repr(q) for q in p) + "\n" for p in probs), "text/csv"
        if layout == "jsonl-labels-probabilities":
            lines = [json.dumps({"predicted_labels": LABELS, "probabilities": p}) for p in probs]
            return "\n".join(lines) + "\n", "application/jsonlines"
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        for p in probs:
            cells = [str(LABELS), str(p)]
            if layout == "autopilot-full":
                best = max(range(3), key=p.__getitem__)
                cells = [LABELS[best], repr(p[best]), *cells]
            writer.writerow(cells)
        return out.getvalue(), "text/csv"
    scores = [jitter(binary(x)) for x in rows]
    if layout == "probability":
        return "".join(f"{p!r}\n" for p in scores), "text/csv"
    if layout == "one-line":
        return ",".join(repr(p) for p in scores) + "\n", "text/csv"
    if layout == "label-probability":
        return "".join(f"{int(p > 0.5)},{p!r}\n" for p in scores), "text/csv"
    if layout == "jsonl-score":
        return "".join(json.dumps({"score": p}) + "\n" for p in scores), "application/jsonlines"
    if layout == "jsonl-label-probability":
        lines = [json.dumps({"predicted_label": int(p > 0.5), "probability": p}) for p in scores]
        return "\n".join(lines) + "\n", "application/jsonlines"
    if layout == "json":
        return json.dumps({"predictions": [{"score": p} for p in scores]}), "application/json"
    raise ValueError(f"unknown layout {layout}")


def make_handler(args: argparse.Namespace) -> type[BaseHTTPRequestHandler]:
    class Handler(ContainerHandler):
        def setup(self) -> None:
            super().setup()
            # Headers and body go out in two writes; without this, Nagle's algorithm and delayed ACKs add ~40 ms.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self) -> None:
            self._send(200 if self.path == "/ping" else 404, b"", "text/plain")

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path != "/invocations":
                self._send(404, b"not found", "text/plain")
                return
            try:
                rows = numeric_records(body, self.headers.get("Content-Type", "text/csv"))
            except (ValueError, KeyError, TypeError) as exc:
                self._send(400, f"unable to parse the payload: {exc}".encode(), "text/plain")
                return
            time.sleep(args.delay_ms / 1000 + args.row_delay_ms * len(rows) / 1000)
            if args.no_batch and len(rows) > 1:
                self._send(400, b"expected exactly one record per request", "text/plain")
                return
            if args.max_records is not None and len(rows) > args.max_records:
                self._send(413, b"too many records", "text/plain")
                return
            if args.reverse_batches:
                rows = rows[::-1]  # a broken container: batch answers out of request order
            text, content_type = answer(args.layout, rows, args.noise)
            self._send(200, text.encode(), content_type)

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--layout", default="probability")
    parser.add_argument("--no-batch", action="store_true")
    parser.add_argument("--max-records", type=int)
    parser.add_argument("--noise", type=float, default=0.0)
    parser.add_argument("--reverse-batches", action="store_true")
    parser.add_argument("--delay-ms", type=float, default=0.0)
    parser.add_argument("--row-delay-ms", type=float, default=0.0)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
