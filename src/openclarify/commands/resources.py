"""``openclarify models | configs | endpoints [list | describe NAME]``: what a server holds, as tables.

They call the server through boto3 (``--endpoint-url`` or ``$AWS_ENDPOINT_URL_SAGEMAKER``), as any client would.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

from openclarify.commands.common import (
    ENDPOINT_ENV,
    EXIT_REFUSED,
    CliError,
    add_server_arguments,
    client,
    console,
    endpoint_url,
    plural,
    translated_errors,
)

# command → (list operation, list key, describe operation, name parameter, columns of the list table)
KINDS: dict[str, tuple[str, str, str, str, tuple[str, ...]]] = {
    "models": ("list_models", "Models", "describe_model", "ModelName", ("ModelName", "CreationTime")),
    "configs": (
        "list_endpoint_configs",
        "EndpointConfigs",
        "describe_endpoint_config",
        "EndpointConfigName",
        ("EndpointConfigName", "CreationTime"),
    ),
    "endpoints": (
        "list_endpoints",
        "Endpoints",
        "describe_endpoint",
        "EndpointName",
        ("EndpointName", "EndpointStatus", "CreationTime", "LastModifiedTime"),
    ),
}
HELP = {
    "models": "list models, or describe one",
    "configs": "list endpoint configs, or describe one (its ExplainerConfig included)",
    "endpoints": "list endpoints with their status, or describe one",
}


def register(sub: argparse._SubParsersAction) -> None:
    for kind in KINDS:
        parser = sub.add_parser(kind, help=HELP[kind], description=HELP[kind].capitalize() + ", through boto3.")
        actions = parser.add_subparsers(dest="action", metavar="ACTION")
        listing = actions.add_parser("list", help=f"list {kind} (the default)")
        describe = actions.add_parser("describe", help="describe one by name")
        describe.add_argument("name", metavar="NAME")
        # The flags go before ACTION or after it. argparse parses an action's arguments into a namespace of its own
        # and copies every value back over the parent's, defaults included: with a default after ACTION,
        # `endpoints --json describe X` would lose its --json. SUPPRESS leaves out what was not given there.
        for p in (parser, listing, describe):
            after_action = p is not parser
            add_server_arguments(p, default=argparse.SUPPRESS if after_action else None)
            p.add_argument(
                "--json",
                action="store_true",
                default=argparse.SUPPRESS if after_action else False,
                help="print the API's JSON instead of a table",
            )
        parser.set_defaults(handler=run, kind=kind, action="list")
        listing.set_defaults(handler=run, kind=kind)
        describe.set_defaults(handler=run, kind=kind)


def _plain(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _cell(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    return str(value)


_UNBOUNDED = 1 << 20  # wider than any table: measured against it, a table asks for the width it needs


def _print(out: Any, table: Any) -> None:
    """Print ``table`` with nothing cut. On a terminal, a long cell folds onto more lines. Elsewhere (a pipe, a
    file) there is no screen to fit: the table gets the width it needs, so each row stays on one line for grep and
    awk, instead of rich's default 80 columns, which wrapped every row of a 63-character name in two."""
    from rich.measure import Measurement

    if not out.is_terminal:
        needed = Measurement.get(out, out.options.update_width(_UNBOUNDED), table).maximum
        out.width = max(out.width, needed)
    out.print(table)


def run(args: argparse.Namespace) -> int:
    from botocore.exceptions import PaginationError
    from rich.json import JSON
    from rich.table import Table
    from rich.text import Text

    # Every cell is a Text, never a str: rich reads a str as markup, so a value holding brackets (a FailureReason
    # that quotes a baseline value "[/x]") was altered or ended in a MarkupError traceback.
    list_op, key, describe_op, param, columns = KINDS[args.kind]
    url = endpoint_url(args)
    sm = client("sagemaker", url, args.region)
    out = console()
    with translated_errors(url):
        if args.action == "describe":
            answer = _plain(getattr(sm, describe_op)(**{param: args.name}))
            if args.json:
                print(json.dumps(answer, indent=2))
                return 0
            # The server's spelling of the name: names match case-insensitively, so the one typed may differ.
            title = f"{args.kind[:-1]} {answer.get(param, args.name)}"
            table = Table(title=Text(title), title_justify="left", show_header=False)
            table.add_column(style="bold", overflow="fold")
            table.add_column(overflow="fold")
            for field, value in answer.items():
                if isinstance(value, dict | list):
                    document = JSON(json.dumps(value))
                    document.text.no_wrap = False  # rich's JSON never wraps, so a long value was cut with "…"
                    table.add_row(Text(field), document)
                else:
                    table.add_row(Text(field), Text(str(value)))
            _print(out, table)
            return 0
        try:
            rows = [row for page in sm.get_paginator(list_op).paginate() for row in page[key]]
        except PaginationError as exc:  # a NextToken answered twice: paging would never end
            raise CliError(
                f"{url} did not answer as a SageMaker API does ({exc}): check --endpoint-url (or {ENDPOINT_ENV}).",
                EXIT_REFUSED,
            ) from None
    if args.json:
        print(json.dumps(_plain(rows), indent=2))
        return 0
    table = Table(title=plural(len(rows), args.kind[:-1]), title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        cells = [Text(_cell(row.get(column, ""))) for column in columns]
        if args.kind == "endpoints":
            status = cells[1]
            status.stylize({"InService": "green", "Failed": "red"}.get(status.plain, "yellow"))
        table.add_row(*cells)
    _print(out, table)
    return 0
