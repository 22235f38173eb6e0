"""Figures for docs/scaling.md, measured side by side in one run on this machine: ``serve --ray`` on a local
loopback Ray head with PostgreSQL, at 1 and 2 replicas of the same model.

- throughput: invocations per second (predictions only) from 8 concurrent boto3 clients for a fixed time;
- one large explanation: B = 50 baseline rows, a random forest slow enough that the synthetic batches dominate.

Run: ``.venv/bin/python bench/scaling_bench.py`` (starts and stops its own Ray head and PostgreSQL server);
``--help`` lists the options.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.conftest import LiveServer, free_port
from tests.pgserver import PostgresServer

M, SECONDS, CLIENTS, BASELINE_ROWS = 8, 10.0, 8, 50
RECORD = b"0.5,-1.2,0.3,0.8,-0.4,1.1,0.0,-0.7"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="serve --ray on a local Ray head with PostgreSQL, at 1 and 2 replicas of one random forest: "
        "prediction throughput and the time of one large explanation (docs/scaling.md). Starts and stops its own "
        "Ray head and PostgreSQL server.",
    )
    parser.add_argument(
        "--seconds", type=float, default=SECONDS, help=f"how long each throughput run lasts (default: {SECONDS:g})"
    )
    parser.add_argument(
        "--clients", type=int, default=CLIENTS, help=f"concurrent boto3 clients for throughput (default: {CLIENTS})"
    )
    parser.add_argument(
        "--baseline-rows",
        type=int,
        default=BASELINE_ROWS,
        help=f"baseline rows B of the explained endpoint (default: {BASELINE_ROWS})",
    )
    args = parser.parse_args(argv)
    if args.seconds <= 0 or args.clients < 1 or args.baseline_rows < 1:
        parser.error("--seconds must be positive, --clients and --baseline-rows at least 1")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    import skops.io
    from sklearn.ensemble import RandomForestClassifier

    work = Path(os.environ.get("TMPDIR", "/tmp")) / f"openclarify-scaling-{os.getpid()}"
    (work / "models").mkdir(parents=True)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, M))
    y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)
    model = work / "models" / "model.skops"
    skops.io.dump(RandomForestClassifier(n_estimators=300, random_state=0).fit(X, y), model)
    baseline = "\n".join(",".join(f"{v:.3f}" for v in r) for r in rng.normal(size=(args.baseline_rows, M)))

    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
    ray = str(Path(sys.executable).parent / "ray")
    port = free_port()
    head = [ray, "start", "--head", "--node-ip-address=127.0.0.1", f"--port={port}", "--num-cpus=2"]
    head += ["--include-dashboard=false", "--object-store-memory=200000000", "--disable-usage-stats"]
    subprocess.run(head, check=True, env=env, capture_output=True, timeout=120)
    pg = PostgresServer(free_port()).start()
    args = ["--ray", "--ray-address", f"127.0.0.1:{port}", "--database-url", pg.create_database()]
    server = LiveServer(
        work / "server", [work / "models"], env={"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}, extra_args=args
    )
    try:
        server.start(timeout=120)
        sm, rt = server.client("sagemaker"), server.client("sagemaker-runtime")
        sm.create_model(ModelName="rf", PrimaryContainer={"Image": "openclarify/sklearn", "ModelDataUrl": str(model)})
        explainer = {
            "ClarifyExplainerConfig": {"ShapConfig": {"ShapBaselineConfig": {"ShapBaseline": baseline}, "Seed": 1}}
        }
        for n in (1, 2):
            sm.create_endpoint_config(
                EndpointConfigName=f"rf-{n}",
                ProductionVariants=[
                    {"VariantName": "A", "ModelName": "rf", "InstanceType": "ml.m5.large", "InitialInstanceCount": n}
                ],
                ExplainerConfig=explainer,
            )
        wait = {"Delay": 0.5, "MaxAttempts": 240}
        sm.create_endpoint(EndpointName="rf", EndpointConfigName="rf-1")
        sm.get_waiter("endpoint_in_service").wait(EndpointName="rf", WaiterConfig=wait)
        rows = []
        for n in (1, 2):
            if n == 2:
                sm.update_endpoint(EndpointName="rf", EndpointConfigName="rf-2")
                sm.get_waiter("endpoint_in_service").wait(EndpointName="rf", WaiterConfig=wait)
            rps = throughput(server, args.clients, args.seconds)
            rt.invoke_endpoint(EndpointName="rf", Body=RECORD, ContentType="text/csv")  # warm
            times = []
            for _ in range(3):
                t0 = time.perf_counter()
                rt.invoke_endpoint(EndpointName="rf", Body=RECORD, ContentType="text/csv")
                times.append(time.perf_counter() - t0)
            rows.append((n, rps, min(times)))
        print(f"| replicas | predictions/s ({args.clients} clients) | one explanation, B = {args.baseline_rows} (s) |")
        print("|---|---|---|")
        for n, rps, t in rows:
            print(f"| {n} | {rps:.0f} | {t:.2f} |")
        print(f"speed-up of the explanation 1 -> 2 replicas: {rows[0][2] / rows[1][2]:.2f}x")
    finally:
        server.stop()
        pg.stop()
        subprocess.run([ray, "stop", "--force"], env=env, capture_output=True, timeout=120)


def throughput(server: LiveServer, clients: int = CLIENTS, seconds: float = SECONDS) -> float:
    done = [0] * clients
    stop = time.monotonic() + seconds

    def client(i: int) -> None:
        rt = server.client("sagemaker-runtime")
        while time.monotonic() < stop:
            rt.invoke_endpoint(EndpointName="rf", Body=RECORD, ContentType="text/csv", EnableExplanations="`false`")
            done[i] += 1

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / seconds


if __name__ == "__main__":
    main()
