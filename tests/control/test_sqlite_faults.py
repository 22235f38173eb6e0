"""A live server on the default SQLite file while another process holds the file's write lock (a backup, a sqlite3
shell left inside a transaction): the write waits a bounded time and is refused as a 503 a client can act on, the
rest of the server answers meanwhile, and nothing is left behind."""

from __future__ import annotations

import sqlite3
import threading
import time

import pytest
from botocore.exceptions import ClientError
from tests.conftest import LiveServer, ping_seconds
from tests.control.helpers import FAST_WAIT, variant
from tests.faults.conftest import FaultContainer

# A remote container: CreateModel then loads nothing, so this test needs no model files.
CONTAINER = {"Image": "http://127.0.0.1:9/"}


def test_a_write_lock_held_by_another_process_is_a_bounded_503_and_stalls_nothing_else(tmp_path) -> None:
    server = LiveServer(tmp_path / "state", [tmp_path]).start()
    try:
        sm = server.client("sagemaker", read_timeout=30)
        sm.create_model(ModelName="before", PrimaryContainer=CONTAINER)
        outcome: list[object] = []

        def create() -> None:
            started = time.monotonic()
            with pytest.raises(ClientError) as caught:
                sm.create_model(ModelName="during", PrimaryContainer=CONTAINER)
            outcome.append(caught.value.response)
            outcome.append(time.monotonic() - started)

        holder = sqlite3.connect(server.data_dir / "openclarify.db", isolation_level=None)
        try:
            holder.execute("BEGIN IMMEDIATE")
            waiter = threading.Thread(target=create)
            waiter.start()
            time.sleep(0.5)  # CreateModel is past its checks and waits on the lock
            took = ping_seconds(server.url)
            stalled = waiter.is_alive()
            waiter.join(30)
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        # Called on the event loop, the waiting write held /ping too (it waited 30 s for the lock, then failed as a
        # 500 with sqlite3's traceback in the log).
        assert max(took) < 1.0, took
        assert stalled, "CreateModel was no longer waiting: the test measured nothing"
        response, elapsed = outcome
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert response["Error"]["Code"] == "ServiceUnavailable"
        assert "locked by another process" in response["Error"]["Message"]
        assert "Nothing was changed" in response["Error"]["Message"]
        assert 4.0 < elapsed < 15.0
        sm.create_model(ModelName="after", PrimaryContainer=CONTAINER)
        listed = sm.list_models(SortBy="Name", SortOrder="Ascending")["Models"]
        assert [m["ModelName"] for m in listed] == ["after", "before"]
        assert "Traceback" not in server.log()
    finally:
        server.stop()


def test_a_deletion_whose_last_write_meets_a_locked_file_completes_once_the_lock_goes(tmp_path) -> None:
    container = FaultContainer().start()
    server = LiveServer(tmp_path / "state", [tmp_path], env={"OPENCLARIFY_CREATE_GRACE_SECONDS": "0"})
    try:
        server.start()
        sm = server.client("sagemaker", read_timeout=30)
        sm.create_model(ModelName="m", PrimaryContainer={"Image": container.url})
        sm.create_endpoint_config(EndpointConfigName="c", ProductionVariants=[variant("m")])
        sm.create_endpoint(EndpointName="ep", EndpointConfigName="c")
        sm.get_waiter("endpoint_in_service").wait(EndpointName="ep", WaiterConfig=FAST_WAIT)
        # An invocation the old deployment must finish holds the deletion's last write back for 3 s ...
        slow = {
            "EndpointName": "ep",
            "ContentType": "text/csv",
            "Body": b"1,2",
            "CustomAttributes": "fault=slow,seconds=3",
        }
        # The client is built first (a fifth of a second), and the deletion comes a second after the request left: on
        # a loaded machine, 0.3 s after starting the thread was sometimes before the request reached the server, which
        # then refused it as Deleting and let the deletion finish before the lock below.
        runtime = server.client("sagemaker-runtime")
        answered: list[object] = []

        def invoke() -> None:
            try:
                answered.append(runtime.invoke_endpoint(**slow)["Body"].read())
            except Exception as exc:
                answered.append(exc)

        invocation = threading.Thread(target=invoke)
        invocation.start()
        time.sleep(1.0)
        sm.delete_endpoint(EndpointName="ep")
        # ... and another process holds the file past the store's 5 s wait when it comes.
        holder = sqlite3.connect(server.data_dir / "openclarify.db", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        time.sleep(9)  # the last write comes at 3 s and waits 5 s: it must still find the file held
        holder.execute("ROLLBACK")
        holder.close()
        invocation.join(10)
        assert len(answered) == 1 and isinstance(answered[0], bytes), answered  # the old deployment finished it
        deadline = time.monotonic() + 15
        while True:
            try:
                status = sm.describe_endpoint(EndpointName="ep")["EndpointStatus"]
            except ClientError as exc:
                assert "Could not find endpoint" in exc.response["Error"]["Message"]
                break
            # Before, the failed write ended the deletion's task: Deleting until a restart, every call refused.
            assert status == "Deleting" and time.monotonic() < deadline, status
            time.sleep(0.2)
        log = server.log()
        assert "trying again" in log and "Task exception was never retrieved" not in log
    finally:
        server.stop()
        container.stop()
