"""``openclarify invoke``'s input and output: streams read once, an output file left alone until there is
something to write, files it cannot use as one line, predictions as numbers."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter

import httpx
from tests.cli.conftest import N_FEATURES, cli, one_line_error

GOOD = ",".join(["0.5"] * N_FEATURES)


def test_invoke_reads_a_stream_named_as_a_file_once(cli_server, explained_endpoint, tmp_path):
    """/dev/stdin and a FIFO can be read once: counting their lines first left no records to send."""
    records = "".join(f"{GOOD}\n" for _ in range(4))
    stdin = cli("invoke", explained_endpoint, "/dev/stdin", url=cli_server.url, stdin=records)
    assert stdin.returncode == 0, stdin.stderr
    assert [json.loads(line)["line"] for line in stdin.stdout.splitlines()] == [1, 2, 3, 4]

    fifo = tmp_path / "records.fifo"
    os.mkfifo(fifo)
    # The writer blocks until the command opens the FIFO; killed below if the command never does.
    writer = subprocess.Popen([sys.executable, "-c", f"open({str(fifo)!r}, 'w').write({records!r})"])
    try:
        piped = cli("invoke", explained_endpoint, str(fifo), url=cli_server.url)
    finally:
        writer.kill()
        writer.wait()
    assert piped.returncode == 0, piped.stderr
    assert "4 of 4 records answered" in piped.stderr


def test_an_output_file_is_left_alone_until_there_is_something_to_write(cli_server, explained_endpoint, tmp_path):
    source = tmp_path / "records.csv"
    source.write_text(f"{GOOD}\n{GOOD}\n")
    out = tmp_path / "out.jsonl"
    out.write_text("the last run's rows\n")
    one_line_error(cli("invoke", "no-such-endpoint", str(source), "-o", str(out), url=cli_server.url), 4)
    assert out.read_text() == "the last run's rows\n"
    one_line_error(
        cli("invoke", explained_endpoint, str(source), "-o", str(out), "--endpoint-url", "http://127.0.0.1:1"), 3
    )
    assert out.read_text() == "the last run's rows\n"
    done = cli("invoke", explained_endpoint, str(source), "-o", str(out), url=cli_server.url)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["line"] for line in out.read_text().splitlines()] == [1, 2]
    # A run that completes with no record answered says so in the file too: no rows, not the last run's.
    source.write_text("1,2\n")
    failed = cli("invoke", explained_endpoint, str(source), "-o", str(out), url=cli_server.url)
    assert failed.returncode == 1 and out.read_text() == ""


def test_files_invoke_cannot_use_are_one_line_and_exit_2(cli_server, explained_endpoint, tmp_path):
    source = tmp_path / "records.csv"
    source.write_text(f"{GOOD}\n")
    no_dir = one_line_error(cli("invoke", explained_endpoint, str(source), "-o", str(tmp_path / "no" / "x.jsonl")), 2)
    assert "no directory" in no_dir
    a_dir = one_line_error(cli("invoke", explained_endpoint, str(source), "-o", str(tmp_path)), 2)
    assert "is a directory" in a_dir
    itself = one_line_error(cli("invoke", explained_endpoint, str(source), "-o", str(source)), 2)
    assert "is the input file" in itself and source.read_text() == f"{GOOD}\n"
    latin1 = tmp_path / "latin1.csv"
    latin1.write_bytes(f"{GOOD}\n".encode() + "caf\u00e9,1\n".encode("latin-1"))
    not_utf8 = one_line_error(cli("invoke", explained_endpoint, str(latin1), url=cli_server.url), 2)
    assert "line 2" in not_utf8 and "UTF-8" in not_utf8


def test_predictions_are_numbers_without_an_explainer_too(cli_server, plain_endpoint, explained_endpoint, tmp_path):
    source = tmp_path / "records.csv"
    source.write_text(f"{GOOD}\n1,2\n{GOOD}\n")  # line 2 fails, so lines 1 and 3 are sent again one by one
    for endpoint in (plain_endpoint, explained_endpoint):
        for batch_size in ("1", "3"):
            result = cli("invoke", endpoint, str(source), "--batch-size", batch_size, url=cli_server.url)
            assert result.returncode == 1, result.stderr
            rows = [json.loads(line) for line in result.stdout.splitlines()]
            assert [r["line"] for r in rows] == [1, 3]
            assert all(isinstance(r["prediction"], float) for r in rows), (endpoint, batch_size, rows)


def test_a_line_longer_than_a_request_can_hold_stops_the_run_after_the_records_before_it(
    cli_server, explained_endpoint, tmp_path
):
    from openclarify.services.invocations import MAX_BODY_BYTES

    assert MAX_BODY_BYTES == 6 * 1024 * 1024  # commands/invoke.py keeps a copy, not to import numpy at start
    source = tmp_path / "records.csv"
    source.write_bytes(f"{GOOD}\n{GOOD}\n".encode() + b"1" * (MAX_BODY_BYTES + 1) + f"\n{GOOD}\n".encode())
    out = tmp_path / "out.jsonl"
    result = cli("invoke", explained_endpoint, str(source), "-o", str(out), url=cli_server.url)
    message = one_line_error(result, 2)
    assert f"{source}, line 3: more than {MAX_BODY_BYTES} bytes" in message
    assert [json.loads(line)["line"] for line in out.read_text().splitlines()] == [1, 2]

    endless = cli("invoke", explained_endpoint, "/dev/zero", url=cli_server.url, bounded=True)
    assert "/dev/zero, line 1: more than" in one_line_error(endless, 2)


def test_an_interrupted_run_keeps_the_rows_answered_while_a_batch_is_retried_record_by_record(
    cli_server, explained_endpoint, tmp_path
):
    """Line 1 fails the one batch, so its 3000 records are sent again one by one. Each row is written as it is
    answered: Ctrl-C then leaves them in FILE. They used to be held until the whole batch was done, and lost."""
    source = tmp_path / "records.csv"
    source.write_text("1,2\n" + f"{GOOD}\n" * 3000)
    out = tmp_path / "out.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OPENCLARIFY_"))}
    env["AWS_ENDPOINT_URL_SAGEMAKER"] = cli_server.url
    command = [sys.executable, "-m", "openclarify", "invoke", explained_endpoint, str(source), "-o", str(out)]
    run = subprocess.Popen([*command, "--batch-size", "3001"], stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 60
        while run.poll() is None and time.monotonic() < deadline:
            if out.exists() and out.read_text().count("\n") >= 3:
                break
            time.sleep(0.05)
        assert run.poll() is None, "no row was written before the batch was done"
        run.send_signal(signal.SIGINT)  # as Ctrl-C
        _, stderr = run.communicate(timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    assert run.returncode == 130, stderr
    assert "Traceback" not in stderr, stderr
    lines = [json.loads(line)["line"] for line in out.read_text().splitlines()]
    assert lines == list(range(2, 2 + len(lines))) and 3 <= len(lines) < 3000
    assert re.search(r"^line 1: ValidationError: ", stderr, re.M)
    last = re.search(r"^Interrupted up to line (\d+): (\d+) of (\d+) records answered", stderr, re.M)
    assert last, stderr
    assert int(last.group(1)) == lines[-1] and int(last.group(2)) == len(lines) and int(last.group(3)) == len(lines) + 1


def test_batches_are_cut_to_what_one_request_can_hold(cli_server, plain_endpoint, tmp_path):
    """Twelve records of 0.8 MB each are 9.6 MB, more than one InvokeEndpoint takes, though --batch-size allows them
    all: the command sends them in requests under 6 MiB, every record answered, none sent twice. They used to go as
    one body the server refused, and then again one by one."""
    from openclarify.commands.invoke import MAX_BODY_BYTES

    # A long but valid CSV number: 0.5 written with 100 000 zeros after it.
    wide = "0.5" + "0" * 100_000
    record = ",".join([wide] * N_FEATURES)
    source = tmp_path / "wide.csv"
    source.write_text(f"{record}\n" * 12)
    assert source.stat().st_size > MAX_BODY_BYTES
    before = _invocations(cli_server)
    result = cli("invoke", plain_endpoint, str(source), url=cli_server.url)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [row["line"] for row in rows] == list(range(1, 13))
    assert len({row["prediction"] for row in rows}) == 1
    # Seven records (5.6 MB) fit in a request, the eighth would not: two requests.
    assert _invocations(cli_server) - before == {"200": 2}


def _invocations(server) -> Counter:
    """InvokeEndpoint requests the server has answered, by HTTP status (its Prometheus counter)."""
    text = httpx.get(f"{server.url}/metrics").text
    found = re.findall(r'^openclarify_requests_total\{operation="InvokeEndpoint",status="(\d+)"\} (\S+)$', text, re.M)
    return Counter({status: int(float(count)) for status, count in found})
