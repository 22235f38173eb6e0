"""``openclarify demo`` started as ``make demo`` starts it (``.venv/bin/openclarify demo``, not on PATH): the
commands it suggests run as printed, and with --exit it suggests nothing that needs the server it stops."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from tests.cli.conftest import cli, one_line_error
from tests.conftest import LiveServer

SCRIPT = Path(sys.executable).parent / "openclarify"  # the console script pip installed next to this Python


def started_as_make_does() -> tuple[list[str], Path, dict[str, str]]:
    """The command, its working directory and environment: the script by a relative path, PATH without it."""
    if not SCRIPT.exists():
        pytest.skip("no openclarify console script next to this Python (not installed with pip -e)")
    cwd = SCRIPT.parent.parent.parent
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OPENCLARIFY_"))}
    env.update(PATH="/usr/bin:/bin", COLUMNS="200", PYTHONUNBUFFERED="1")
    return [os.path.relpath(SCRIPT, cwd), "demo", "--records", "1"], cwd, env


def test_demo_refuses_more_records_than_it_can_hold_out():
    message = one_line_error(cli("demo", "--exit", "--records", "1000"), 2)
    assert "--records" in message
    one_line_error(cli("demo", "--exit", "--port", "99999"), 2)


@pytest.mark.parametrize("seed", ["-5", str(2**31)])
def test_demo_refuses_a_seed_out_of_range_before_it_starts(seed, tmp_path):
    """numpy takes no negative seed, and SageMaker's Seed is a 32-bit integer: both used to fail after the server
    had started and the model was trained, with a traceback or the server's error."""
    result = cli("demo", "--exit", "--records", "1", "--seed", seed, "--data-dir", str(tmp_path))
    assert "--seed must be 0 to 2147483647" in one_line_error(result, 2)
    assert "Started the server" not in result.stdout


def test_demo_refuses_a_data_directory_it_cannot_make(tmp_path):
    (tmp_path / "a-file").write_text("")
    message = one_line_error(cli("demo", "--exit", "--data-dir", str(tmp_path / "a-file" / "state")), 2)
    assert "data directory" in message and "--data-dir" in message


def test_demo_refuses_the_data_directory_of_a_running_server(tmp_path, model_root):
    # Two servers on one database each serve from their own memory: the demo's --data-dir may name a server's.
    live = LiveServer(tmp_path, [model_root]).start()
    try:
        result = cli("demo", "--exit", "--records", "1", "--data-dir", str(tmp_path), timeout=60)
    finally:
        live.stop()
    assert "another openclarify server is using the database" in one_line_error(result, 2)
    assert "Trained" not in result.stdout


def test_with_exit_the_demo_suggests_nothing_that_needs_the_stopped_server(tmp_path):
    command, cwd, env = started_as_make_does()
    out = subprocess.run(
        [*command, "--exit", "--data-dir", str(tmp_path)], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert "while this one serves" not in out.stdout and "records.csv" not in out.stdout
    assert f"run {command[0]} demo without --exit" in out.stdout
    assert "invoke_endpoint with 1 record and" in out.stdout


def test_the_commands_the_demo_suggests_run_as_printed(tmp_path):
    command, cwd, env = started_as_make_does()
    demo = subprocess.Popen(
        [*command, "--data-dir", str(tmp_path)], cwd=cwd, env=env, stdout=subprocess.PIPE, text=True
    )
    lines: queue.Queue[str] = queue.Queue()

    def read() -> None:  # in a thread, so that a demo that never gets to serving fails the test, not hangs it
        assert demo.stdout is not None
        for line in demo.stdout:
            lines.put(line)

    threading.Thread(target=read, daemon=True).start()
    try:
        printed: list[str] = []
        deadline = time.monotonic() + 120
        while not printed or "Serving until Ctrl-C" not in printed[-1]:
            printed.append(lines.get(timeout=max(0.1, deadline - time.monotonic())))
        suggested = printed[printed.index(next(p for p in printed if "Try it yourself" in p)) + 1 : -1]
        script = "set -e\n" + "".join(line.strip() + "\n" for line in suggested if line.strip())
        assert f"{command[0]} invoke demo-breast-cancer " in script
        ran = subprocess.run(["/bin/sh", "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=60)
        assert ran.returncode == 0, (script, ran.stderr)
        assert "demo-breast-cancer" in ran.stdout and '"explanation":' in ran.stdout
    finally:
        demo.send_signal(signal.SIGINT)  # as Ctrl-C
        try:
            demo.wait(30)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
    assert demo.returncode == 0
