"""Designs planned ahead for endpoints without a Seed: used once each, and reproducible from the seed reported."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
from prometheus_client.parser import text_string_to_metric_families
from tests.invoke.conftest import csv_body, deploy, shap_config

from openclarify.kernelshap import plan_design
from openclarify.services.design_pool import DesignPool

KEY = (12, 200, "sqrt", 2)  # players, budget, allocation, baseline groups


def wait_until_ready(pool: DesignPool, key: tuple, count: int) -> None:
    deadline = time.monotonic() + 10
    while pool.ready(key) < count:
        assert time.monotonic() < deadline, "the pool did not refill"
        time.sleep(0.005)


def test_a_design_taken_is_exactly_the_one_its_seed_plans_and_the_pool_refills():
    with ThreadPoolExecutor(max_workers=1) as planner:
        pool = DesignPool(planner, depth=2)
        assert pool.take(KEY) is None  # nothing planned yet: the caller plans its own
        pool.refill()  # once the request is answered
        wait_until_ready(pool, KEY, 2)
        seed, design = pool.take(KEY)
        again = plan_design(12, 200, seed, "sqrt", 2)
        assert design.masks.tobytes() == again.masks.tobytes()
        assert design.pair_weights.tobytes() == again.pair_weights.tobytes()
        assert pool.ready(KEY) == 1
        pool.refill()
        wait_until_ready(pool, KEY, 2)


def test_no_design_is_handed_out_twice_under_concurrent_requests():
    with ThreadPoolExecutor(max_workers=1) as planner:
        pool = DesignPool(planner, depth=4)
        taken: list[int] = []
        lock = threading.Lock()

        def requests() -> None:
            for _ in range(40):
                picked = pool.take(KEY)
                pool.refill()
                if picked is not None:
                    with lock:
                        taken.append(picked[0])
                time.sleep(0.001)

        threads = [threading.Thread(target=requests) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(taken) > 10
        assert len(set(taken)) == len(taken)


def test_a_stopped_planner_leaves_requests_to_plan_their_own():
    planner = ThreadPoolExecutor(max_workers=1)
    planner.shutdown()
    pool = DesignPool(planner)
    assert pool.take(KEY) is None
    pool.refill()
    assert pool.take(KEY) is None


def designs_counted(url: str, endpoint: str) -> dict[str, float]:
    text = httpx.get(url + "/metrics").text
    return {
        sample.labels["source"]: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "openclarify_coalition_designs_total" and sample.labels.get("endpoint") == endpoint
    }


def test_the_seed_an_unseeded_endpoint_reports_reproduces_its_attributions(
    server, sagemaker, sagemaker_runtime, trained, records, baseline
):
    container = {"Image": "openclarify/xgboost", "ModelDataUrl": str(trained["openclarify/xgboost"].path)}
    # 20 of the 30 coalitions over 5 features: sampled, so every request needs a design of its own.
    unseeded = deploy(sagemaker, container, shap_config(baseline, NumberOfSamples=20))

    def explain(endpoint: str) -> tuple[list[float], int]:
        body = json.loads(
            sagemaker_runtime.invoke_endpoint(
                EndpointName=endpoint,
                Body=csv_body(records[:1]),
                ContentType="text/csv",
                CustomAttributes="openclarify-extended=true",
            )["Body"].read()
        )
        phi = [feature["attributions"][0]["attribution"][0] for feature in body["explanations"]["kernel_shap"][0]]
        return phi, body["openclarify"]["kernel_shap"][0]["seed"]

    seen = []
    for _ in range(4):  # the first plans its own; the pool refills between requests, so later ones take from it
        seen.append(explain(unseeded))
        time.sleep(0.2)
    seeds = [seed for _, seed in seen]
    assert len(set(seeds)) == len(seeds)  # every request its own design
    # The pool is refilled once each answer is out: after the first request, the others took designs planned ahead.
    assert designs_counted(server.url, unseeded) == {"ahead": 3.0, "request": 1.0}
    for phi, seed in (seen[0], seen[-1]):
        seeded = deploy(sagemaker, container, shap_config(baseline, NumberOfSamples=20, Seed=seed))
        again, reported = explain(seeded)
        assert reported == seed
        np.testing.assert_array_equal(again, phi)
