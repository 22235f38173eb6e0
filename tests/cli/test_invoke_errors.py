"""``openclarify invoke`` when records fail: an error no record can fix stops the run at once (exit 4, one line);
an error of some records is reported per record, by the line it stands on in the input (exit 1)."""

from __future__ import annotations

import json
import re

import pytest
from tests.cli.conftest import N_FEATURES, cli, one_line_error

GOOD = ",".join(["0.5"] * N_FEATURES)
NARROW = ",".join(["0.5"] * (N_FEATURES - 3))


@pytest.mark.parametrize(
    ("endpoint", "record", "flags"),
    [
        ("explained_endpoint", GOOD, ["--content-type", "text/plain"]),
        ("explained_endpoint", GOOD, ["--accept", "application/xml"]),  # the model answers 415
        ("explained_endpoint", NARROW, []),  # every record is narrower than the endpoint's baseline
        ("plain_endpoint", NARROW, []),  # ...than the model's input
    ],
)
def test_an_error_no_record_can_fix_stops_the_run_at_once(request, cli_server, tmp_path, endpoint, record, flags):
    source = tmp_path / "records.csv"
    source.write_text(f"{record}\n" * 300)
    result = cli("invoke", request.getfixturevalue(endpoint), str(source), *flags, url=cli_server.url)
    one_line_error(result, 4)
    assert result.stdout == ""


def test_a_bad_first_record_is_that_line_s_failure_not_the_run_s(cli_server, explained_endpoint, tmp_path):
    """A CSV header sent as a record (no --header): line 1 fails, the others are answered."""
    source = tmp_path / "records.csv"
    source.write_text(",".join(f"x{j}" for j in range(N_FEATURES)) + "\n" + f"{GOOD}\n" * 4)
    result = cli("invoke", explained_endpoint, str(source), url=cli_server.url)
    assert result.returncode == 1, result.stderr
    assert [json.loads(line)["line"] for line in result.stdout.splitlines()] == [2, 3, 4, 5]
    assert re.search(r"^line 1: ValidationError: ", result.stderr, re.M)


def test_a_failing_record_is_named_by_its_line_only(cli_server, explained_endpoint, tmp_path):
    """The server numbers the records of each request from 1; the report speaks of lines of the input."""
    source = tmp_path / "records.csv"
    source.write_text(f"{GOOD}\n{GOOD}\n\nnot-a-number,{GOOD[4:]}\n1,2\n{GOOD}\n")
    result = cli("invoke", explained_endpoint, str(source), "--batch-size", "3", url=cli_server.url)
    assert result.returncode == 1, result.stderr
    reports = [line for line in result.stderr.splitlines() if line.startswith("line ")]
    assert [r.split(":")[0] for r in reports] == ["line 4", "line 5"]
    for report in reports:
        assert not re.search(r"\brecord \d", report, re.I), report
        assert set(re.findall(r"\bline (\d+)", report)) == {report.split(":")[0].split()[1]}, report


def test_an_endpoint_answering_too_few_lines_loses_no_record_silently(cli_server, tmp_path):
    # A model without an explainer that answers one line fewer than it gets: the answers used to be paired with the
    # records in order and the last record dropped, with exit 0. Now no answer is trusted; each record is asked
    # alone, and as every one fails alike, the run stops saying why.
    from tests.faults.conftest import FaultContainer

    container = FaultContainer(fault="fewrows").start()
    try:
        sm = cli_server.client("sagemaker")
        name = "cli-fewrows"
        sm.create_model(ModelName=name, PrimaryContainer={"Image": container.url})
        variant = {"VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large"}
        sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[variant])
        sm.create_endpoint(EndpointName=name, EndpointConfigName=name)
        sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
        source = tmp_path / "records.csv"
        source.write_text(f"{GOOD}\n" * 3)
        result = cli("invoke", name, str(source), url=cli_server.url)
        error = one_line_error(result, 4)
        assert "answered 0 lines for 1 record" in error
        assert result.stdout == ""
    finally:
        container.stop()
