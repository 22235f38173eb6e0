"""What every client subcommand shares: exit codes, one-line errors, and boto3 clients for a server.

Errors reach the user as one line that says what went wrong and how to fix it, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

EXIT_OK = 0
EXIT_RECORDS_FAILED = 1
"""``invoke``: some records failed (each reported with its line number); the others were written."""
EXIT_USAGE = 2
"""Bad flags, an unreadable input file, or a setting the server refuses (e.g. a public address without keys)."""
EXIT_UNREACHABLE = 3
"""No server answered at the endpoint URL."""
EXIT_REFUSED = 4
"""The server answered with an error (unknown name, validation, access denied, model error)."""
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141
"""Whoever read stdout stopped early (``openclarify invoke ... | head -1``): 128 + SIGPIPE, as for other tools."""

ENDPOINT_ENV = "AWS_ENDPOINT_URL_SAGEMAKER"
RUNTIME_ENDPOINT_ENV = "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME"
DEFAULT_URL = "http://127.0.0.1:8080"


class CliError(Exception):
    def __init__(self, message: str, code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def fail(exc: CliError) -> int:
    print(f"openclarify: {exc.message}", file=sys.stderr)
    return exc.code


def console(**kwargs: Any) -> Console:
    """A rich Console whose closed pipe ends the command as any other write to a closed stdout does (``cli.main``:
    quietly, with EXIT_BROKEN_PIPE). Rich's own handling exits with 1, which ``invoke`` uses for failed records."""
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True  # nothing more to write: later prints are dropped
            raise BrokenPipeError

    return _Console(**kwargs)


def add_server_arguments(parser: argparse.ArgumentParser, runtime: bool = False) -> None:
    """``runtime``: the command calls SageMaker's runtime API, whose URL ``endpoint_url(runtime=True)`` reads
    from ``$AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`` first."""
    default = f"${RUNTIME_ENDPOINT_ENV}, then ${ENDPOINT_ENV}" if runtime else f"${ENDPOINT_ENV}"
    parser.add_argument(
        "--endpoint-url",
        help=f"the server's URL (default: {default}, else {DEFAULT_URL})",
    )
    parser.add_argument(
        "--region", help="region to sign for (default: $AWS_REGION / $AWS_DEFAULT_REGION, else us-east-1)"
    )


def endpoint_url(args: argparse.Namespace, runtime: bool = False) -> str:
    if getattr(args, "endpoint_url", None):
        return args.endpoint_url
    if runtime and os.environ.get(RUNTIME_ENDPOINT_ENV):
        return os.environ[RUNTIME_ENDPOINT_ENV]
    return os.environ.get(ENDPOINT_ENV) or DEFAULT_URL


def client(service: str, url: str, region: str | None = None) -> Any:
    """A boto3 client for ``url``. Credentials come from the usual AWS chain; when there are none, placeholder
    keys are used, which a server without access keys accepts (it does not check signatures)."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session()
    region = region or session.region_name or "us-east-1"
    kwargs: dict[str, Any] = {}
    if session.get_credentials() is None:
        kwargs = {"aws_access_key_id": "openclarify", "aws_secret_access_key": "openclarify"}
    config = Config(retries={"max_attempts": 2, "mode": "standard"}, read_timeout=70, connect_timeout=5)
    return session.client(service, endpoint_url=url, region_name=region, config=config, **kwargs)


@contextlib.contextmanager
def translated_errors(url: str, runtime: bool = False) -> Iterator[None]:
    """botocore's exceptions as one-line CliErrors with the fix. ``runtime`` as for :func:`endpoint_url`."""
    from botocore.exceptions import ClientError, EndpointConnectionError, NoRegionError

    try:
        yield
    except EndpointConnectionError:
        variables = f"{RUNTIME_ENDPOINT_ENV} or {ENDPOINT_ENV}" if runtime else ENDPOINT_ENV
        raise CliError(
            f"no server answers at {url}: start one with 'openclarify serve' (or 'openclarify demo'), or pass "
            f"--endpoint-url / set {variables}.",
            EXIT_UNREACHABLE,
        ) from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "Error")
        message = error.get("Message", str(exc))
        hint = ""
        if code in (
            "MissingAuthenticationTokenException",
            "UnrecognizedClientException",
            "AccessDeniedException",
            "InvalidSignatureException",
            "IncompleteSignature",
            "MissingAuthenticationToken",
        ):
            hint = " Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY to a key pair the server knows."
        raise CliError(f"{code}: {message}{hint}", EXIT_REFUSED) from None
    except NoRegionError:
        raise CliError("no region: pass --region or set AWS_REGION.", EXIT_USAGE) from None
