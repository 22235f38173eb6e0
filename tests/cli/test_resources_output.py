"""``openclarify models | configs | endpoints`` as a user reads them: piped, on a narrow terminal, with values the
server quotes back, and through every page of a long listing. The CLI runs as a subprocess against a server of this
module's own, so the listings hold exactly what the tests created."""

from __future__ import annotations

import http.server
import json
import os
import pty
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
from tests.cli.conftest import cli, one_line_error
from tests.conftest import LiveServer

LONG = "long-" + "n" * 58  # 63 characters, the longest name SageMaker allows
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("resources-server")
    live = LiveServer(data_dir, [data_dir / "models"]).start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def model_file(server: LiveServer) -> str:
    import skops.io
    from sklearn.linear_model import LinearRegression

    X = np.random.default_rng(0).normal(size=(20, 3))
    path = server.model_roots[0] / "linear.skops"
    path.parent.mkdir(exist_ok=True)
    skops.io.dump(LinearRegression().fit(X, X[:, 0]), path)
    return str(path)


@pytest.fixture(scope="module")
def long_named(server: LiveServer, model_file: str) -> str:
    """A model, an endpoint config and an InService endpoint, all named LONG."""
    sm = server.client("sagemaker")
    sm.create_model(ModelName=LONG, PrimaryContainer={"Image": "openclarify/sklearn", "ModelDataUrl": model_file})
    variant = {"VariantName": "AllTraffic", "ModelName": LONG, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
    sm.create_endpoint_config(EndpointConfigName=LONG, ProductionVariants=[variant])
    sm.create_endpoint(EndpointName=LONG, EndpointConfigName=LONG)
    sm.get_waiter("endpoint_in_service").wait(EndpointName=LONG, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
    return LONG


def _on_a_terminal(*args: str, url: str, columns: int) -> str:
    """``openclarify ARGS`` with stdout on a pseudo-terminal ``columns`` wide, as a user sees it; ANSI codes removed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "OPENCLARIFY_"))}
    env.update(COLUMNS=str(columns), AWS_ENDPOINT_URL_SAGEMAKER=url, TERM="xterm")
    main, child = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "openclarify", *args], stdout=child, stderr=subprocess.PIPE, env=env
    )
    os.close(child)
    chunks = []
    while True:  # read as it comes: a full pseudo-terminal would block the command
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the command closed its end
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(main)
    assert process.wait(30) == 0, process.stderr.read() if process.stderr else ""
    return ANSI.sub("", b"".join(chunks).decode())


def _column(table: str, index: int) -> str:
    """The text of one column of a rich table, its folded pieces joined."""
    return "".join(line.split("│")[index].strip() for line in table.splitlines() if line.startswith("│"))


def test_a_piped_listing_keeps_each_row_whole_on_one_line(server, long_named):
    """Piped, the table used rich's 80 columns: the 63-character name was cut to "long-nnnnnnnnnnn…" and every
    row wrapped its times onto a second line, so `| grep NAME` found neither the name nor the whole row."""
    for kind in ("models", "configs", "endpoints"):
        result = cli(kind, url=server.url, env={"COLUMNS": "80"})
        assert result.returncode == 0, result.stderr
        assert "…" not in result.stdout and "\x1b" not in result.stdout
        (row,) = [line for line in result.stdout.splitlines() if LONG in line]
        assert re.search(r"│ \d{4}-\d\d-\d\d \d\d:\d\d:\d\d │$", row), row
    status = [line for line in cli("endpoints", url=server.url).stdout.splitlines() if LONG in line]
    assert "│ InService " in status[0]


def test_a_narrow_terminal_folds_long_values_instead_of_cutting_them(server, long_named):
    listing = _on_a_terminal("endpoints", url=server.url, columns=40)
    assert "…" not in listing
    assert LONG in _column(listing, 1) and "InService" in _column(listing, 2)
    described = _on_a_terminal("models", "describe", LONG, url=server.url, columns=40)
    assert "…" not in described
    assert f"arn:aws:sagemaker:us-east-1:000000000000:model/{LONG}" in _column(described, 2)


def test_a_failure_reason_with_brackets_is_shown_as_the_server_wrote_it(server, model_file):
    """The server quotes a bad baseline value in FailureReason; rich read "[/x]" in it as a closing markup tag and
    the command ended in a MarkupError traceback, exit code 1 (and "[bold]" would have vanished, read as style)."""
    sm = server.client("sagemaker")
    name = "brackets"
    sm.create_model(ModelName=name, PrimaryContainer={"Image": "openclarify/sklearn", "ModelDataUrl": model_file})
    variant = {"VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
    baseline = {"ShapBaselineConfig": {"MimeType": "text/csv", "ShapBaseline": "1,2,[/x]"}}
    sm.create_endpoint_config(
        EndpointConfigName=name,
        ProductionVariants=[variant],
        ExplainerConfig={"ClarifyExplainerConfig": {"ShapConfig": baseline}},
    )
    sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
    deadline = time.monotonic() + 20
    while (answer := sm.describe_endpoint(EndpointName=name))["EndpointStatus"] == "Creating":
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert answer["EndpointStatus"] == "Failed" and "[/x]" in answer["FailureReason"]

    described = cli("endpoints", "describe", name.upper(), url=server.url)
    assert described.returncode == 0, described.stderr
    assert described.stdout.startswith(f"endpoint {name} ")  # the server's spelling, not the one typed
    assert answer["FailureReason"] in " ".join(described.stdout.split())
    assert re.search(rf"^│ {name} +│ Failed +│", cli("endpoints", url=server.url).stdout, re.M)


def test_every_item_of_every_page_is_listed_once(server, model_file):
    """ListModels answers 10 per page by default: 0, 1, 150 and 250 models, each listed exactly once."""
    sm = server.client("sagemaker")
    made: list[str] = []
    for count in (0, 1, 150, 250):
        while len(made) < count:
            made.append(f"page-{len(made):03d}")
            container = {"Image": "openclarify/sklearn", "ModelDataUrl": model_file}
            sm.create_model(ModelName=made[-1], PrimaryContainer=container)
        result = cli("models", "--json", "--endpoint-url", server.url)
        assert result.returncode == 0, result.stderr
        listed = [m["ModelName"] for m in json.loads(result.stdout) if m["ModelName"].startswith("page-")]
        assert sorted(listed) == made, count
    table = cli("models", "list", url=server.url).stdout
    assert sorted(re.findall(r"^│ (page-\d{3}) ", table, re.M)) == made


class _Answers(http.server.BaseHTTPRequestHandler):
    """A server that answers every request with ``body``, as a SageMaker API's JSON."""

    body = b"{}"

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        body = self.body
        self.send_response(200)
        self.send_header("content-type", "application/x-amz-json-1.1")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize(
    "body",
    [
        b'{"Models": [], "NextToken": "again"}',  # botocore's PaginationError: paging would never end
        b'{"Models": [1, 2]}',  # an AttributeError inside botocore's parser
        b'{"Models": "x"}',
        b'{"Models": [{"ModelName": "m", "ModelArn": "a", "CreationTime": "notatime"}]}',  # a ValueError there
    ],
    ids=["repeated token", "numbers for models", "a string for models", "no time"],
)
def test_a_server_that_answers_unlike_sagemaker_is_one_line_and_exit_code_4(body):
    """Each went through as a traceback, exit code 1."""
    handler = type("Answers", (_Answers,), {"body": body})
    fake = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=fake.serve_forever, daemon=True)
    thread.start()
    try:
        result = cli("models", "--endpoint-url", f"http://127.0.0.1:{fake.server_address[1]}")
    finally:
        fake.shutdown()
        fake.server_close()
    assert "as a SageMaker API" in one_line_error(result, 4)
