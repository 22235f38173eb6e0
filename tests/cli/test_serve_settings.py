"""``openclarify serve`` refuses what it cannot serve with before it starts: one line naming the flag or variable,
exit 2 (docs/cli.md), never a traceback or uvicorn's log line."""

from __future__ import annotations

import socket

import pytest
from tests.cli.conftest import cli, one_line_error
from tests.conftest import LiveServer

from openclarify.settings import Settings


@pytest.mark.parametrize(
    ("args", "env", "named"),
    [
        (["--port", "99999"], {}, "--port 99999"),
        (["--port", "-1"], {}, "--port -1"),
        ([], {"OPENCLARIFY_PORT": "abc"}, "OPENCLARIFY_PORT='abc'"),
        ([], {"OPENCLARIFY_PORT": "70000"}, "OPENCLARIFY_PORT='70000'"),
        (["--invoke-deadline-seconds", "-5"], {}, "--invoke-deadline-seconds"),
        ([], {"OPENCLARIFY_CLOCK_SKEW_SECONDS": "0"}, "OPENCLARIFY_CLOCK_SKEW_SECONDS='0'"),
        ([], {"OPENCLARIFY_PRECHECK_TIMEOUT_SECONDS": "nan"}, "OPENCLARIFY_PRECHECK_TIMEOUT_SECONDS"),
        (["--create-grace-seconds", "-1"], {}, "--create-grace-seconds"),
        (["--max-queued-invocations", "-1"], {}, "--max-queued-invocations"),
        (["--max-text-units", "0"], {}, "--max-text-units"),
        ([], {"OPENCLARIFY_CONSOLE": "ture"}, "OPENCLARIFY_CONSOLE='ture'"),
        # --port 0 below: a setting let through starts a server, which must not take a port another test needs.
        (["--port", "0", "--account-id", "123"], {}, "--account-id 123: must be twelve digits"),
        (["--port", "0"], {"OPENCLARIFY_ACCOUNT_ID": "12345678901x"}, "OPENCLARIFY_ACCOUNT_ID='12345678901x'"),
        (["--port", "0", "--database-url", "mysql://x"], {}, "--database-url: must be a URL starting with postgresql"),
        # Not echoed, as access keys are not: a database URL may hold a password.
        (["--port", "0"], {"OPENCLARIFY_DATABASE_URL": "mysql://u:secret@x"}, "OPENCLARIFY_DATABASE_URL: must be"),
    ],
)
def test_a_setting_out_of_range_is_refused_by_name(tmp_path, args, env, named):
    message = one_line_error(cli("serve", "--data-dir", str(tmp_path), *args, env=env, timeout=30), 2)
    assert named in message and "secret" not in message


def test_values_at_the_edge_of_their_range_are_taken():
    settings = Settings.from_env(
        {
            "OPENCLARIFY_PORT": "0",
            "OPENCLARIFY_CREATE_GRACE_SECONDS": "0",
            "OPENCLARIFY_MAX_QUEUED_INVOCATIONS": "0",
            "OPENCLARIFY_MAX_TEXT_UNITS": "1",
            "OPENCLARIFY_INVOKE_DEADLINE_SECONDS": "0.5",
        }
    )
    assert (settings.port, settings.create_grace_seconds, settings.max_text_units) == (0, 0.0, 1)
    assert Settings.from_env({"OPENCLARIFY_PORT": "abc"}, port=8081).port == 8081  # the flag wins, even over junk


def test_a_port_in_use_is_one_line_and_a_configuration_error(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        message = one_line_error(cli("serve", "--port", str(port), "--data-dir", str(tmp_path), timeout=30), 2)
    assert f"port {port}" in message and "in use" in message


def test_a_data_directory_that_cannot_be_made_is_one_line(tmp_path):
    (tmp_path / "a-file").write_text("")
    message = one_line_error(cli("serve", "--data-dir", str(tmp_path / "a-file" / "state"), timeout=30), 2)
    assert "data directory" in message and "--data-dir" in message


def test_a_credentials_file_named_but_missing_is_refused(tmp_path):
    """Named explicitly, a file that is not there is a mistake: the server used to start without authentication."""
    missing = tmp_path / "no-such-credentials"
    for args, env in (
        (["--credentials-file", str(missing)], {}),
        ([], {"OPENCLARIFY_CREDENTIALS_FILE": str(tmp_path)}),  # a directory
    ):
        result = cli("serve", "--data-dir", str(tmp_path / "state"), "--port", "0", *args, env=env, timeout=30)
        message = one_line_error(result, 2)
        assert "credentials file" in message and "--credentials-file" in message


def test_a_database_that_cannot_be_opened_is_one_line(tmp_path):
    pytest.importorskip("psycopg")
    with socket.socket() as closed:  # a port nothing listens on: the connection is refused at once
        closed.bind(("127.0.0.1", 0))
        url = f"postgresql://openclarify@127.0.0.1:{closed.getsockname()[1]}/openclarify"
        result = cli("serve", "--data-dir", str(tmp_path), "--port", "0", "--database-url", url, timeout=60)
    # The server's start logs a line before it opens the database; the error is the one line after it.
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert result.stderr.splitlines()[-1].startswith("openclarify: cannot open the database of --database-url: ")


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_a_second_server_on_the_same_database_is_refused_until_the_first_is_gone(
    request, tmp_path, model_root, backend
):
    # Each server serves endpoints from its own memory: a second one on the same database used to start, and then
    # kept answering an endpoint the first had deleted.
    if backend == "sqlite":  # the same data directory holds the same default database
        database, elsewhere, where = [], tmp_path, f"the database {tmp_path / 'openclarify.db'}"
    else:
        url = request.getfixturevalue("postgres").create_database()
        database, elsewhere, where = ["--database-url", url], tmp_path / "other", "the database of --database-url"
    first = LiveServer(tmp_path, [model_root], extra_args=database).start()
    try:
        second = cli("serve", "--data-dir", str(elsewhere), "--port", "0", *database, timeout=30)
        message = one_line_error(second, 2)
        assert f"another openclarify server is using {where}" in message
    finally:
        assert first.process is not None
        first.process.kill()  # as kill -9: the lock goes with the process, with nothing left to clean up
        first.process.wait(10)
        first.process = None
    again = LiveServer(tmp_path, [model_root], extra_args=database).start()
    again.stop()


def test_a_database_migrated_by_a_newer_version_is_one_line(tmp_path, postgres):
    # The schema check ran in uvicorn's lifespan, which made it a traceback and exit code 3.
    import psycopg

    url = postgres.create_database()
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT)")
        connection.execute("INSERT INTO schema_migrations VALUES (99, '0099_future.sql')")
    result = cli("serve", "--data-dir", str(tmp_path), "--port", "0", "--database-url", url, timeout=30)
    message = one_line_error(result, 2)
    assert "migrated by a newer openclarify (migrations 0099_future.sql are unknown to this one)" in message
