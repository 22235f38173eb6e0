"""``openclarify invoke ENDPOINT [FILE]``: explain records from a file or stdin, in batches, through boto3.

Records are CSV lines or JSON Lines (one record per line). Each batch is one InvokeEndpoint; when a batch fails
with an error about its records, its records are retried one by one so each failing one is reported with its line
number and the rest still get answers. Output is JSON Lines, one object per record:
``{"line": N, "prediction": <the model's output for the record, parsed when it is a number or JSON>,
"explanation": [<Clarify's per-feature attributions>] | null}``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from openclarify.commands.common import (
    EXIT_RECORDS_FAILED,
    EXIT_USAGE,
    CliError,
    add_server_arguments,
    client,
    console,
    endpoint_url,
    translated_errors,
)

EXTENDED = "openclarify-extended=true"
# Codes that concern the records of a request, not the endpoint or the server: retry record by record.
RECORD_ERRORS = {"ValidationError", "ModelError"}
# ...except these, which no record can fix.
ENDPOINT_ERRORS = re.compile(r"^Endpoint \S+ .*(not found|not in service)|does not have a variant|TargetModel")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "invoke",
        help="explain records from a file or stdin (CSV or JSON Lines), in batches",
        description="Send records to an endpoint in batches of InvokeEndpoint calls and write one JSON line per "
        "record. A failing record is reported with its line number and the others go on.",
    )
    parser.add_argument("endpoint", metavar="ENDPOINT", help="endpoint name")
    parser.add_argument("input", metavar="FILE", nargs="?", default="-", help="records file, or - for stdin (default)")
    parser.add_argument(
        "--content-type",
        help="text/csv or application/jsonlines (default: from the file name, else from the first record)",
    )
    parser.add_argument("--accept", help="Accept header for the model's answer (default: the content type)")
    parser.add_argument(
        "--explain",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="ask for explanations (default) or predictions only (--no-explain sends EnableExplanations `false`)",
    )
    parser.add_argument("--extended", action="store_true", help="add base values, f(x) and standard errors")
    parser.add_argument("--output", "-o", type=Path, help="write JSON Lines here (default: stdout)")
    parser.add_argument("--batch-size", type=int, default=50, help="records per InvokeEndpoint (default: 50)")
    parser.add_argument("--header", action="store_true", help="the first line is a CSV header: skip it")
    parser.add_argument("--variant", help="TargetVariant")
    add_server_arguments(parser, runtime=True)
    parser.set_defaults(handler=run)


def _content_type(args: argparse.Namespace, first: str) -> str:
    if args.content_type:
        return args.content_type
    name = str(args.input).lower()
    if name.endswith((".jsonl", ".jsonlines", ".ndjson")):
        return "application/jsonlines"
    if name.endswith(".csv"):
        return "text/csv"
    return "application/jsonlines" if first.lstrip().startswith(("{", "[")) else "text/csv"


def _records(stream: IO[str], skip_header: bool) -> Iterator[tuple[int, str]]:
    for number, line in enumerate(stream, start=1):
        if skip_header and number == 1:
            continue
        line = line.rstrip("\r\n")
        if line.strip():
            yield number, line


def _batches(records: Iterable[tuple[int, str]], size: int) -> Iterator[list[tuple[int, str]]]:
    it = iter(records)
    while batch := list(itertools.islice(it, size)):
        yield batch


def _value(answer: str | None) -> Any:
    """One record's model output: a number or JSON when it parses as such, else the text as answered."""
    if answer is None:
        return None
    try:
        return json.loads(answer)
    except ValueError:
        return answer


class Invoker:
    def __init__(self, runtime: Any, args: argparse.Namespace, content_type: str) -> None:
        self.runtime, self.args, self.content_type = runtime, args, content_type
        self.failures: list[tuple[int, str]] = []
        self.explained = 0

    def call(self, lines: list[str]) -> Any:
        kwargs: dict[str, Any] = {
            "EndpointName": self.args.endpoint,
            "Body": "\n".join(lines).encode(),
            "ContentType": self.content_type,
            "Accept": self.args.accept or self.content_type,
        }
        if not self.args.explain:
            kwargs["EnableExplanations"] = "`false`"
        if self.args.extended:
            kwargs["CustomAttributes"] = EXTENDED
        if self.args.variant:
            kwargs["TargetVariant"] = self.args.variant
        return self.runtime.invoke_endpoint(**kwargs)

    def batch(self, batch: list[tuple[int, str]]) -> list[dict[str, Any]]:
        from botocore.exceptions import ClientError

        try:
            return self.split(batch, self.call([line for _, line in batch]))
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "")
            if code not in RECORD_ERRORS or ENDPOINT_ERRORS.search(exc.response.get("Error", {}).get("Message", "")):
                raise
            if len(batch) == 1:
                message = exc.response.get("Error", {}).get("Message", str(exc))
                self.failures.append((batch[0][0], f"{code}: {message}"))
                return []
        return [row for one in batch for row in self.batch([one])]

    def split(self, batch: list[tuple[int, str]], response: Any) -> list[dict[str, Any]]:
        body = response["Body"].read().decode()
        if response["ContentType"] != "application/json" or not body.startswith('{"version"'):
            answers = body.splitlines() if len(batch) > 1 else [body]
            return [
                {"line": n, "prediction": a, "explanation": None} for (n, _), a in zip(batch, answers, strict=False)
            ]
        answer = json.loads(body)
        predictions = str(answer["predictions"]["data"]).splitlines()
        explanations = answer["explanations"].get("kernel_shap") or [None] * len(batch)
        extra = (answer.get("openclarify") or {}).get("kernel_shap") or [None] * len(batch)
        rows = []
        for i, (number, _) in enumerate(batch):
            row: dict[str, Any] = {
                "line": number,
                "prediction": _value(predictions[i] if i < len(predictions) else None),
                "explanation": explanations[i],
            }
            if self.args.extended:
                row["openclarify"] = extra[i]
            self.explained += explanations[i] is not None
            rows.append(row)
        return rows


def run(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    if args.batch_size < 1:
        raise CliError("--batch-size must be at least 1.", EXIT_USAGE)
    err = console(stderr=True)
    total: int | None = None
    if args.input == "-":
        stream: IO[str] = sys.stdin
    else:
        path = Path(args.input)
        try:
            stream = path.open(encoding="utf-8")
            with path.open("rb") as f:
                total = sum(1 for line in f if line.strip()) - (1 if args.header else 0)
        except OSError as exc:
            raise CliError(f"cannot read {path}: {exc.strerror}. Pass an existing file, or - for stdin.") from None
    records = _records(stream, args.header)
    first = next(records, None)
    if first is None:
        raise CliError("no records in the input: write one record per line (CSV or JSON Lines).")
    records = itertools.chain([first], records)
    url = endpoint_url(args, runtime=True)
    invoker = Invoker(client("sagemaker-runtime", url, args.region), args, _content_type(args, first[1]))
    out: IO[str] = args.output.open("w", encoding="utf-8") if args.output else sys.stdout
    started = time.perf_counter()
    done = 0
    try:
        with (
            Progress(
                TextColumn("[bold]invoke[/] " + args.endpoint),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=err,
                transient=True,
                disable=not err.is_terminal,
            ) as progress,
            translated_errors(url, runtime=True),
        ):
            task = progress.add_task("records", total=total)
            for batch in _batches(records, args.batch_size):
                for row in invoker.batch(batch):
                    out.write(json.dumps(row, separators=(",", ":")) + "\n")
                done += len(batch)
                progress.update(task, completed=done)
    finally:
        if args.output:
            out.close()
        if stream is not sys.stdin:
            stream.close()
    for number, message in invoker.failures:
        err.print(f"line {number}: {message}", markup=False, highlight=False, soft_wrap=True)
    ok = done - len(invoker.failures)
    what = f"{invoker.explained} explained" if args.explain else "predictions only"
    where = f" to {args.output}" if args.output else ""
    failed = f"; {len(invoker.failures)} failed" if invoker.failures else ""
    err.print(
        f"{ok} of {done} records answered ({what}){failed} in {time.perf_counter() - started:.1f} s{where}.",
        highlight=False,
    )
    return EXIT_RECORDS_FAILED if invoker.failures else 0
