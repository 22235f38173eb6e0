"""What every client subcommand shares: exit codes, one-line errors, and boto3 clients for a server.

Errors reach the user as one line that says what went wrong and how to fix it, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import shutil
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

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


class CommandParser(argparse.ArgumentParser):
    """argparse's parser, plus ``intermixed=True`` for a subcommand whose positionals may stand among its flags.

    Plain argparse gives an optional positional its default as soon as a flag follows the first positional, so
    ``invoke ENDPOINT --extended FILE`` ends in "unrecognized arguments: FILE". Intermixed parsing reads the flags
    first and the positionals after. The parent parser hands a subcommand its arguments through
    ``parse_known_args`` (``parse_intermixed_args`` refuses a parser with subcommands), so the switch is here."""

    def __init__(self, *args: Any, intermixed: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._intermixed = intermixed
        self._parsing = False

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if not self._intermixed or self._parsing:
            return super().parse_known_args(args, namespace)
        self._parsing = True  # parse_known_intermixed_args calls back into parse_known_args, twice
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._parsing = False


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def command_name() -> str:
    """This command as the user can type it again in the same shell, for the commands the demo suggests.

    ``make demo`` runs ``.venv/bin/openclarify``, which is not on PATH: suggesting a bare ``openclarify`` would
    fail. ``sys.argv[0]`` is what started us: keep it, unless PATH finds the same program under its bare name."""
    started = sys.argv[0] if sys.argv else ""
    if not started or Path(started).name == "__main__.py":  # python -m openclarify
        return f"{shlex.quote(sys.executable)} -m openclarify"
    found = shutil.which("openclarify")
    if found and Path(found).resolve() == Path(started).resolve():
        return "openclarify"
    return shlex.quote(started)


def console(**kwargs: Any) -> Console:
    """A rich Console whose closed pipe ends the command as any other write to a closed stdout does (``cli.main``:
    quietly, with EXIT_BROKEN_PIPE). Rich's own handling exits with 1, which ``invoke`` uses for failed records."""
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True  # nothing more to write: later prints are dropped
            raise BrokenPipeError

    return _Console(**kwargs)


def add_server_arguments(parser: argparse.ArgumentParser, runtime: bool = False, default: Any = None) -> None:
    """``runtime``: the command calls SageMaker's runtime API, whose URL ``endpoint_url(runtime=True)`` reads
    from ``$AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME`` first. ``default``: the flags' value when not given
    (``argparse.SUPPRESS`` for a sub-action that must not overwrite its parent's)."""
    fallback = f"${RUNTIME_ENDPOINT_ENV}, then ${ENDPOINT_ENV}" if runtime else f"${ENDPOINT_ENV}"
    parser.add_argument(
        "--endpoint-url",
        default=default,
        help=f"the server's URL (default: {fallback}, else {DEFAULT_URL})",
    )
    parser.add_argument(
        "--region",
        default=default,
        help="region to sign for (default: $AWS_REGION / $AWS_DEFAULT_REGION, else us-east-1)",
    )


def endpoint_url(args: argparse.Namespace, runtime: bool = False) -> str:
    """The server's URL from the flag, else the environment, else the default; refused here, with where it came
    from, when it is not an http(s) URL (botocore would raise a bare ValueError at the first call)."""
    candidates = [("--endpoint-url", getattr(args, "endpoint_url", None))]
    if runtime:
        candidates.append((RUNTIME_ENDPOINT_ENV, os.environ.get(RUNTIME_ENDPOINT_ENV)))
    candidates.append((ENDPOINT_ENV, os.environ.get(ENDPOINT_ENV)))
    for source, url in candidates:
        if url:
            _check_url(source, url)
            return url
    return DEFAULT_URL


def _check_url(source: str, url: str) -> None:
    try:
        parts = urlsplit(url)
        port_ok = parts.port is None or parts.port >= 0  # reading .port raises ValueError for host:abc, host:99999
        ok = port_ok and parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        ok = False
    if not ok:
        raise CliError(f"{source} {url!r} is not a server URL: write it as http://HOST:PORT (e.g. {DEFAULT_URL}).")


def client(service: str, url: str, region: str | None = None) -> Any:
    """A boto3 client for ``url``. Credentials come from the usual AWS chain; when there are none, placeholder
    keys are used, which a server without access keys accepts (it does not check signatures)."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError

    runtime = service == "sagemaker-runtime"
    try:
        session = boto3.session.Session()
        region = region or session.region_name or "us-east-1"
        kwargs: dict[str, Any] = {}
        if session.get_credentials() is None:
            kwargs = {"aws_access_key_id": "openclarify", "aws_secret_access_key": "openclarify"}
        config = Config(retries={"max_attempts": 2, "mode": "standard"}, read_timeout=70, connect_timeout=5)
        made = session.client(service, endpoint_url=url, region_name=region, config=config, **kwargs)
    except ValueError as exc:  # botocore's checks of the URL and region (InvalidRegionError is a ValueError)
        raise CliError(f"cannot make a client for {url} in region {region!r}: {exc}", EXIT_USAGE) from None
    except BotoCoreError as exc:
        error = _configuration_error(exc)
        if error is None:
            raise
        raise error from None
    made.meta.events.register("before-parse", _refuse_foreign_answers(url, runtime))
    return made


def _server_variables(runtime: bool) -> str:
    return f"{RUNTIME_ENDPOINT_ENV} or {ENDPOINT_ENV}" if runtime else ENDPOINT_ENV


def _configuration_error(exc: Exception) -> CliError | None:
    """The AWS configuration's mistakes (credentials, profiles, config files) as one line with the fix, exit 2;
    None for any other botocore error. botocore raises them when the session is made or a request is signed."""
    from botocore import exceptions

    if isinstance(exc, exceptions.PartialCredentialsError):
        return CliError(
            f"incomplete AWS credentials: {exc}. Set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or neither "
            "(a server without access keys takes any).",
            EXIT_USAGE,
        )
    if isinstance(exc, exceptions.ProfileNotFound):
        return CliError(
            f"{exc}: set AWS_PROFILE to a profile of ~/.aws/config or ~/.aws/credentials, or unset it.", EXIT_USAGE
        )
    credentials = (
        exceptions.NoCredentialsError,
        exceptions.CredentialRetrievalError,
        exceptions.ConfigParseError,
        exceptions.ConfigNotFound,
        exceptions.InvalidConfigError,
        exceptions.TokenRetrievalError,
        exceptions.SSOError,
        exceptions.UnknownCredentialError,
        exceptions.MetadataRetrievalError,
        exceptions.RefreshWithMFAUnsupportedError,
    )
    if isinstance(exc, credentials):
        return CliError(f"cannot read the AWS credentials or configuration: {exc}.", EXIT_USAGE)
    return None


def _not_sagemaker(url: str, runtime: bool, status: int, text: str) -> CliError:
    shown = " ".join(text.split())
    shown = repr(shown if len(shown) <= 80 else shown[:79] + "…") if shown else "an empty body"
    return CliError(
        f"{url} answered HTTP {status} ({shown}), not as a SageMaker API answers: check --endpoint-url "
        f"(or {_server_variables(runtime)}); 'openclarify serve' prints its URL as it starts.",
        EXIT_REFUSED,
    )


def _refuse_foreign_answers(url: str, runtime: bool) -> Any:
    """A botocore ``before-parse`` handler: an answer that is not SageMaker's, from a server that is something
    else, as one line. botocore's parsers take any body for one: a JSON number or list ends in an AttributeError
    deep inside them, and text or an unrelated JSON object in a listing without its list (a KeyError later)."""
    import json

    from botocore.parsers import create_parser

    def check(operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
        status = response_dict["status_code"]
        body = response_dict["body"]
        protocol = getattr(operation_model.service_model, "resolved_protocol", operation_model.metadata["protocol"])
        if status < 300 and (protocol != "json" or operation_model.has_streaming_output):
            return  # InvokeEndpoint's answer is the model's own: any bytes are valid
        if not isinstance(body, bytes):
            return
        try:
            answer = json.loads(body) if body.strip() else {}
        except ValueError:
            if status >= 300:
                return  # botocore reports the status and the text, as an error without a code: see translated_errors
            answer = None
        required = (operation_model.output_shape.required_members if operation_model.output_shape else None) or []
        if not isinstance(answer, dict) or (status < 300 and any(member not in answer for member in required)):
            raise _not_sagemaker(url, runtime, status, body.decode(errors="replace"))
        if status < 300 and operation_model.output_shape is not None:
            # A trial parse: a member of the wrong type (a list of numbers for models, a time that is no time) ends
            # in an AttributeError or ValueError deep inside botocore's parser, which no caller can tell from a bug.
            try:
                create_parser(protocol).parse(dict(response_dict), operation_model.output_shape)
            except Exception:
                raise _not_sagemaker(url, runtime, status, body.decode(errors="replace")) from None

    return check


@contextlib.contextmanager
def translated_errors(url: str, runtime: bool = False) -> Iterator[None]:
    """botocore's exceptions as one-line CliErrors with the fix. ``runtime`` as for :func:`endpoint_url`."""
    from botocore.exceptions import (
        BotoCoreError,
        ClientError,
        ConnectTimeoutError,
        EndpointConnectionError,
        HTTPClientError,
        NoRegionError,
        SSLError,
    )
    from botocore.exceptions import ConnectionError as BotocoreConnectionError
    from botocore.parsers import ResponseParserError

    variables = _server_variables(runtime)
    try:
        yield
    except (EndpointConnectionError, ConnectTimeoutError):
        raise CliError(
            f"no server answers at {url}: start one with 'openclarify serve' (or 'openclarify demo'), or pass "
            f"--endpoint-url / set {variables}.",
            EXIT_UNREACHABLE,
        ) from None
    except SSLError:  # typically https:// against a plain-HTTP server, as openclarify serve is
        plain = url.replace("https://", "http://", 1)
        raise CliError(
            f"no server answers TLS at {url}: if the server speaks plain HTTP (openclarify serve does), use {plain}.",
            EXIT_UNREACHABLE,
        ) from None
    except (BotocoreConnectionError, HTTPClientError) as exc:  # closed mid-answer, no answer in time, a failing proxy
        raise CliError(f"the connection to {url} failed: {exc}", EXIT_UNREACHABLE) from None
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "Error")
        message = " ".join(str(error.get("Message", exc)).split())  # an HTML error page holds many lines
        if code.isdigit():  # botocore's code for an error whose body names none: not SageMaker's error
            raise _not_sagemaker(url, runtime, int(code), message) from None
        hint = ""
        if code in (
            "MissingAuthenticationTokenException",
            "UnrecognizedClientException",
            "AccessDeniedException",
            "InvalidSignatureException",
            "IncompleteSignature",
            "MissingAuthenticationToken",
        ):
            hint = (
                " Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, a profile of your shared "
                "credentials file) to a key pair the server knows."
            )
        raise CliError(f"{code}: {message}{hint}", EXIT_REFUSED) from None
    except NoRegionError:
        raise CliError("no region: pass --region or set AWS_REGION.", EXIT_USAGE) from None
    except ResponseParserError as exc:  # what the check of each answer (client) does not foresee
        raise CliError(
            f"{url} did not answer as a SageMaker API does ({' '.join(str(exc).split())}): check --endpoint-url "
            f"(or {variables}).",
            EXIT_REFUSED,
        ) from None
    except BotoCoreError as exc:  # credentials that are read, or refreshed, as a request is signed
        error = _configuration_error(exc)
        if error is None:
            raise
        raise error from None
