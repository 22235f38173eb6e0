"""The ``openclarify`` client commands as a user runs them: subprocesses against a live server."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import N_FEATURES, cli
from tests.conftest import free_port

from openclarify.commands.serve import env_name, settings_table
from openclarify.settings import Settings

DOCS = Path(__file__).parent.parent.parent / "docs" / "cli.md"


def test_invoke_streams_batches_reports_a_bad_record_by_line_and_goes_on(cli_server, explained_endpoint, tmp_path):
    good = ",".join(["0.5"] * N_FEATURES)
    lines = [good, good, "1,2,3", good, "", good]  # line 3 has 3 features, line 5 is blank
    source = tmp_path / "records.csv"
    source.write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.jsonl"
    result = cli(
        "invoke",
        explained_endpoint,
        str(source),
        "--output",
        str(out),
        "--batch-size",
        "2",
        "--extended",
        url=cli_server.url,
    )
    assert result.returncode == 1, result.stderr
    assert re.search(r"^line 3: ValidationError: .+", result.stderr, re.M)
    assert "4 of 5 records answered (4 explained); 1 failed" in result.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["line"] for r in rows] == [1, 2, 4, 6]
    for row in rows:
        assert len(row["explanation"]) == N_FEATURES
        phi = sum(f["attributions"][0]["attribution"][0] for f in row["explanation"])
        assert abs(row["openclarify"]["expected_value"][0] + phi - float(row["prediction"])) < 1e-9


def test_invoke_reads_json_lines_from_stdin_and_no_explain_skips_explanations(cli_server, explained_endpoint):
    records = "\n".join(json.dumps([0.1 * j] * N_FEATURES) for j in range(3))
    result = cli("invoke", explained_endpoint, "--no-explain", url=cli_server.url, stdin=records)
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["line"] for r in rows] == [1, 2, 3]
    assert all(r["explanation"] is None and 0 <= r["prediction"]["score"] <= 1 for r in rows)
    assert "3 of 3 records answered (predictions only)" in result.stderr


def test_list_and_describe_through_boto3(cli_server, explained_endpoint):
    listing = cli("endpoints", url=cli_server.url)
    assert listing.returncode == 0, listing.stderr
    assert re.search(rf"{explained_endpoint}\s+│\s+InService", listing.stdout)
    described = cli("configs", "describe", "cli-explained", "--json", "--endpoint-url", cli_server.url)
    assert json.loads(described.stdout)["ExplainerConfig"]["ClarifyExplainerConfig"]["ShapConfig"]["Seed"] == 5
    models = cli("models", "list", "--json", url=cli_server.url)
    assert "cli-explained" in [m["ModelName"] for m in json.loads(models.stdout)]


def test_errors_are_one_line_with_the_fix_and_a_meaningful_exit_code(cli_server, explained_endpoint, tmp_path):
    missing = cli("models", "describe", "no-such-model", url=cli_server.url)
    assert missing.returncode == 4
    assert missing.stderr.count("\n") == 1 and missing.stderr.startswith("openclarify: ValidationException:")
    unreachable = cli("endpoints", "--endpoint-url", f"http://127.0.0.1:{free_port()}")
    assert unreachable.returncode == 3
    assert unreachable.stderr.count("\n") == 1 and "openclarify serve" in unreachable.stderr
    no_file = cli("invoke", explained_endpoint, str(tmp_path / "nope.csv"), url=cli_server.url)
    assert no_file.returncode == 2 and no_file.stderr.startswith("openclarify: cannot read")
    unknown = cli("invoke", "no-such-endpoint", url=cli_server.url, stdin="1,2\n")
    assert unknown.returncode == 4 and "not found" in unknown.stderr and "Traceback" not in unknown.stderr


def test_serve_help_and_docs_cover_every_setting_flag_and_exit_code():
    fields = {f.name for f in dataclasses.fields(Settings)}
    help_text = " ".join(cli("serve", "--help").stdout.split())
    docs = DOCS.read_text()
    generated = docs.split("<!-- settings:start", 1)[1].split("-->", 1)[1].split("<!-- settings:end -->")[0]
    assert generated.strip() == settings_table(), "regenerate the settings table of docs/cli.md (see settings_table)"
    for name in fields:
        assert env_name(name) in help_text.replace("- ", "-").replace(" _", "_"), name
        assert env_name(name) in docs, name
    for flag in set(re.findall(r"(--[a-z][a-z-]+)", help_text)) - {"--help"}:
        assert f"`{flag}" in docs, flag
    for command in ("serve", "demo", "models", "configs", "endpoints", "invoke"):
        for flag in set(re.findall(r"(--[a-z][a-z-]+)", cli(command, "--help").stdout)) - {"--help"}:
            assert f"`{flag}" in docs, (command, flag)
    for code in ("0", "1", "2", "3", "4", "130", "141"):
        assert re.search(rf"^\| `?{code}`? \|", docs, re.M), code


def test_help_gives_the_endpoint_url_each_command_reads():
    invoke = " ".join(cli("invoke", "--help").stdout.split())
    assert "(default: $AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME, then $AWS_ENDPOINT_URL_SAGEMAKER, else" in invoke
    endpoints = " ".join(cli("endpoints", "--help").stdout.split())
    assert "(default: $AWS_ENDPOINT_URL_SAGEMAKER, else" in endpoints


def test_invoke_into_a_reader_that_stops_early_ends_quietly(cli_server, explained_endpoint, tmp_path):
    """`openclarify invoke ENDPOINT FILE | head -1`: the reader closes the pipe after one line. The command ends
    without a traceback, with 141 (128 + SIGPIPE: what a shell shows for a tool the closed pipe stopped)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OPENCLARIFY_"))}
    env["AWS_ENDPOINT_URL_SAGEMAKER"] = cli_server.url
    # Far more output than a pipe holds (64 KiB), so the command is still writing when the reader is gone.
    source = tmp_path / "many.csv"
    source.write_text("".join(",".join([f"{0.01 * (i % 50):.2f}"] * N_FEATURES) + "\n" for i in range(600)))
    writer = subprocess.Popen(
        [sys.executable, "-m", "openclarify", "invoke", explained_endpoint, str(source), "--batch-size", "100"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert writer.stdout is not None
    try:
        head = subprocess.run(
            [sys.executable, "-c", "import sys; sys.stdout.write(sys.stdin.readline())"],
            stdin=writer.stdout,
            capture_output=True,
            text=True,
            timeout=60,
        )
        writer.stdout.close()  # the reader has exited: now nobody holds the pipe's read end
        _, stderr = writer.communicate(timeout=60)
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()
    assert json.loads(head.stdout)["line"] == 1
    assert writer.returncode == 141, stderr.decode()
    assert b"Traceback" not in stderr and b"BrokenPipeError" not in stderr, stderr.decode()
