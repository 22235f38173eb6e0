"""InvokeEndpoint with explanations, end to end through boto3, against the bare model on the same synthetic rows.

Setting (issue 5): XGBoost, M = 20 features, a 10-row baseline, Clarify's default budget (2M + 2^11 = 2088
coalitions, so 20 880 synthetic rows per explained record). Measured, side by side in one run:

1. bare ``Booster.predict`` on 20 880 synthetic rows (the model's own cost) vs. one InvokeEndpoint of one record
   with explanations on an in-process (``openclarify/xgboost``) endpoint: the ratio, target <= 1.5x;
2. the same invocation through a remote model container (tests/containers/model_container.py over HTTP), with the
   serialisation cost (synthetic CSV lines out, score parsing back) measured separately;
3. throughput with concurrent clients at InitialInstanceCount 1 and 2.

    .venv/bin/python bench/invoke_bench.py [--repeats 15] [--clients 4]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import xgboost
from threadpoolctl import threadpool_limits

from _blas import add_forced_option, blas_kernel, run_with_own_kernel
from _serving import client, free_port, wait_ping
from openclarify.clarify.config import InferenceConfig
from openclarify.clarify.outputs import scores_for_batch
from openclarify.clarify.records import batch_lines, synthetic_lines
from openclarify.kernelshap import clarify_n_samples, explain, plan_design
from openclarify.process import tune_allocator

ROOT = Path(__file__).resolve().parent.parent
M, BASELINE_ROWS = 20, 10
QUIET_SECONDS = 0.025


def deploy(sm, container: dict, explainer: dict, count: int, tag: str) -> str:
    sm.create_model(ModelName=f"m-{tag}", PrimaryContainer=container)
    sm.create_endpoint_config(
        EndpointConfigName=f"c-{tag}",
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": f"m-{tag}",
                "InstanceType": "ml.m5.large",
                "InitialInstanceCount": count,
            }
        ],
        ExplainerConfig={"ClarifyExplainerConfig": explainer},
    )
    sm.create_endpoint(EndpointName=f"e-{tag}", EndpointConfigName=f"c-{tag}")
    sm.get_waiter("endpoint_in_service").wait(EndpointName=f"e-{tag}", WaiterConfig={"Delay": 0.2, "MaxAttempts": 300})
    return f"e-{tag}"


def interleaved_ms(fns: dict, repeats: int) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """Median milliseconds of each function, measured in rounds of one call each, and the medians over rounds of
    each one's time over the first one's and less it, in the same round: the machine's speed drifts over seconds on a
    shared host, and a ratio within one round cancels most of it. The difference shows what the ratio hides when the
    first one's time drifts: work around it that does not scale with it."""
    for fn in fns.values():
        fn()  # warm-up
    times: dict[str, list[float]] = {name: [] for name in fns}
    order = list(fns)
    shuffle = np.random.default_rng(0)
    for _ in range(repeats):
        shuffle.shuffle(order)
        for name in order:
            # After a prediction XGBoost's OpenMP threads spin for about 10 ms (measured), in this process or in
            # the server, and would slow whichever call comes next on these 2 cores: every call starts once both
            # processes are quiet. The order changes every round, so no contender is always first after the pause.
            time.sleep(QUIET_SECONDS)
            fn = fns[name]
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    first = next(iter(fns))
    medians = {name: 1000 * statistics.median(values) for name, values in times.items()}
    ratios = {
        name: statistics.median(a / b for a, b in zip(values, times[first], strict=True))
        for name, values in times.items()
    }
    over = {
        name: 1000 * statistics.median(a - b for a, b in zip(values, times[first], strict=True))
        for name, values in times.items()
    }
    return medians, ratios, over


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def throughput(rt, name: str, body: str, clients: int, seconds: float) -> float:
    done = [0] * clients
    stop = time.monotonic() + seconds

    def work(k: int) -> None:
        while time.monotonic() < stop:
            rt.invoke_endpoint(EndpointName=name, Body=body, ContentType="text/csv")["Body"].read()
            done[k] += 1

    threads = [threading.Thread(target=work, args=(k,)) for k in range(clients)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(done) / (time.monotonic() - t0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=8.0)
    add_forced_option(parser)
    args = parser.parse_args()
    run_with_own_kernel(args.forced_blas)
    tune_allocator()  # as the server runs, for the engine measured in this process

    work = Path(tempfile.mkdtemp(prefix="invoke-bench-"))
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, M))
    y = (X[:, :5].sum(axis=1) + X[:, 5] * X[:, 6] + 0.5 * rng.normal(size=2000) > 0).astype(int)
    booster = xgboost.train({"objective": "binary:logistic", "max_depth": 6}, xgboost.DMatrix(X, label=y), 100)
    booster.save_model(str(work / "model.json"))
    baseline = rng.normal(size=(BASELINE_ROWS, M)).round(4)
    record = rng.normal(size=(1, M)).round(4)
    body = ",".join(repr(float(v)) for v in record[0])
    explainer = {
        "ShapConfig": {
            "ShapBaselineConfig": {"ShapBaseline": "\n".join(",".join(map(repr, r)) for r in baseline.tolist())},
            "Seed": 1,
        }
    }

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENCLARIFY_")}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "openclarify",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(work),
            "--model-root",
            str(work),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    cport = free_port()
    container = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "tests/containers/model_container.py"),
            "--port",
            str(cport),
            "--model",
            str(work / "model.json"),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url, curl = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{cport}"
    try:
        wait_ping(url, server)
        wait_ping(curl, container)
        sm = client("sagemaker", url, pool=32, read_timeout=120)
        rt = client("sagemaker-runtime", url, pool=32, read_timeout=120)
        builtin = {"Image": "openclarify/xgboost", "ModelDataUrl": str(work / "model.json")}
        e1 = deploy(sm, builtin, explainer, 1, "builtin1")
        e2 = deploy(sm, builtin, explainer, 2, "builtin2")
        er = deploy(sm, {"Image": curl}, explainer, 2, "remote")
        # Without a Seed every request needs a design of its own; the server plans them ahead between requests.
        unseeded = {"ShapConfig": {k: v for k, v in explainer["ShapConfig"].items() if k != "Seed"}}
        eu = deploy(sm, builtin, unseeded, 1, "unseeded")

        details = json.loads(
            rt.invoke_endpoint(
                EndpointName=e1, Body=body, ContentType="text/csv", CustomAttributes="openclarify-extended=true"
            )["Body"].read()
        )["openclarify"]["kernel_shap"][0]
        rows = details["model_rows"]

        # The very synthetic rows the explainer evaluates, recorded from the engine with the endpoint's Seed, which
        # fixes its coalition design. (Random half-dense masks would not do: trees traverse rows near x or near the
        # baseline faster.)
        fx = booster.predict(xgboost.DMatrix(record))
        base_out = booster.predict(xgboost.DMatrix(baseline))
        seen: list[np.ndarray] = []

        def recording(batch: np.ndarray) -> np.ndarray:
            seen.append(batch.copy())
            return booster.inplace_predict(batch)

        # As the server calls it: the XGBoost runtime takes single-precision rows (XGBoost keeps feature values in
        # single precision, so the scores are bitwise the same), and the bare predict gets those very rows.
        explain(
            recording, record[0], baseline, seed=1, fx=fx, baseline_outputs=base_out, errors=False, dtype=np.float32
        )
        synthetic = np.concatenate(seen)
        assert synthetic.shape[0] == rows and synthetic.dtype == np.float32
        synthetic_double = synthetic.astype(np.float64)
        masks = np.concatenate([s for _, s in plan_design(M, clarify_n_samples(M), seed=1).mask_chunks(1 << 20)])

        def invoke(name: str) -> None:
            rt.invoke_endpoint(EndpointName=name, Body=body, ContentType="text/csv")["Body"].read()

        engine_designs: dict = {}
        # Interleaved, one of each per round, so the three see the same load on this shared machine; BLAS held to
        # one thread in this process as the server holds it.
        with threadpool_limits(limits=1, user_api="blas"):
            timed, ratio, over = interleaved_ms(
                {
                    "bare": lambda: booster.inplace_predict(synthetic),
                    "bare64": lambda: booster.inplace_predict(synthetic_double),
                    "engine": lambda: explain(
                        booster.inplace_predict,
                        record[0],
                        baseline,
                        seed=1,
                        fx=fx,
                        baseline_outputs=base_out,
                        # As the server runs it: the endpoint's Seed fixes the design, planned once; a Clarify
                        # response carries no error bars.
                        designs=engine_designs,
                        errors=False,
                        dtype=np.float32,
                    ),
                    "local": lambda: invoke(e1),
                    "unseeded": lambda: invoke(eu),
                },
                args.repeats,
            )
        bare = timed["bare"]
        plain = median_ms(
            lambda: rt.invoke_endpoint(
                EndpointName=e1, Body=body, ContentType="text/csv", EnableExplanations="`false`"
            )["Body"].read(),
            args.repeats,
        )
        remote = median_ms(lambda: invoke(er), max(3, args.repeats // 3))

        # Serialisation cost of the remote path, measured on its own: synthetic CSV out, scores parsed back.
        cells = [repr(float(v)) for v in record[0]]
        base_rows = [[repr(float(v)) for v in row] for row in baseline]
        ser = median_ms(
            lambda: [b.body for b in batch_lines(synthetic_lines(cells, base_rows, masks, "text/csv"), None, 6)],
            args.repeats,
        )
        answer = "".join(f"{float(p)!r}\n" for p in booster.predict(xgboost.DMatrix(synthetic_double))).encode()
        parse = median_ms(lambda: scores_for_batch(answer, "text/csv", len(synthetic), InferenceConfig()), args.repeats)

        tp1 = throughput(rt, e1, body, args.clients, args.seconds)
        tp2 = throughput(rt, e2, body, args.clients, args.seconds)
        tpr = throughput(rt, er, body, args.clients, args.seconds)
    finally:
        server.terminate()
        container.terminate()
        server.wait(10)
        container.wait(10)

    cpu = platform.processor() or platform.machine()
    print(f"machine: {cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {blas_kernel()}")
    print(f"setting: XGBoost 100 trees depth 6, M={M}, baseline {BASELINE_ROWS} rows, default budget")
    print(f"synthetic rows per explained record (model_rows): {rows}; exact={details['exact']}")
    print(f"bare Booster.predict on {len(synthetic)} rows:        {bare:8.1f} ms   (float32, as the runtime gets them)")
    print(f"  the same rows in float64:                  {timed['bare64']:8.1f} ms   ratio {ratio['bare64']:.2f}x")
    for name, label in (
        ("engine", "kernelshap.explain alone, as the server runs it:"),
        ("local", "InvokeEndpoint, explanations on (in-process):  "),
        ("unseeded", "  the same endpoint without a Seed:            "),
    ):
        print(f"{label} {timed[name]:8.1f} ms   ratio {ratio[name]:.2f}x, {over[name]:+.2f} ms over the bare predict")
    print(f"InvokeEndpoint, EnableExplanations=`false`:     {plain:8.1f} ms   (HTTP + boto3 floor)")
    print(f"InvokeEndpoint, explanations on (remote HTTP):  {remote:8.1f} ms   ratio {remote / bare:.2f}x")
    print(f"  of which serialising {len(synthetic)} CSV lines:      {ser:8.1f} ms")
    print(f"  of which parsing {len(synthetic)} scores back:        {parse:8.1f} ms")
    print(f"throughput, {args.clients} clients, in-process, 1 instance: {tp1:6.2f} explained req/s")
    print(f"throughput, {args.clients} clients, in-process, 2 instances: {tp2:6.2f} explained req/s")
    print(f"throughput, {args.clients} clients, remote, 2 instances:     {tpr:6.2f} explained req/s")


if __name__ == "__main__":
    main()
