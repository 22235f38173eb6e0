"""State survives restarts, and concurrent creates neither corrupt it nor create duplicates."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import ClientError
from tests.conftest import LiveServer
from tests.control.helpers import FAST_WAIT, unique, variant


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_everything_is_back_after_a_restart(tmp_path, model_root, model_files, backend, request):
    extra = [] if backend == "sqlite" else ["--database-url", request.getfixturevalue("postgres").create_database()]
    server = LiveServer(tmp_path / "state", [model_root], extra_args=extra).start()
    try:
        sm = server.client("sagemaker")
        explainer = {"ClarifyExplainerConfig": {"ShapConfig": {"ShapBaselineConfig": {"ShapBaseline": "0,0,0,0"}}}}
        container = {"Image": "openclarify/lightgbm", "ModelDataUrl": str(model_files["openclarify/lightgbm"])}
        sm.create_model(ModelName="Persist-Model", PrimaryContainer=container)
        sm.create_endpoint_config(
            EndpointConfigName="persist-config",
            ProductionVariants=[variant("persist-model")],
            ExplainerConfig=explainer,
        )
        sm.create_endpoint(EndpointName="persist-ep", EndpointConfigName="persist-config")
        sm.create_endpoint(EndpointName="doomed-ep", EndpointConfigName="persist-config")
        sm.get_waiter("endpoint_in_service").wait(EndpointName="persist-ep", WaiterConfig=FAST_WAIT)
        sm.get_waiter("endpoint_in_service").wait(EndpointName="doomed-ep", WaiterConfig=FAST_WAIT)
        sm.delete_endpoint(EndpointName="doomed-ep")
        sm.get_waiter("endpoint_deleted").wait(EndpointName="doomed-ep", WaiterConfig=FAST_WAIT)
        before = sm.describe_endpoint(EndpointName="persist-ep")

        server.stop()
        server.start()
        sm = server.client("sagemaker")
        # InService at once; the model loads again in the background, and the first invocation waits for it.
        assert sm.describe_endpoint(EndpointName="persist-ep")["EndpointStatus"] == "InService"
        answer = server.client("sagemaker-runtime").invoke_endpoint(
            EndpointName="persist-ep", Body=b"0.5,0.5,0,0", ContentType="text/csv"
        )
        assert json.loads(answer["Body"].read())["explanations"]["kernel_shap"][0]
        after = sm.describe_endpoint(EndpointName="persist-ep")
        assert after["EndpointStatus"] == "InService"
        for key in ("EndpointArn", "EndpointConfigName", "CreationTime", "ExplainerConfig", "ProductionVariants"):
            assert after[key] == before[key]
        assert sm.describe_model(ModelName="persist-model")["PrimaryContainer"] == container
        assert sm.describe_endpoint_config(EndpointConfigName="persist-config")["ExplainerConfig"] == explainer
        assert [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]] == ["persist-ep"]
    finally:
        server.stop()


def test_a_postgresql_restart_costs_no_request(tmp_path, model_root, model_files, postgres):
    # What a PostgreSQL restart does to the server's open session: it is terminated. The next call, read or write,
    # must answer as if nothing happened, at the first attempt: this client does not retry.
    import psycopg

    url = postgres.create_database()
    server = LiveServer(tmp_path / "pg-drop", [model_root], extra_args=["--database-url", url]).start()

    def drop_the_servers_sessions() -> None:
        with psycopg.connect(url, autocommit=True) as admin:
            dropped = admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                "AND pid <> pg_backend_pid()"
            ).fetchall()
        assert dropped, "the server held no session to drop"

    try:
        sm = server.client("sagemaker")
        container = {"Image": "openclarify/lightgbm", "ModelDataUrl": str(model_files["openclarify/lightgbm"])}
        sm.create_model(ModelName="before-the-drop", PrimaryContainer=container)
        sm.create_model(ModelName="doomed", PrimaryContainer=container)
        drop_the_servers_sessions()
        sm.delete_model(ModelName="doomed")  # a write that is the call's first statement
        drop_the_servers_sessions()
        sm.create_model(ModelName="after-the-drop", PrimaryContainer=container)  # a read, then a write
        drop_the_servers_sessions()
        names = [m["ModelName"] for m in sm.list_models(SortBy="Name", SortOrder="Ascending")["Models"]]  # a read
        assert names == ["after-the-drop", "before-the-drop"]
    finally:
        server.stop()


def test_concurrent_creates_make_each_name_exactly_once(sagemaker, model_files):
    container = {"Image": "openclarify/onnx", "ModelDataUrl": str(model_files["openclarify/onnx"])}
    contested = unique("race")
    distinct = [unique("par") for _ in range(8)]

    def create(name: str) -> str:
        try:
            sagemaker.create_model(ModelName=name, PrimaryContainer=container)
            return "ok"
        except ClientError as exc:
            return exc.response["Error"]["Message"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(create, [contested] * 8 + distinct))
    contested_results, distinct_results = results[:8], results[8:]
    assert contested_results.count("ok") == 1
    assert all(r.startswith("Cannot create already existing model") for r in contested_results if r != "ok")
    assert distinct_results == ["ok"] * 8
    listed = {m["ModelName"] for m in sagemaker.list_models(NameContains="par", MaxResults=100)["Models"]}
    assert set(distinct) <= listed
