"""A model container that misbehaves on request, for the fault-injection tests and the load benchmark.

It follows SageMaker's contract (``GET /ping``, ``POST /invocations``) with a fixed logistic model of any number
of features (``p = sigmoid(sum_j w_j x_j)``, ``w_j = 1 / (j + 1)``), standard library only so it starts in a
blink. Input is ``text/csv`` or ``application/jsonlines`` (one JSON array per line); output is one probability
per line, CSV or ``{"score": p}`` JSON Lines following ``Accept``.

Faults, chosen per request by a CustomAttributes item ``fault=...`` (the server forwards CustomAttributes to every
container request it makes, baseline and synthetic batches included):

- ``fault=kill``: read the batch, then exit the whole process at once (``os._exit``), answering nothing;
- ``fault=hang``: read the batch and never answer (bounded: the handler gives up after 120 s);
- ``fault=500``: answer HTTP 500 with a short message;
- ``fault=garbage``: answer 200 with bytes that are no scores at all;
- ``fault=fewrows``: answer 200 with one row fewer than records received;
- ``fault=slow``: answer correctly after ``seconds=S`` (default 10) seconds;
- ``fault=bigint``: answer 200 with an integer of ``digits=N`` (default 400) digits for every score, past any float;
- ``fault=deep``: answer 200 with every output nested ``depth=N`` (default 5000) lists deep (a CSV cell or a JSON
  Lines line);
- ``fault=drip``: answer 200 promising a megabyte, then send one byte every ``interval=S`` (default 0.2) seconds,
  for at most 120 s;
- ``fault=huge``: answer 200 with ``mb=N`` (default 70) MiB of score lines, streamed a MiB at a time.

``--fault MODE`` (``hang``, ``500``, ``fewrows`` or ``garbage``) applies a fault to every request (``/ping``
included for ``hang``/``500``), as a container that is broken from the start.

    python fault_container.py --port 8080
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from http.server import ThreadingHTTPServer

from container_kit import CUSTOM, ContainerHandler, custom_attributes

HANG_LIMIT_SECONDS = 120.0


def rows_of(body: bytes, content_type: str) -> list[list[float]]:
    lines = [line for line in body.decode().split("\n") if line.strip()]
    if content_type.startswith("application/jsonlines"):
        return [[float(v) for v in json.loads(line)] for line in lines]
    return [[float(c) for c in line.split(",")] for line in lines]


def score(row: list[float]) -> float:
    z = sum(x / (j + 1) for j, x in enumerate(row))
    return 1.0 / (1.0 + math.exp(-max(-50.0, min(50.0, z))))


def make_handler(default_fault: str | None):
    class Handler(ContainerHandler):
        def do_GET(self) -> None:
            if self.path != "/ping":
                self._send(404, b"not found")
            elif default_fault == "hang":
                time.sleep(HANG_LIMIT_SECONDS)
            elif default_fault == "500":
                self._send(500, b"unhealthy on purpose")
            else:
                self._send(200, b"")

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path != "/invocations":
                self._send(404, b"not found")
                return
            asked = custom_attributes(self.headers.get(CUSTOM))
            fault = asked.get("fault", default_fault)
            if fault == "kill":
                os._exit(3)
            if fault == "hang":
                time.sleep(HANG_LIMIT_SECONDS)
                return
            if fault == "500":
                self._send(500, b"the model failed on purpose")
                return
            if fault == "garbage":
                self._send(200, b"\x00\xff<html>not scores</html>\x9c", "text/csv")
                return
            if fault == "slow":
                time.sleep(float(asked.get("seconds", "10")))
            if fault == "drip":
                self._drip(float(asked.get("interval", "0.2")))
                return
            if fault == "huge":
                self._huge(int(asked.get("mb", "70")))
                return
            content_type = self.headers.get("Content-Type", "text/csv")
            try:
                rows = rows_of(body, content_type)
            except (ValueError, TypeError, UnicodeDecodeError) as exc:
                self._send(400, f"unable to parse the payload: {exc}".encode())
                return
            scores = [score(r) for r in rows]
            if fault == "fewrows":
                scores = scores[:-1]
            jsonlines = (self.headers.get("Accept") or "").startswith("application/jsonlines")
            if fault == "bigint":
                number = "1" + "0" * (int(asked.get("digits", "400")) - 1)
                lines = [f'{{"score": {number}}}' if jsonlines else number for _ in scores]
            elif fault == "deep":
                depth = int(asked.get("depth", "5000"))
                lines = ["[" * depth + "]" * depth for _ in scores]
            elif jsonlines:
                lines = [json.dumps({"score": p}) for p in scores]
            else:
                lines = [repr(p) for p in scores]
            out = "".join(line + "\n" for line in lines)
            self._send(200, out.encode(), "application/jsonlines" if jsonlines else "text/csv")

        def _drip(self, interval: float) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", str(1024 * 1024))
            self.end_headers()
            started = time.monotonic()
            try:
                while time.monotonic() - started < HANG_LIMIT_SECONDS:
                    self.wfile.write(b"1")
                    self.wfile.flush()
                    time.sleep(interval)
            except OSError:  # the server closed the connection: what it should do
                pass
            self.close_connection = True

        def _huge(self, mebibytes: int) -> None:
            line = b"0.5\n" * (1024 * 1024 // 4)
            self.send_response(200)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", str(len(line) * mebibytes))
            self.end_headers()
            try:
                for _ in range(mebibytes):
                    self.wfile.write(line)
            except OSError:
                pass
            self.close_connection = True

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--fault", choices=["hang", "500", "fewrows", "garbage"])
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args.fault))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
