"""The event loop's responsiveness while explanations run: ``/ping`` latency under load, with the serving process's
switch interval (``openclarify.process.SWITCH_INTERVAL``, 1 ms) against CPython's 5 ms, side by side in one run.

Per round, one server of each kind in turn (``openclarify serve`` on loopback, an in-process scikit-learn endpoint):
``--clients`` boto3 clients explain one record after another for ``--duration`` seconds while a separate process
(so that the clients' own GIL does not delay it) asks ``/ping`` every 20 ms. Workloads: ``text``, a 50-token review
split into tokens (a TfidfVectorizer + LogisticRegression pipeline, Clarify's default budget), whose explanations are
mostly pure Python; ``tabular``, one row of 20 features against a one-row baseline (a GradientBoostingRegressor),
mostly numpy. Reports /ping's median, 90th and 99th percentiles and maximum, and explanations per second.

    .venv/bin/python bench/loop_bench.py [--workload text|tabular] [--clients 4] [--duration 20] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from _serving import client, free_port, wait_ping
from text_bench import REVIEW, TRAIN

# Starts `openclarify serve` with CPython's own switch interval in place of the serving one.
CPYTHON_INTERVAL = (
    "import sys, openclarify.process as p; p.SWITCH_INTERVAL = 0.005; "
    "from openclarify.cli import main; sys.exit(main())"
)
PINGER = """
import json, sys, time, httpx
url, seconds = sys.argv[1], float(sys.argv[2])
took, stop = [], time.monotonic() + seconds
with httpx.Client() as h:
    while time.monotonic() < stop:
        start = time.monotonic()
        h.get(url + "/ping")
        took.append(time.monotonic() - start)
        time.sleep(0.02)
print(json.dumps(took))
"""
# After an endpoint is deployed the server collects and freezes its heap once (openclarify.process.HeapSettler, about
# 0.1-0.2 s of the loop one second later): the load starts after it.
SETTLE_SECONDS = 2.5


def models(work: Path) -> tuple[Path, Path, np.ndarray]:
    import skops.io
    from sklearn.datasets import load_breast_cancer
    from sklearn.ensemble import GradientBoostingRegressor
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    words = make_pipeline(TfidfVectorizer(), LogisticRegression())
    words.fit([t for t, _ in TRAIN], [y for _, y in TRAIN])
    skops.io.dump(words, work / "words.skops")
    x, y = load_breast_cancer(return_X_y=True)
    x = x[:, :20]
    gbm = GradientBoostingRegressor(n_estimators=100, max_depth=3, random_state=0).fit(x, y)
    skops.io.dump(gbm, work / "gbm.skops")
    return work / "words.skops", work / "gbm.skops", x


def deploy(sagemaker, workload: str, paths: tuple[Path, Path], x: np.ndarray) -> tuple[str, str]:
    """Deploys the workload's endpoint; answers its name and the body of one request."""
    if workload == "text":
        model, body = paths[0], '"' + REVIEW.replace('"', '""') + '"'
        explainer = {
            "InferenceConfig": {"FeatureTypes": ["text"]},
            "ShapConfig": {
                "ShapBaselineConfig": {"ShapBaseline": "<UNK>"},
                "TextConfig": {"Language": "en", "Granularity": "token"},
            },
        }
    else:
        model, body = paths[1], ",".join(repr(float(v)) for v in x[1])
        explainer = {"ShapConfig": {"ShapBaselineConfig": {"ShapBaseline": ",".join(repr(float(v)) for v in x[0])}}}
    sagemaker.create_model(ModelName="m", PrimaryContainer={"Image": "openclarify/sklearn", "ModelDataUrl": str(model)})
    sagemaker.create_endpoint_config(
        EndpointConfigName="c",
        ProductionVariants=[
            {"VariantName": "AllTraffic", "ModelName": "m", "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
        ],
        ExplainerConfig={"ClarifyExplainerConfig": explainer},
    )
    sagemaker.create_endpoint(EndpointName="e", EndpointConfigName="c")
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName="e", WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})
    return "e", body


def run(kind: str, args, paths: tuple[Path, Path], x: np.ndarray) -> dict:
    work = Path(tempfile.mkdtemp(prefix="loop-bench-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    head = [sys.executable, "-c", CPYTHON_INTERVAL] if kind == "cpython" else [sys.executable, "-m", "openclarify"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCLARIFY_")}
    command = [*head, "serve", "--port", str(port), "--data-dir", str(work), "--model-root", str(paths[0].parent)]
    server = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_ping(url, server)
        endpoint, body = deploy(client("sagemaker", url, pool=4, read_timeout=60), args.workload, paths, x)
        runtime = client("sagemaker-runtime", url, pool=args.clients, read_timeout=60)
        runtime.invoke_endpoint(EndpointName=endpoint, Body=body, ContentType="text/csv")
        time.sleep(SETTLE_SECONDS)
        pinger = subprocess.Popen(
            [sys.executable, "-c", PINGER, url, str(args.duration - 0.5)], stdout=subprocess.PIPE, text=True
        )
        stop = time.monotonic() + args.duration
        done = [0] * args.clients

        def explain(i: int) -> None:
            while time.monotonic() < stop:
                runtime.invoke_endpoint(EndpointName=endpoint, Body=body, ContentType="text/csv")
                done[i] += 1

        threads = [threading.Thread(target=explain, args=(i,)) for i in range(args.clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        pings = np.array(json.loads(pinger.communicate()[0])) * 1e3
    finally:
        server.terminate()
        server.wait(30)
    return {
        "p50": float(np.median(pings)),
        "p90": float(np.percentile(pings, 90)),
        "p99": float(np.percentile(pings, 99)),
        "max": float(pings.max()),
        "pings": len(pings),
        "per_second": sum(done) / args.duration,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=("text", "tabular"), default="text")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--duration", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    paths_and_x = models(Path(tempfile.mkdtemp(prefix="loop-bench-models-")))
    paths, x = paths_and_x[:2], paths_and_x[2]
    print(
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}. Workload "
        f"{args.workload}, {args.clients} clients explaining for {args.duration:.0f} s, /ping every 20 ms from another "
        "process; ms.\n"
    )
    print("| switch interval | round | /ping p50 | p90 | p99 | max | pings | explanations/s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in range(args.rounds):
        # Each round in the other order, so that neither kind always runs first.
        for kind in ("serving", "cpython") if r % 2 == 0 else ("cpython", "serving"):
            got = run(kind, args, paths, x)
            label = "1 ms (openclarify serve)" if kind == "serving" else "5 ms (CPython's)"
            print(
                f"| {label} | {r + 1} | {got['p50']:.1f} | {got['p90']:.1f} | {got['p99']:.1f} | {got['max']:.1f} "
                f"| {got['pings']} | {got['per_second']:.1f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
