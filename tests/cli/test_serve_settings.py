"""``openclarify serve`` refuses what it cannot serve with before it starts: one line naming the flag or variable,
exit 2 (docs/cli.md), never a traceback or uvicorn's log line."""

from __future__ import annotations

import socket

import pytest
from tests.cli.conftest import cli, one_line_error

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
    ],
)
def test_a_setting_out_of_range_is_refused_by_name(tmp_path, args, env, named):
    message = one_line_error(cli("serve", "--data-dir", str(tmp_path), *args, env=env, timeout=30), 2)
    assert named in message


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
