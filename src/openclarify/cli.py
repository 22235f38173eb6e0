"""The ``openclarify`` command. Each subcommand lives in its own module under ``openclarify.commands`` and
registers itself here; this file only builds the parser and maps failures to exit codes (docs/cli.md)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from openclarify import __version__
from openclarify.commands import SUBCOMMANDS
from openclarify.commands.common import EXIT_INTERRUPTED, EXIT_USAGE, CliError, fail


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openclarify",
        description="Online Kernel SHAP explanations behind a SageMaker-Clarify-compatible API.",
        epilog="Exit codes: 0 ok, 1 some records failed, 2 usage or configuration error, 3 server unreachable, "
        "4 the server refused the request, 130 interrupted. See docs/cli.md.",
    )
    parser.add_argument("--version", action="version", version=f"openclarify {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.handler(args) or 0)
    except CliError as exc:
        return fail(exc)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
