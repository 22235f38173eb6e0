"""The ``openclarify`` command. Each subcommand lives in its own module under ``openclarify.commands`` and
registers itself here; this file only builds the parser and maps failures to exit codes (docs/cli.md)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from openclarify import __version__
from openclarify.commands import SUBCOMMANDS
from openclarify.commands.common import (
    EXIT_BROKEN_PIPE,
    EXIT_INTERRUPTED,
    EXIT_USAGE,
    CliError,
    CommandParser,
    fail,
)


def build_parser() -> argparse.ArgumentParser:
    parser = CommandParser(  # its subcommands' parsers are CommandParsers too (add_subparsers takes the type)
        prog="openclarify",
        description="Online Kernel SHAP explanations behind a SageMaker-Clarify-compatible API.",
        epilog="Exit codes: 0 ok, 1 some records failed, 2 usage or configuration error, 3 server unreachable, "
        "4 the server refused the request, 130 interrupted, 141 the reader of stdout stopped early. See docs/cli.md.",
    )
    parser.add_argument("--version", action="version", version=f"openclarify {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        code = _run(argv)
        sys.stdout.flush()  # a reader gone while the last lines sat in the buffer shows up here, not at exit
        return code
    except BrokenPipeError:
        return _stdout_closed()


def _run(argv: Sequence[str] | None) -> int:
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


def _stdout_closed() -> int:
    """Whoever read stdout stopped early (``openclarify invoke ENDPOINT FILE | head -1``): end quietly.

    Python ignores SIGPIPE, so a closed pipe surfaces as BrokenPipeError. The usual recipe: point stdout at
    /dev/null, so that the interpreter's last flush at exit does not fail (and print) once more, and exit. The
    status is 141 (128 + SIGPIPE), what a shell reports for ``cat``, ``grep`` or ``yes`` stopped by the same closed
    pipe, so a script under ``set -o pipefail`` can treat this command as it treats them. Not 1: for ``invoke``
    that means records failed.
    """
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):  # a stdout without a file descriptor (e.g. replaced in-process): nothing to do
        pass
    return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    sys.exit(main())
