"""A model container with the faults the pre-check must name for what they are, run as a real process.

The score is the logistic of the sum of the features (CSV in, one score per line out), except:

- ``--nan always``: every score is ``nan``;
- ``--nan batched``: the last record of a request of two or more scores ``nan`` (single records are fine);
- ``--ping-delay-ms N``: ``GET /ping`` answers 200 after N ms;
- ``--delay-ms N``: every ``POST /invocations`` answers after N ms.

    python odd_container.py --port 8080 --nan batched
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def score(row: list[float]) -> float:
    return 1.0 / (1.0 + math.exp(-sum(row)))


def make_handler(args: argparse.Namespace) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def _send(self, status: int, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            time.sleep(args.ping_delay_ms / 1000)
            self._send(200 if self.path == "/ping" else 404, b"")

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
            rows = [[float(c) for c in cells] for cells in csv.reader(io.StringIO(body)) if cells]
            time.sleep(args.delay_ms / 1000)
            scores = [score(row) for row in rows]
            if args.nan == "always" or (args.nan == "batched" and len(rows) > 1):
                scores[-1] = math.nan
            self._send(200, "".join(f"{s!r}\n" for s in scores).encode())

    return Handler


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--nan", choices=("never", "always", "batched"), default="never")
    parser.add_argument("--ping-delay-ms", type=float, default=0.0)
    parser.add_argument("--delay-ms", type=float, default=0.0)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
