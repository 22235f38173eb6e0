"""A live server on a PostgreSQL that fails under it: unreachable, stuck behind another session's lock, cutting the
server's own lock session. Each answer must be an AWS error a client can act on, within a bound, and the server
must recover without a restart."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import httpx
import psycopg
import pytest
from botocore.exceptions import ClientError
from tests.conftest import LiveServer, ping_seconds
from tests.control.helpers import FAST_WAIT, variant

# A remote container: CreateModel then loads nothing, so these tests need no model files.
CONTAINER = {"Image": "http://127.0.0.1:9/"}
_SERVER_LOCK = 0x6F636C72 + 1


@pytest.fixture
def pg_server(tmp_path, postgres):
    url = postgres.create_database()
    server = LiveServer(tmp_path / "state", [tmp_path], extra_args=["--database-url", url]).start()
    yield url, server
    server.stop()


def error_of(call, **params) -> tuple[int, str, str]:
    with pytest.raises(ClientError) as caught:
        call(**params)
    response = caught.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"], response["Error"]["Message"]


def test_an_unreachable_database_is_503_and_the_server_recovers_without_a_restart(pg_server) -> None:
    url, server = pg_server
    sm = server.client("sagemaker")
    sm.create_model(ModelName="before", PrimaryContainer=CONTAINER)
    database = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    # What a database that is down looks like to the server, on the shared test PostgreSQL: sessions cut, and
    # every new connection refused.
    with psycopg.connect(url.rsplit("/", 1)[0] + "/postgres", autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE {database} ALLOW_CONNECTIONS false")
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        )
        try:
            for call, params in [
                (sm.create_model, {"ModelName": "during", "PrimaryContainer": CONTAINER}),
                (sm.describe_endpoint, {"EndpointName": "any"}),
                (sm.list_endpoints, {}),
            ]:
                status, code, message = error_of(call, **params)
                assert (status, code) == (503, "ServiceUnavailable"), message
                assert "Nothing was changed" in message
        finally:
            admin.execute(f"ALTER DATABASE {database} ALLOW_CONNECTIONS true")
    sm.create_model(ModelName="after", PrimaryContainer=CONTAINER)
    assert [m["ModelName"] for m in sm.list_models(SortBy="Name", SortOrder="Ascending")["Models"]] == [
        "after",
        "before",
    ]
    assert "Traceback" not in server.log()


def test_a_lock_held_by_another_session_bounds_the_request_and_keeps_ping_answering(pg_server) -> None:
    url, server = pg_server
    sm = server.client("sagemaker", read_timeout=30)
    sm.create_model(ModelName="locked", PrimaryContainer=CONTAINER)
    outcome: list[tuple[int, str, str] | float] = []

    def describe() -> None:
        started = time.monotonic()
        outcome.append(error_of(sm.describe_model, ModelName="locked"))
        outcome.append(time.monotonic() - started)

    with psycopg.connect(url) as holder:
        holder.execute("LOCK TABLE models IN ACCESS EXCLUSIVE MODE")
        waiter = threading.Thread(target=describe)
        waiter.start()
        waiter.join(25)
        holder.rollback()
    assert len(outcome) == 2, "DescribeModel was still waiting on the lock after 25 s"
    (status, code, message), took = outcome
    assert (status, code) == (503, "ServiceUnavailable") and "did not answer within" in message, message
    assert took < 15
    assert httpx.get(server.url + "/ping", timeout=5).status_code == 200
    assert sm.describe_model(ModelName="locked")["ModelName"] == "locked"


def test_a_statement_stuck_behind_a_lock_holds_up_neither_ping_nor_invocations(
    postgres, tmp_path, model_root, model_files
) -> None:
    url = postgres.create_database()
    server = LiveServer(tmp_path / "state", [model_root], extra_args=["--database-url", url]).start()
    try:
        sm = server.client("sagemaker", read_timeout=30)
        runtime = server.client("sagemaker-runtime")
        model = {"Image": "openclarify/xgboost", "ModelDataUrl": str(model_files["openclarify/xgboost"])}
        sm.create_model(ModelName="served", PrimaryContainer=model)
        sm.create_endpoint_config(EndpointConfigName="config", ProductionVariants=[variant("served")])
        sm.create_endpoint(EndpointName="ep", EndpointConfigName="config")
        sm.get_waiter("endpoint_in_service").wait(EndpointName="ep", WaiterConfig=FAST_WAIT)
        expected = runtime.invoke_endpoint(EndpointName="ep", ContentType="text/csv", Body=b"1,0,0,0")["Body"].read()
        database = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
        outcome: list[str] = []
        waiter = threading.Thread(target=lambda: outcome.append(sm.describe_model(ModelName="served")["ModelName"]))
        with psycopg.connect(url) as holder, psycopg.connect(url, autocommit=True) as watcher:
            holder.execute("LOCK TABLE models IN ACCESS EXCLUSIVE MODE")
            waiter.start()
            deadline = time.monotonic() + 10
            # The server's statement waits on the lock: seen from the database, not guessed from a sleep.
            while not watcher.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'", (database,)
            ).fetchone()[0]:
                assert time.monotonic() < deadline, "DescribeModel never reached the locked table"
                time.sleep(0.02)
            took = ping_seconds(server.url, timeout=5)
            started = time.monotonic()
            answer = runtime.invoke_endpoint(EndpointName="ep", ContentType="text/csv", Body=b"1,0,0,0")["Body"].read()
            took.append(time.monotonic() - started)
            stalled = waiter.is_alive()
            holder.rollback()
        waiter.join(15)
        # Called on the event loop, the statement held them all: the first ping took the 5 s of its timeout.
        assert max(took) < 1.0, took
        assert stalled, "the statement was no longer waiting: the test measured nothing"
        assert answer == expected
        assert outcome == ["served"]  # the waiting statement ends once the lock is let go
    finally:
        server.stop()


def test_the_server_takes_its_database_lock_again_when_its_session_is_cut(pg_server, tmp_path) -> None:
    url, server = pg_server

    def lock_holders() -> list[tuple[int]]:
        with psycopg.connect(url, autocommit=True) as admin:
            return admin.execute(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = %s AND granted", (_SERVER_LOCK,)
            ).fetchall()

    [first] = lock_holders()
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", first)
    deadline = time.monotonic() + 10
    while not (holders := lock_holders()) or holders == [first]:
        assert time.monotonic() < deadline, "the server did not take its database lock again"
        time.sleep(0.1)
    command = [sys.executable, "-m", "openclarify", "serve", "--port", "0", "--data-dir", str(tmp_path / "second")]
    second = subprocess.run(
        [*command, "--database-url", url],
        capture_output=True,
        text=True,
        timeout=60,
        env=server.env,
    )
    assert second.returncode == 2, second.stderr
    assert "another openclarify server is using the database of --database-url" in second.stderr
    assert "lost the database lock" in server.log()


def test_a_database_that_stops_answering_is_a_bounded_503_and_does_not_hold_up_shutdown(pg_server) -> None:
    url, server = pg_server
    sm = server.client("sagemaker", read_timeout=60)
    sm.create_model(ModelName="before", PrimaryContainer=CONTAINER)
    database = psycopg.conninfo.conninfo_to_dict(url)["dbname"]
    with psycopg.connect(url, autocommit=True) as admin:
        # The server's own session (not the advisory lock's keeper, which only holds its lock): idle in the database.
        backends = [
            pid
            for (pid,) in admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()", (database,)
            ).fetchall()
        ]
    assert backends
    # A database server that stopped answering without closing its connections (a hung host): its backends stopped.
    for pid in backends:
        os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        status, code, message = error_of(sm.describe_model, ModelName="before")
        took = time.monotonic() - started
        assert (status, code) == (503, "ServiceUnavailable") and "did not answer within" in message, message
        assert took < 25, took  # was: no answer at all
        assert httpx.get(server.url + "/ping", timeout=5).status_code == 200
        assert server.process is not None
        started = time.monotonic()
        server.process.terminate()
        server.process.wait(20)  # was: never exited, waiting for the stuck call
        assert time.monotonic() - started < 15
        server.process = None
    finally:
        for pid in backends:
            os.kill(pid, signal.SIGCONT)


class CommitCutProxy:
    """A TCP proxy in front of PostgreSQL that, once armed with a piece of SQL, forwards the COMMIT after it and then
    cuts both connections without relaying the answer: a change the database made whose answer the server never
    gets (a network that fails at the worst moment)."""

    COMMIT = b"Q\x00\x00\x00\x0bCOMMIT\x00"

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.armed_with: bytes | None = None
        self.cuts = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            state = {"armed": False, "cut": False}
            threading.Thread(target=self._pipe, args=(client, upstream, state, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, state, False), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, state: dict, to_database: bool) -> None:
        try:
            while data := source.recv(65536):
                if to_database and self.armed_with and self.armed_with in data:
                    state["armed"] = True
                if to_database and state["armed"] and self.COMMIT in data:
                    state["cut"] = True  # before the answer can come back
                    sink.sendall(data)
                    time.sleep(0.3)  # the database commits
                    self.armed_with = None
                    self.cuts += 1
                    for end in (source, sink):
                        with contextlib.suppress(OSError):
                            end.shutdown(socket.SHUT_RDWR)
                    return
                if not state["cut"]:
                    sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                end.close()

    def close(self) -> None:
        self.listener.close()


def test_a_change_whose_commit_answer_is_lost_goes_on_when_read_back_it_was_made(postgres, tmp_path) -> None:
    url = postgres.create_database()
    port = psycopg.conninfo.conninfo_to_dict(url)["port"]
    proxy = CommitCutProxy(int(port))
    proxied = url.replace(f":{port}/", f":{proxy.port}/")
    server = LiveServer(tmp_path / "state", [tmp_path], extra_args=["--database-url", proxied]).start()
    try:
        sm = server.client("sagemaker")
        sm.create_model(ModelName="m", PrimaryContainer=CONTAINER)
        sm.create_endpoint_config(EndpointConfigName="c", ProductionVariants=[variant("m")])
        proxy.armed_with = b"INSERT INTO endpoints"
        # Before: a 503 "may or may not have been made", whose retry was refused as a duplicate, and the row stayed
        # Creating for good with no deployment behind it.
        sm.create_endpoint(EndpointName="ep", EndpointConfigName="c")
        assert proxy.cuts == 1
        deadline = time.monotonic() + 20
        # The container does not exist: the deployment runs and fails, which the row then records.
        while (status := sm.describe_endpoint(EndpointName="ep")["EndpointStatus"]) == "Creating":
            assert time.monotonic() < deadline, "the endpoint stayed Creating"
            time.sleep(0.2)
        assert status == "Failed"
        assert "read back, it was made" in server.log()
    finally:
        server.stop()
        proxy.close()
