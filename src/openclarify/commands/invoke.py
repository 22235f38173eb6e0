"""``openclarify invoke ENDPOINT [FILE]``: explain records from a file or stdin, in batches, through boto3.

Records are CSV lines or JSON Lines (one record per line). Each batch is one InvokeEndpoint; when a batch fails
with an error about its records, its records are retried one by one so each failing one is reported with its line
number and the rest still get answers. Output is JSON Lines, one object per record:
``{"line": N, "prediction": <the model's output for the record, parsed when it is a number or JSON>,
"explanation": [<Clarify's per-feature attributions>] | null}``.
"""

from __future__ import annotations

import argparse
import codecs
import itertools
import json
import os
import re
import stat
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any

from openclarify.commands.common import (
    EXIT_INTERRUPTED,
    EXIT_RECORDS_FAILED,
    EXIT_REFUSED,
    EXIT_USAGE,
    CliError,
    add_server_arguments,
    client,
    console,
    endpoint_url,
    plural,
    translated_errors,
)

EXTENDED = "openclarify-extended=true"
# Codes that concern the records of a request, not the endpoint or the server: retry record by record.
RECORD_ERRORS = {"ValidationError", "ModelError"}
# ...except these, which no record can fix: the endpoint, or the media types the request names.
REQUEST_ERRORS = re.compile(
    r"^Endpoint \S+ .*(not found|not in service)|does not have a variant|TargetModel"
    r"|\b(Content|Accept) type .* not supported|client error \(415\)"
)
PROBES = 3
"""While no record has been answered, this many failing in a row alike, each sent alone, means the error is one
every record gets (records of another width than the endpoint's, a content type its model cannot read): stop then,
rather than send each of the other records alone for the same answer. Not 1, so that one bad first record, such
as a CSV header without --header, is reported as that line and the run goes on."""
# The server numbers records from 1 in each request; the user knows them by their line in the input.
RECORD_REFERENCE = re.compile(r"\b[Rr]ecord (\d+)\b")
MAX_BODY_BYTES = 6 * 1024 * 1024
"""InvokeEndpoint's Body limit (services.invocations.MAX_BODY_BYTES, spec §3.1; not imported from there, which
loads numpy and would slow every command's start). A longer line can never be sent, even alone."""
READ_LIMIT = MAX_BODY_BYTES + len(codecs.BOM_UTF8) + len(b"\r\n") + 1
"""Most bytes read for one line: a read that stops here without a line break holds a record over the limit, with
room for a byte-order mark and a CRLF, so that /dev/zero or a file without line breaks is not read into memory."""
MAX_BATCH = MAX_BODY_BYTES // 2
"""Most records a body of MAX_BODY_BYTES can hold: one character and a line break each."""


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "invoke",
        help="explain records from a file or stdin (CSV or JSON Lines), in batches",
        description="Send records to an endpoint in batches of InvokeEndpoint calls and write one JSON line per "
        "record. A failing record is reported with its line number and the others go on.",
        intermixed=True,  # flags may stand between ENDPOINT and FILE
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


class Records:
    """The input's records as (line number, text), read once.

    Once, because a pipe, a FIFO, ``/dev/stdin`` or ``<(command)`` can only be read once. So the progress bar
    counts bytes: ``total`` is the size of a regular file (None for a stream: a bar without an end) and
    ``consumed`` how much of it has been read. Lines are decoded one by one, so that text that is not UTF-8 is
    reported with its line number.

    Input that cannot be read on (not UTF-8, a line longer than InvokeEndpoint takes, a read error) ends the
    records and is kept in ``error``, for the run to raise once the records before it are sent: the batch being
    gathered would otherwise be lost with them."""

    def __init__(self, stream: IO[bytes], name: str, skip_header: bool) -> None:
        self.stream, self.name, self.skip_header = stream, name, skip_header
        self.consumed = 0
        self.total: int | None = None
        self.error: CliError | None = None
        try:
            info = os.fstat(stream.fileno())
            if stat.S_ISREG(info.st_mode):
                self.total = info.st_size - stream.tell()
        except (OSError, ValueError):  # no file descriptor (a replaced stdin), or not seekable
            pass

    def __iter__(self) -> Iterator[tuple[int, str]]:
        number = 0
        try:
            while raw := self.stream.readline(READ_LIMIT):
                number += 1
                self.consumed += len(raw)
                self._check_length(number, raw)
                if self.skip_header and number == 1:
                    continue
                line = self._decode(number, raw).rstrip("\r\n")
                if line.strip():
                    yield number, line
        except OSError as exc:
            self.error = CliError(f"cannot read {self.name}: {exc.strerror or exc}.", EXIT_USAGE)
        except CliError as exc:
            self.error = exc

    def _check_length(self, number: int, raw: bytes) -> None:
        record = raw.rstrip(b"\r\n")
        if number == 1:
            record = record.removeprefix(codecs.BOM_UTF8)
        if len(record) > MAX_BODY_BYTES:
            raise CliError(
                f"{self.name}, line {number}: more than {MAX_BODY_BYTES} bytes (6 MiB), the most InvokeEndpoint takes "
                "in one request, so this record can never be sent; write one record per line.",
                EXIT_USAGE,
            )

    def _decode(self, number: int, raw: bytes) -> str:
        try:
            return raw.decode("utf-8-sig" if number == 1 else "utf-8")  # -sig: drop a byte-order mark
        except UnicodeDecodeError as exc:
            raise CliError(
                f"{self.name}, line {number}: not UTF-8 text (byte {raw[exc.start]:#04x} at column {exc.start + 1}); "
                "save the records as UTF-8 (e.g. iconv -f latin1 -t utf-8).",
                EXIT_USAGE,
            ) from None


def _open_input(name: str, skip_header: bool) -> Records:
    if name == "-":
        if sys.stdin is None:
            raise CliError("no input: stdin is closed. Pass a records FILE.")
        return Records(sys.stdin.buffer, "stdin", skip_header)
    try:
        return Records(Path(name).open("rb"), name, skip_header)
    except OSError as exc:
        raise CliError(f"cannot read {name}: {exc.strerror}. Pass an existing file, or - for stdin.") from None


class Output:
    """Where rows go: stdout, or FILE.

    FILE is opened (and so emptied) only when the first row is written, or when a run completes without one (so
    that FILE then says "no rows", not the last run's rows). A run that stops at once (unknown endpoint, no
    server, Ctrl-C) leaves an existing FILE as it was. This rather than writing to a temporary file moved into
    place at the end: rows are written as they are answered, as to stdout (``tail -f`` works, and an hour of
    answered records is not thrown away when record 90 000 finds the endpoint deleted), and FILE may be anything
    writable (``/dev/stdout``, a FIFO), keeping its permissions and owner. Whether FILE can be written is checked
    before the first request, so an impossible path fails before the work, not after it."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.stream: IO[str] | None = None if path else sys.stdout
        if path is not None:
            _check_writable(path)

    def write(self, rows: list[dict[str, Any]]) -> None:
        """One request's rows, flushed at once: a run stopped later (Ctrl-C, a kill) keeps every answered row."""
        stream = self._open()
        stream.write("".join(json.dumps(row, separators=(",", ":")) + "\n" for row in rows))
        stream.flush()

    def complete(self) -> None:
        self._open()

    def close(self) -> None:
        if self.path is not None and self.stream is not None:
            self.stream.close()

    def _open(self) -> IO[str]:
        if self.stream is None:
            assert self.path is not None
            try:
                self.stream = self.path.open("w", encoding="utf-8")
            except OSError as exc:
                raise CliError(f"cannot write {self.path}: {exc.strerror}.", EXIT_USAGE) from None
        return self.stream


def _check_writable(path: Path) -> None:
    fix = "Pass --output a file in an existing directory you can write."
    if path.is_dir():
        raise CliError(f"cannot write {path}: it is a directory. {fix}")
    parent = path.parent
    if not parent.is_dir():
        raise CliError(f"cannot write {path}: there is no directory {parent}. {fix}")
    if not os.access(path if path.exists() else parent, os.W_OK):
        raise CliError(f"cannot write {path}: permission denied. {fix}")


def _batches(
    records: Iterable[tuple[int, str]], size: int, max_bytes: int = MAX_BODY_BYTES
) -> Iterator[list[tuple[int, str]]]:
    """The records in batches of at most ``size`` records whose body (the lines joined by line breaks) is at most
    ``max_bytes``: a batch past InvokeEndpoint's limit would be refused whole and then sent again record by record."""
    batch: list[tuple[int, str]] = []
    body = 0
    for record in records:
        length = len(record[1].encode())
        if batch and body + 1 + length > max_bytes:
            yield batch
            batch, body = [], 0
        body += length + (1 if batch else 0)
        batch.append(record)
        if len(batch) == size:  # sent now, not when the next record arrives: a stream may pause between records
            yield batch
            batch, body = [], 0
    if batch:
        yield batch


def _value(answer: str | None) -> Any:
    """One record's model output: a number or JSON when it parses as such, else the text as answered."""
    if answer is None:
        return None
    answer = answer.strip()
    try:
        return json.loads(answer)
    except ValueError:
        return answer


def _in_lines(message: str, lines: list[int]) -> str:
    """The server's "Record K" (K counted from 1 in the request) as the line K stands on in the input."""

    def line(match: re.Match[str]) -> str:
        k = int(match.group(1))
        return f"line {lines[k - 1]}" if 1 <= k <= len(lines) else match.group(0)

    return RECORD_REFERENCE.sub(line, message)


class Invoker:
    def __init__(
        self, runtime: Any, args: argparse.Namespace, content_type: str, write: Callable[[list[dict[str, Any]]], None]
    ) -> None:
        self.runtime, self.args, self.content_type, self.write = runtime, args, content_type, write
        self.failures: list[tuple[int, str]] = []
        self.answered = 0
        self.explained = 0
        self.last_line = 0
        """The last line answered or failed: every record up to it is settled, as records go in order."""

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

    def batch(self, batch: list[tuple[int, str]]) -> None:
        """Send the batch; ``write`` each answered request's rows as it is answered. A batch retried record by
        record writes each record's row when it comes, so that rows answered before a Ctrl-C are not lost with the
        batch; and a row counts as answered (``answered``, ``last_line``) once written, not before."""
        from botocore.exceptions import ClientError

        try:
            rows = self.split(batch, self.call([line for _, line in batch]))
        except _Miscounted as exc:
            # A model without an explainer answered another number of lines than it was sent: which answer belongs
            # to which record is unknown, so each record is asked alone, and one still miscounted fails.
            failure = str(exc)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code, message = error.get("Code", ""), error.get("Message", str(exc))
            if code not in RECORD_ERRORS or REQUEST_ERRORS.search(message):
                raise
            failure = f"{code}: {message}"
        else:
            self.write(rows)
            self.answered += len(rows)
            self.last_line = batch[-1][0]
            return
        if len(batch) > 1:
            for one in batch:
                self.batch([one])
            return
        self.last_line = batch[0][0]
        self.fail(batch[0][0], failure)

    def fail(self, number: int, error: str) -> None:
        error = _in_lines(error, [number])
        self.failures.append((number, error.replace(f": line {number}: ", ": ", 1)))
        recent = self.failures[-PROBES:]
        alike = {re.sub(r"\bline \d+\b", "line N", e) for _, e in recent}
        if not self.answered and len(recent) == PROBES and len(alike) == 1:
            (first, error), *others = recent
            raise CliError(
                f"line {first}: {error} (So did lines {' and '.join(str(n) for n, _ in others)}, each sent alone, "
                "and no record was answered: an error no record can fix, so the run stops.)",
                EXIT_REFUSED,
            )

    def split(self, batch: list[tuple[int, str]], response: Any) -> list[dict[str, Any]]:
        body = response["Body"].read().decode()
        if response.get("ContentType") != "application/json" or not body.startswith('{"version"'):
            # One record's answer is the whole body (it may span lines); several records get a line each.
            answers = body.splitlines() if len(batch) > 1 else [body] if body.strip() else []
            if len(answers) != len(batch):
                count = "record" if len(batch) == 1 else "records"
                raise _Miscounted(f"the endpoint answered {len(answers)} lines for {len(batch)} {count}")
            return [
                {"line": n, "prediction": _value(a), "explanation": None}
                for (n, _), a in zip(batch, answers, strict=True)
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


class _Miscounted(Exception):
    """The answer of an endpoint without an explainer has another number of lines than the request had records."""


def run(args: argparse.Namespace) -> int:
    if not 1 <= args.batch_size <= MAX_BATCH:
        raise CliError(
            f"--batch-size must be 1 to {MAX_BATCH}: the records of one InvokeEndpoint, whose body holds at most "
            "6 MiB.",
            EXIT_USAGE,
        )
    url = endpoint_url(args, runtime=True)
    out = Output(args.output)
    records = _open_input(args.input, args.header)
    try:
        if args.output is not None and _same_file(records.stream, args.output):
            # Emptied at the first row while still being read, it would end early, or feed our rows back to us.
            raise CliError(f"--output {args.output} is the input file: write the rows to another file.")
        return _run(args, url, records, out)
    finally:
        out.close()
        if args.input != "-":
            records.stream.close()


def _same_file(stream: IO[bytes], path: Path) -> bool:
    try:
        read, written = os.fstat(stream.fileno()), os.stat(path)
    except (OSError, ValueError):  # FILE does not exist yet, or the input has no file descriptor
        return False
    return (read.st_dev, read.st_ino) == (written.st_dev, written.st_ino) and stat.S_ISREG(read.st_mode)


def _run(args: argparse.Namespace, url: str, records: Records, out: Output) -> int:
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    err = console(stderr=True)
    lines = iter(records)
    first = next(lines, None)
    if first is None:
        raise records.error or CliError("no records in the input: write one record per line (CSV or JSON Lines).")
    invoker = Invoker(client("sagemaker-runtime", url, args.region), args, _content_type(args, first[1]), out.write)
    started = time.perf_counter()
    interrupted = False
    try:
        with (
            Progress(
                TextColumn("[bold]invoke[/] " + args.endpoint),
                BarColumn(),
                TaskProgressColumn(),  # the share of the input read; blank for a stream, whose size is unknown
                TextColumn("records: {task.fields[records]}"),
                TimeElapsedColumn(),
                console=err,
                transient=True,
                disable=not err.is_terminal,
            ) as progress,
            translated_errors(url, runtime=True),
        ):
            task = progress.add_task("records", total=records.total, records=0)

            def write(rows: list[dict[str, Any]]) -> None:  # the bar moves with each request, retried records too
                out.write(rows)
                settled = invoker.answered + len(rows) + len(invoker.failures)
                progress.update(task, completed=records.consumed, records=settled)

            invoker.write = write
            for batch in _batches(itertools.chain([first], lines), args.batch_size):
                invoker.batch(batch)
                progress.update(task, completed=records.consumed, records=invoker.answered + len(invoker.failures))
    except KeyboardInterrupt:
        interrupted = True
    if not interrupted and records.error is None:
        out.complete()
    for number, message in invoker.failures:
        err.print(f"line {number}: {message}", markup=False, highlight=False, soft_wrap=True)
    if records.error is not None and not interrupted:
        raise records.error
    done = invoker.answered + len(invoker.failures)
    what = f"{invoker.explained} explained" if args.explain else "predictions only"
    where = f" to {args.output}" if args.output else ""
    failed = f"; {len(invoker.failures)} failed" if invoker.failures else ""
    seconds = time.perf_counter() - started
    took = f"in {seconds:.1f} s{where}"
    if interrupted:
        if done:
            settled = f"up to line {invoker.last_line}: {invoker.answered} of {plural(done, 'record')} answered"
            err.print(
                f"Interrupted {settled} ({what}){failed} {took}; the records after it were not answered.",
                highlight=False,
                soft_wrap=True,
            )
        else:
            err.print(f"Interrupted after {seconds:.1f} s, before any record was answered.", highlight=False)
        return EXIT_INTERRUPTED
    err.print(
        f"{invoker.answered} of {plural(done, 'record')} answered ({what}){failed} {took}.",
        highlight=False,
        soft_wrap=True,
    )
    return EXIT_RECORDS_FAILED if invoker.failures else 0
