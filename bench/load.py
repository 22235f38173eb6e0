"""Load: real boto3 clients against ``openclarify serve`` on loopback, with explained and plain invocations across
an in-process endpoint and one behind a remote model container (tests/containers/fault_container.py, no faults).

Reports throughput, p50/p99 latency, errors by code, and the server's resident memory (VmRSS from /proc) at the
half-way point and at the end (minute 1 and minute 2 of the default run). Passes when there are 0 errors and
RSS grew by at most 10 % between the two. Every loop is bounded by ``--duration``; traffic goes to 127.0.0.1 only.

    .venv/bin/python bench/load.py [--clients 32] [--duration 120] [--json results.json]

Exit status 0 on pass, 1 on fail.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import numpy as np
from botocore.exceptions import BotoCoreError, ClientError

from _serving import client, free_port, wait_ping

ROOT = Path(__file__).resolve().parent.parent
CONTAINER = ROOT / "tests" / "containers" / "fault_container.py"
N_FEATURES = 5
BASELINE = "0.1,-0.2,0.3,0.0,0.5\n-0.4,0.6,-0.1,0.2,-0.3"


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def train(folder: Path) -> Path:
    import xgboost

    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, N_FEATURES))
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)
    booster = xgboost.train({"objective": "binary:logistic", "max_depth": 3}, xgboost.DMatrix(X, label=y), 30)
    path = folder / "model.json"
    booster.save_model(str(path))
    return path


def deploy(sm, name: str, container: dict, count: int) -> None:
    sm.create_model(ModelName=name, PrimaryContainer=container)
    explainer = {
        "EnableExplanations": "`true`",
        "ShapConfig": {"ShapBaselineConfig": {"ShapBaseline": BASELINE}, "NumberOfSamples": 64, "Seed": 1},
    }
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": name,
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": count,
            }
        ],
        ExplainerConfig={"ClarifyExplainerConfig": explainer},
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})


def run(clients: int, duration: float, instances: int = 2) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = train(folder)
        container_port, server_port = free_port(), free_port()
        container = subprocess.Popen(
            [sys.executable, str(CONTAINER), "--port", str(container_port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        serve = ["serve", "--port", str(server_port), "--data-dir", str(folder / "data"), "--model-root", str(folder)]
        server = subprocess.Popen(
            [sys.executable, "-m", "openclarify", *serve],
            stdout=subprocess.DEVNULL,
            stderr=(folder / "server.log").open("wb"),
        )
        url = f"http://127.0.0.1:{server_port}"
        try:
            wait_ping(f"http://127.0.0.1:{container_port}", container)
            wait_ping(url, server)
            sm = client("sagemaker", url, pool=4, read_timeout=70)
            deploy(sm, "in-process", {"Image": "openclarify/xgboost", "ModelDataUrl": str(model)}, instances)
            deploy(sm, "remote", {"Image": f"http://127.0.0.1:{container_port}"}, instances)
            result = drive(url, server.pid, clients, duration)
            result["server_log_errors"] = [
                line for line in (folder / "server.log").read_text(errors="replace").splitlines() if "ERROR" in line
            ][:20]
            return result
        finally:
            for process in (server, container):
                process.terminate()
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()


def drive(url: str, pid: int, clients: int, duration: float) -> dict:
    latencies: dict[str, list[float]] = {}
    errors: Counter[str] = Counter()
    lock = threading.Lock()
    start = time.monotonic()
    end = start + duration
    rss: dict[str, int] = {}

    def sampler() -> None:
        time.sleep(duration / 2)
        rss["half"] = rss_kib(pid)
        time.sleep(max(0.0, end - time.monotonic() - 0.5))
        rss["end"] = rss_kib(pid)

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        runtime = client("sagemaker-runtime", url, pool=4, read_timeout=70)
        while time.monotonic() < end:
            endpoint = rng.choice(["in-process", "remote"])
            explained = rng.random() < 0.5
            n = rng.randint(1, 4)
            body = "\n".join(",".join(f"{rng.gauss(0, 1):.4f}" for _ in range(N_FEATURES)) for _ in range(n))
            kind = f"{endpoint}/{'explained' if explained else 'plain'}"
            t0 = time.perf_counter()
            try:
                answer = runtime.invoke_endpoint(
                    EndpointName=endpoint,
                    Body=body,
                    ContentType="text/csv",
                    EnableExplanations="`true`" if explained else "`false`",
                )
                payload = json.loads(answer["Body"].read())
                if explained and len(payload["explanations"]["kernel_shap"]) != n:
                    raise ValueError("wrong number of explanations")
                code = None
            except ClientError as exc:
                code = exc.response["Error"]["Code"]
            except (BotoCoreError, ValueError, KeyError) as exc:
                code = type(exc).__name__
            elapsed = time.perf_counter() - t0
            with lock:
                if code is None:
                    latencies.setdefault(kind, []).append(elapsed)
                else:
                    errors[code] += 1

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(clients)]
    probe = threading.Thread(target=sampler, daemon=True)
    probe.start()
    for t in threads:
        t.start()
    for t in threads:
        t.join(duration + 120)
    probe.join(10)
    wall = time.monotonic() - start
    everything = [x for values in latencies.values() for x in values]

    def summary(values: list[float]) -> dict:
        return {
            "count": len(values),
            "p50_ms": round(1000 * float(np.percentile(values, 50)), 1) if values else None,
            "p99_ms": round(1000 * float(np.percentile(values, 99)), 1) if values else None,
        }

    growth = (rss["end"] - rss["half"]) / rss["half"] if "half" in rss and "end" in rss else None
    return {
        "clients": clients,
        "duration_s": duration,
        "wall_s": round(wall, 1),
        "requests": len(everything) + sum(errors.values()),
        "throughput_rps": round(len(everything) / wall, 1),
        "latency": summary(everything),
        "by_kind": {k: summary(v) for k, v in sorted(latencies.items())},
        "errors": dict(errors),
        "rss_kib": rss,
        "rss_growth": None if growth is None else round(growth, 4),
        "passed": not errors and growth is not None and growth <= 0.10,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--duration", type=float, default=120.0, help="seconds (default: 120)")
    parser.add_argument("--instances", type=int, default=2, help="InitialInstanceCount of each endpoint")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    result = run(args.clients, args.duration, args.instances)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    sys.exit(0 if result["passed"] else 1)


if __name__ == "__main__":
    main()
