"""``openclarify models | configs | endpoints [list | describe NAME]``: what a server holds, as tables.

They call the server through boto3 (``--endpoint-url`` or ``$AWS_ENDPOINT_URL_SAGEMAKER``), as any client would.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

from openclarify.commands.common import (
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


def run(args: argparse.Namespace) -> int:
    from rich.json import JSON
    from rich.table import Table

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
            table = Table(title=f"{args.kind[:-1]} {args.name}", title_justify="left", show_header=False)
            table.add_column(style="bold")
            table.add_column()
            for field, value in answer.items():
                if isinstance(value, dict | list):
                    table.add_row(field, JSON(json.dumps(value)))
                else:
                    table.add_row(field, str(value))
            out.print(table)
            return 0
        rows = [row for page in sm.get_paginator(list_op).paginate() for row in page[key]]
    if args.json:
        print(json.dumps(_plain(rows), indent=2))
        return 0
    table = Table(title=plural(len(rows), args.kind[:-1]), title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        cells = [_cell(row.get(column, "")) for column in columns]
        if args.kind == "endpoints":
            status = cells[1]
            colour = {"InService": "green", "Failed": "red"}.get(status, "yellow")
            cells[1] = f"[{colour}]{status}[/]"
        table.add_row(*cells)
    out.print(table)
    return 0
