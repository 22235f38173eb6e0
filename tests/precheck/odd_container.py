"""A model container with the faults the pre-check must name for what they are, run as a real process.

The score is the logistic of the sum of the features (CSV in, one score per line out), except:

- ``--nan always``: every score is ``nan``;
- ``--nan batched``: the last record of a request of two or more scores ``nan`` (single records are fine);
- ``--ping-delay-ms N``: ``GET /ping`` answers 200 after N ms;
- ``--ping-body endless``: ``GET /ping`` answers 200 with a body declared as 1500 MiB, sent 64 KiB every 10 ms
  until the client hangs up (so a client that reads it holds more and more, and one that does not is let go);
- ``--delay-ms N``: every ``POST /invocations`` answers after N ms.

``GET /stats`` answers JSON: ``largest_request`` (the largest ``POST /invocations`` body, in bytes) and
``ping_bytes`` (the /ping body bytes sent), both since the previous ``GET /stats``, and ``ping_streams`` (the /ping
bodies being sent right now).

    python odd_container.py --port 8080 --nan batched
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ENDLESS_PING_BYTES = 1500 * 1024 * 1024


def score(row: list[float]) -> float:
    return 1.0 / (1.0 + math.exp(-sum(row)))


def make_handler(args: argparse.Namespace) -> type[BaseHTTPRequestHandler]:
    lock = threading.Lock()
    stats = {"largest_request": 0, "ping_bytes": 0, "ping_streams": 0}

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

        def _send(self, status: int, body: bytes, content_type: str = "text/csv") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path == "/stats":
                with lock:
                    answer = json.dumps(stats).encode()
                    stats["largest_request"] = stats["ping_bytes"] = 0
                self._send(200, answer, "application/json")
                return
            time.sleep(args.ping_delay_ms / 1000)
            if self.path == "/ping" and args.ping_body == "endless":
                self._endless_ping()
                return
            self._send(200 if self.path == "/ping" else 404, b"")

        def _endless_ping(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(ENDLESS_PING_BYTES))
            self.end_headers()
            chunk = b"x" * 65536
            with lock:
                stats["ping_streams"] += 1
            try:
                for _ in range(ENDLESS_PING_BYTES // len(chunk)):
                    self.wfile.write(chunk)
                    with lock:
                        stats["ping_bytes"] += len(chunk)
                    time.sleep(0.01)
            except OSError:  # the client hung up
                self.close_connection = True
            finally:
                with lock:
                    stats["ping_streams"] -= 1

        def do_POST(self) -> None:
            size = int(self.headers.get("Content-Length", 0))
            with lock:
                stats["largest_request"] = max(stats["largest_request"], size)
            body = self.rfile.read(size).decode()
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
    parser.add_argument("--ping-body", choices=("empty", "endless"), default="empty")
    parser.add_argument("--delay-ms", type=float, default=0.0)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
