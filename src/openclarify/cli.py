"""The ``openclarify`` command. Each subcommand lives in its own module and registers itself here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

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

    serve = sub.add_parser("serve", help="run the SageMaker-compatible server (control plane and runtime)")
    serve.add_argument("--host", help="interface to bind (default: 127.0.0.1; env OPENCLARIFY_HOST)")
    serve.add_argument("--port", type=int, help="port (default: 8080; env OPENCLARIFY_PORT)")
    serve.add_argument("--data-dir", type=Path, help="state directory (default: $XDG_DATA_HOME/openclarify)")
    serve.add_argument(
        "--model-root",
        type=Path,
        action="append",
        dest="model_roots",
        help="directory ModelDataUrl may point into; repeatable (default: the current directory and the data dir)",
    )
    serve.add_argument(
        "--credentials-file", type=Path, help="file of AKID:SECRET lines (default: <data-dir>/credentials)"
    )
    serve.add_argument(
        "--insecure", action="store_true", default=None, help="allow a non-loopback host without access keys"
    )
    serve.set_defaults(handler=_run_serve)
    return parser


def _run_demo(args: argparse.Namespace) -> int:
    from openclarify.demo import run_demo

    return run_demo(n_records=args.records, seed=args.seed)


def _run_serve(args: argparse.Namespace) -> int:
    from openclarify.app import UnsafeBinding, run
    from openclarify.settings import Settings

    roots = tuple(args.model_roots) if args.model_roots else None
    settings = Settings.from_env(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir,
        model_roots=roots,
        credentials_file=args.credentials_file,
        insecure=args.insecure,
    )
    try:
        run(settings)
    except UnsafeBinding as exc:
        print(f"openclarify: {exc}", file=sys.stderr)
        return 2
    return 0


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
