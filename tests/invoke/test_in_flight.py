"""An UpdateEndpoint or a DeleteEndpoint lets the invocations already running on the old deployment answer.

The old deployment used to be closed the moment the new one took the endpoint's name, under the requests still
on it (Ray mode failed them with 500; tests/distributed covers it under load). The clients here do not retry.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from tests.control.helpers import FAST_WAIT
from tests.invoke.conftest import csv_body, deploy, shap_config, unique

SLOW = "delay=1.5"  # the test container sleeps this long before each answer


def invoke_in_background(runtime: Any, name: str, body: str, outcome: list[Any]) -> threading.Thread:
    def run() -> None:
        try:
            response = runtime.invoke_endpoint(
                EndpointName=name, Body=body, ContentType="text/csv", CustomAttributes=SLOW
            )
            outcome.append(json.loads(response["Body"].read()))
        except Exception as exc:  # the test reports whatever it was
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def wait_until_the_container_has_the_request(container: Any) -> None:
    for _ in range(100):
        if container.batches():
            return
        threading.Event().wait(0.02)
    raise AssertionError("the slow invocation never reached the container")


def test_an_update_lets_the_invocations_on_the_old_deployment_answer(
    sagemaker, sagemaker_runtime, container, baseline, records
):
    name = deploy(sagemaker, {"Image": container.url}, shap_config(baseline, Seed=1))
    config = sagemaker.describe_endpoint(EndpointName=name)["EndpointConfigName"]
    described = sagemaker.describe_endpoint_config(EndpointConfigName=config)
    second = unique("inv-config")
    sagemaker.create_endpoint_config(
        EndpointConfigName=second,
        ProductionVariants=described["ProductionVariants"],
        ExplainerConfig=described["ExplainerConfig"],
    )
    outcome: list[Any] = []
    container.mark()
    thread = invoke_in_background(sagemaker_runtime, name, csv_body(records[:1]), outcome)
    wait_until_the_container_has_the_request(container)
    sagemaker.update_endpoint(EndpointName=name, EndpointConfigName=second)
    sagemaker.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig=FAST_WAIT)
    thread.join(30)
    assert len(outcome) == 1 and isinstance(outcome[0], dict), outcome
    assert outcome[0]["explanations"]["kernel_shap"][0]
    assert sagemaker.describe_endpoint(EndpointName=name)["EndpointConfigName"] == second


def test_a_delete_lets_the_invocations_already_running_answer(sagemaker, sagemaker_runtime, container, records):
    name = deploy(sagemaker, {"Image": container.url})
    outcome: list[Any] = []
    container.mark()
    thread = invoke_in_background(sagemaker_runtime, name, csv_body(records[:1]), outcome)
    wait_until_the_container_has_the_request(container)
    sagemaker.delete_endpoint(EndpointName=name)
    thread.join(30)
    assert len(outcome) == 1 and not isinstance(outcome[0], Exception), outcome
    sagemaker.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig=FAST_WAIT)
