"""A model container following SageMaker's contract, for tests: ``GET /ping`` and ``POST /invocations``.

It serves a real XGBoost model (``--model model.json``): ``text/csv`` in, one probability per line out. It
echoes ``X-Amzn-SageMaker-Custom-Attributes`` back, and answers 400 with a message for bodies it cannot parse.

    python echo_container.py --port 8080 --model /path/to/model.json
"""

from __future__ import annotations

import argparse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import xgboost
from container_kit import ContainerHandler


def make_handler(booster: xgboost.Booster) -> type[BaseHTTPRequestHandler]:
    class Handler(ContainerHandler):
        echo_custom_attributes = True

        def do_GET(self) -> None:
            if self.path == "/ping":
                self._send(200, b"", "text/csv")
            else:
                self._send(404, b"not found", "text/plain")

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if self.path != "/invocations":
                self._send(404, b"not found", "text/plain")
                return
            try:
                rows = [[float(c) for c in line.split(",")] for line in body.decode().splitlines() if line.strip()]
                scores = booster.predict(xgboost.DMatrix(np.asarray(rows)))
            except Exception:
                self._send(400, b"unable to parse the CSV payload", "text/plain")
                return
            self._send(200, "".join(f"{float(s)!r}\n" for s in scores).encode(), "text/csv")

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model", required=True)
    args = parser.parse_args()
    booster = xgboost.Booster()
    booster.load_model(args.model)
    ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(booster)).serve_forever()


if __name__ == "__main__":
    main()
