"""Where flags may stand on the command line, and what a bad server URL gives: as a user types them."""

from __future__ import annotations

import json
import re

from tests.cli.conftest import N_FEATURES, cli, one_line_error
from tests.conftest import LiveServer


def test_options_before_the_action_are_kept(cli_server, explained_endpoint):
    """docs/cli.md: `endpoints [--endpoint-url] [--json] ACTION`. No $AWS_ENDPOINT_URL_SAGEMAKER here: a flag lost
    on the way would send the command to the default 127.0.0.1:8080."""
    url = cli_server.url
    table = cli("endpoints", "--endpoint-url", url, "describe", explained_endpoint)
    assert table.returncode == 0, table.stderr
    assert re.search(rf"EndpointName\s+│ {explained_endpoint}", table.stdout)
    described = cli("endpoints", "--json", "--endpoint-url", url, "describe", explained_endpoint)
    assert described.returncode == 0, described.stderr
    assert json.loads(described.stdout)["EndpointStatus"] == "InService"
    listed = cli("configs", "--json", "--region", "us-east-1", "list", url=url)
    assert "cli-explained" in [c["EndpointConfigName"] for c in json.loads(listed.stdout)]
    # After the action as before, and a value after the action wins over one before it.
    after = cli("models", "--endpoint-url", "http://127.0.0.1:1", "list", "--json", "--endpoint-url", url)
    assert after.returncode == 0, after.stderr
    assert "cli-explained" in [m["ModelName"] for m in json.loads(after.stdout)]


def test_invoke_takes_flags_between_and_around_its_positionals(cli_server, explained_endpoint, tmp_path):
    source = tmp_path / "records.csv"
    source.write_text("".join(",".join(["0.5"] * N_FEATURES) + "\n" for _ in range(3)))
    between = cli("invoke", explained_endpoint, "--extended", str(source), url=cli_server.url)
    assert between.returncode == 0, between.stderr
    rows = [json.loads(line) for line in between.stdout.splitlines()]
    assert [r["line"] for r in rows] == [1, 2, 3] and all("openclarify" in r for r in rows)
    out = tmp_path / "out.jsonl"
    around = cli(
        "invoke",
        "--no-explain",
        explained_endpoint,
        "-o",
        str(out),
        str(source),
        "--batch-size",
        "2",
        url=cli_server.url,
    )
    assert around.returncode == 0, around.stderr
    assert [json.loads(line)["explanation"] for line in out.read_text().splitlines()] == [None] * 3


def test_a_server_url_that_is_not_one_is_a_usage_error(cli_server):
    models = one_line_error(cli("models", "--endpoint-url", "notaurl"), 2)
    assert "--endpoint-url 'notaurl'" in models and "http://HOST:PORT" in models
    invoke = one_line_error(cli("invoke", "some-endpoint", "--endpoint-url", "notaurl", stdin="1,2\n"), 2)
    assert "--endpoint-url 'notaurl'" in invoke
    from_env = one_line_error(cli("endpoints", url="127.0.0.1:8080"), 2)  # no scheme
    assert "AWS_ENDPOINT_URL_SAGEMAKER" in from_env
    bad_port = one_line_error(cli("configs", "--endpoint-url", "http://127.0.0.1:99999"), 2)
    assert "not a server URL" in bad_port


def test_https_against_a_plain_http_server_says_so(cli_server):
    """The live server speaks plain HTTP: TLS fails (botocore's SSLError), and no server answered over https."""
    https = cli_server.url.replace("http://", "https://", 1)
    message = one_line_error(cli("endpoints", "--endpoint-url", https), 3)
    assert cli_server.url in message  # the URL to use instead


def test_tables_count_in_the_singular_for_one(tmp_path, cli_server, explained_endpoint):
    root = cli_server.model_roots[0]  # the explained endpoint's model file, registered on a server of its own
    server = LiveServer(tmp_path / "server", [root]).start()
    try:
        assert cli("models", url=server.url).stdout.splitlines()[0].strip() == "0 models"
        model = {"Image": "openclarify/sklearn", "ModelDataUrl": str(root / f"{explained_endpoint}.skops")}
        server.client("sagemaker").create_model(ModelName="only-one", PrimaryContainer=model)
        assert cli("models", url=server.url).stdout.splitlines()[0].strip() == "1 model"
    finally:
        server.stop()
