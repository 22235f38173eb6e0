"""The ``openclarify`` command. Each subcommand lives in its own module and registers itself here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from openclarify import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="openclarify",
        description="Online Kernel SHAP explanations behind a SageMaker-Clarify-compatible API.",
    )
    parser.add_argument("--version", action="version", version=f"openclarify {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    demo = sub.add_parser("demo", help="train a small model and explain a few records")
    demo.add_argument("--records", type=int, default=3, help="how many records to explain (default: 3)")
    demo.add_argument("--seed", type=int, default=0, help="seed for the model and the explainer (default: 0)")
    demo.set_defaults(handler=_run_demo)
    return parser


def _run_demo(args: argparse.Namespace) -> int:
    from openclarify.demo import run_demo

    return run_demo(n_records=args.records, seed=args.seed)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return 2
    try:
        return int(args.handler(args) or 0)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
