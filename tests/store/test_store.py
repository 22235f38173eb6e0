"""One store test suite, run against both backends: SQLite on a temp file and a real PostgreSQL server on loopback
(tests/pgserver.py). Each test gets an empty database; "two servers" are two store objects on the same database."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from openclarify.store import (
    AlreadyExists,
    DatabaseUnavailable,
    EndpointConfigRow,
    EndpointRow,
    ModelRow,
    NotFound,
    PostgresStore,
    SchemaTooNew,
    SQLiteStore,
    Store,
    open_store,
)
from openclarify.store.migrations import migrations

Opener = Callable[[], Store]


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return request.param


@pytest.fixture
def opener(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Opener]:
    """Opens (and migrates) another store on this test's database; all are closed at the end."""
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        url = request.getfixturevalue("postgres").create_database()
    opened: list[Store] = []

    def open_one() -> Store:
        store = open_store(url, tmp_path / "unused.db")
        store.migrate()
        opened.append(store)
        return store

    yield open_one
    for store in opened:
        store.close()


@pytest.fixture
def store(opener: Opener) -> Store:
    return opener()


REQUEST = {
    "ModelName": "Churn-Model",
    "PrimaryContainer": {"Image": "openclarify/sklearn", "ModelDataUrl": "/m/model.skops", "Environment": {"B": "1"}},
    "Tags": [{"Key": "z", "Value": "ü 漢字"}, {"Key": "a", "Value": ""}],
    "ExecutionRoleArn": "arn:aws:iam::000000000000:role/x",
}


def model(name: str = "Churn-Model", t: float = 1717171717.123456) -> ModelRow:
    return ModelRow(name, f"arn:aws:sagemaker:us-east-1:000000000000:model/{name.lower()}", t, dict(REQUEST))


def endpoint(name: str = "Ep-One", status: str = "Creating") -> EndpointRow:
    return EndpointRow(
        name=name,
        arn=f"arn:aws:sagemaker:us-east-1:000000000000:endpoint/{name.lower()}",
        status=status,
        creation_time=1717171717.000001,
        last_modified_time=1717171718.5,
        config_name="cfg",
        deployment={"config_name": "cfg", "config": {"ProductionVariants": [{"VariantName": "A"}]}, "models": {}},
        request={"EndpointName": name, "EndpointConfigName": "cfg"},
    )


def test_models_round_trip_exactly_with_key_order_and_full_precision(store: Store) -> None:
    row = model()
    store.insert_model(row)
    got = store.get_model("churn-MODEL")
    assert got == row
    assert list(got.request) == list(REQUEST)  # Describe* echoes keys in the submitted order
    assert got.creation_time == 1717171717.123456  # a 4-byte REAL would round this
    assert store.list_models() == [row]


def test_names_are_unique_case_insensitively(store: Store) -> None:
    store.insert_model(model("Churn-Model"))
    with pytest.raises(AlreadyExists):
        store.insert_model(model("CHURN-model"))
    store.insert_endpoint_config(EndpointConfigRow("Cfg", "arn:c", 1.0, {"EndpointConfigName": "Cfg"}))
    with pytest.raises(AlreadyExists):
        store.insert_endpoint_config(EndpointConfigRow("cfg", "arn:c", 2.0, {}))
    store.insert_endpoint(endpoint("Ep"))
    with pytest.raises(AlreadyExists):
        store.insert_endpoint(endpoint("ep"))


def test_missing_rows_raise_not_found(store: Store) -> None:
    for call in (store.get_model, store.delete_model, store.get_endpoint_config, store.delete_endpoint_config):
        with pytest.raises(NotFound):
            call("nope")
    with pytest.raises(NotFound):
        store.get_endpoint("nope")
    with pytest.raises(NotFound):
        store.delete_endpoint("nope")
    with pytest.raises(NotFound):
        store.replace_endpoint(endpoint("nope"))


def test_delete_removes_only_that_row(store: Store) -> None:
    store.insert_model(model("a"))
    store.insert_model(model("b"))
    store.delete_model("A")
    assert [m.name for m in store.list_models()] == ["b"]
    store.insert_model(model("a"))  # the name is free again
    assert {m.name for m in store.list_models()} == {"a", "b"}


def test_endpoint_configs_round_trip(store: Store) -> None:
    explainer = {"ClarifyExplainerConfig": {"EnableExplanations": "`true`"}}
    request = {"EndpointConfigName": "Cfg", "ExplainerConfig": explainer}
    row = EndpointConfigRow("Cfg", "arn:c", 3.25, request)
    store.insert_endpoint_config(row)
    assert store.get_endpoint_config("cfg") == row
    assert store.list_endpoint_configs() == [row]
    store.delete_endpoint_config("CFG")
    assert store.list_endpoint_configs() == []


def test_endpoint_transitions_check_the_expected_status(store: Store) -> None:
    row = endpoint()
    store.insert_endpoint(row)
    assert store.get_endpoint("EP-ONE") == row
    in_service = replace(row, status="InService", last_modified_time=1717171720.25)
    store.replace_endpoint(in_service, expected_status="Creating")
    assert store.get_endpoint("ep-one") == in_service
    with pytest.raises(NotFound):  # the row moved on: a stale transition must not overwrite it
        store.replace_endpoint(replace(row, status="Failed", failure_reason="x"), expected_status="Creating")
    assert store.get_endpoint("ep-one").status == "InService"
    pending = {"config_name": "cfg2", "config": {"ProductionVariants": []}, "models": {"m": {"ModelName": "m"}}}
    updating = replace(in_service, status="Updating", pending=pending, failure_reason="old reason")
    store.replace_endpoint(updating)  # without expected_status: unconditional
    assert store.get_endpoint("ep-one") == updating
    assert store.list_endpoints() == [updating]
    store.delete_endpoint("Ep-One")
    assert store.list_endpoints() == []


def test_state_survives_reopening(opener: Opener) -> None:
    first = opener()
    first.insert_model(model())
    first.insert_endpoint(endpoint())
    first.close()
    second = opener()
    assert second.get_model("churn-model") == model()
    assert second.get_endpoint("ep-one") == endpoint()


def test_migrations_are_versioned_and_applied_once(opener: Opener, backend: str) -> None:
    store = opener()
    store.insert_model(model())
    store.migrate()  # again, as every server start does: nothing re-applied, nothing lost
    opener()  # a second server starting on the same database
    assert store.get_model("churn-model") == model()
    if isinstance(store, SQLiteStore):
        with store._lock:
            applied = [tuple(r) for r in store._conn.execute("SELECT version, name FROM schema_migrations")]
    else:
        assert isinstance(store, PostgresStore)
        applied = store._read("SELECT version, name FROM schema_migrations ORDER BY version")
    assert applied == [(m.version, m.name) for m in migrations(backend)]
    assert applied[0] == (1, "0001_initial.sql")


def test_both_backends_carry_the_same_migration_numbers() -> None:
    assert [m.version for m in migrations("sqlite")] == [m.version for m in migrations("postgres")]


def test_two_servers_racing_create_the_name_once(opener: Opener) -> None:
    stores = [opener() for _ in range(4)]
    results: list[str] = []
    barrier = threading.Barrier(len(stores) * 3)

    def create(store: Store, i: int) -> None:
        barrier.wait(10)
        try:
            store.insert_model(model("Contested", t=float(i)))
            results.append("ok")
        except AlreadyExists:
            results.append("exists")

    threads = [threading.Thread(target=create, args=(s, i)) for i, s in enumerate(stores * 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == ["exists"] * 11 + ["ok"]
    assert len(stores[0].list_models()) == 1


def test_two_servers_racing_a_transition_apply_it_once(opener: Opener) -> None:
    stores = [opener() for _ in range(4)]
    stores[0].insert_endpoint(endpoint(status="InService"))
    results: list[str] = []
    barrier = threading.Barrier(len(stores))

    def update(store: Store, i: int) -> None:
        barrier.wait(10)
        try:
            store.replace_endpoint(endpoint(status="Updating"), expected_status="InService")
            results.append("won")
        except NotFound:
            results.append("lost")

    threads = [threading.Thread(target=update, args=(s, i)) for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == ["lost"] * 3 + ["won"]


def postgres_store_with_a_model(postgres) -> tuple[str, PostgresStore]:
    """A migrated store on a database of its own, holding ``model()``; and the database's URL."""
    url = postgres.create_database()
    store = PostgresStore(url)
    store.migrate()
    store.insert_model(model())
    return url, store


def test_postgres_store_reconnects_after_the_server_drops_the_connection(postgres) -> None:
    import psycopg

    url, store = postgres_store_with_a_model(postgres)
    with psycopg.connect(url, autocommit=True) as admin:  # what a PostgreSQL restart does to open sessions
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid()"
        )
    assert store.get_model("churn-model") == model()  # a read is retried once on a fresh connection
    store.close()


def test_postgres_store_drops_a_connection_whose_socket_failed_while_libpq_still_reports_it_ok(postgres) -> None:
    # The state a server-side termination can leave when it races a command (seen once in CI): psycopg raises
    # "connection socket closed" while libpq has not marked the connection bad. Putting /dev/null under the
    # real connection's socket reaches that state every time.
    _, store = postgres_store_with_a_model(postgres)

    def fail_the_socket() -> None:
        with open(os.devnull, "rb") as devnull:
            os.dup2(devnull.fileno(), store._conn.fileno())

    fail_the_socket()
    assert store.get_model("churn-model") == model()  # BEGIN fails and is sent again on a fresh connection
    fail_the_socket()
    store.delete_model("churn-model")  # a write too: nothing of it had reached the server
    with pytest.raises(NotFound):
        store.get_model("churn-model")
    store.close()


def test_postgres_store_never_retries_a_write_cut_off_after_begin(postgres) -> None:
    # Past BEGIN a write may have committed, so it is not sent again; the next call gets a fresh connection.
    import psycopg

    url, store = postgres_store_with_a_model(postgres)
    outcome: list[BaseException] = []

    def delete() -> None:
        try:
            store.delete_model("churn-model")
        except BaseException as exc:  # the test inspects whatever it was
            outcome.append(exc)

    with psycopg.connect(url) as admin:
        admin.execute("SELECT 1 FROM models WHERE key = 'churn-model' FOR UPDATE")  # the DELETE will wait on it
        writer = threading.Thread(target=delete)
        writer.start()
        waiting: list[tuple[int]] = []
        for _ in range(200):
            waiting = admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchall()
            if waiting:
                break
            threading.Event().wait(0.05)
        assert len(waiting) == 1
        admin.execute("SELECT pg_terminate_backend(%s)", waiting[0])
        writer.join(30)
        admin.rollback()
    assert len(outcome) == 1 and isinstance(outcome[0], DatabaseUnavailable), outcome
    assert "Nothing was changed" in outcome[0].message  # cut off before COMMIT: the server rolled it back
    assert store.get_model("churn-model") == model()  # the cut-off DELETE did not happen, and the store works
    store.close()


def test_open_store_rejects_unknown_urls(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="postgresql://"):
        open_store("mysql://x", tmp_path / "x.db")
    default = open_store(None, tmp_path / "default.db")
    assert isinstance(default, SQLiteStore)
    default.close()


def test_postgres_store_refuses_a_database_migrated_by_a_newer_version(postgres) -> None:
    import psycopg

    url, store = postgres_store_with_a_model(postgres)
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute("INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_from_the_future.sql')")
    with pytest.raises(SchemaTooNew, match=r"9999_from_the_future\.sql"):
        store.migrate()
    store.close()
