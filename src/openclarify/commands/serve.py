"""``openclarify serve``: every :class:`~openclarify.settings.Settings` field as a flag and an environment
variable (flags win). Access keys are read from the environment or a file only, never from the command line,
where other users could see them in the process list."""

from __future__ import annotations

import argparse
import errno
import importlib.util
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from openclarify.commands.common import EXIT_USAGE, CliError
from openclarify.settings import ENV_PREFIX

if TYPE_CHECKING:
    from openclarify.settings import Settings

# (Settings field, type for argparse or "flag"/"switch", help). A test checks every field is here and documented.
OPTIONS: tuple[tuple[str, object, str], ...] = (
    ("host", str, "interface to bind (default: 127.0.0.1); without access keys only loopback is allowed"),
    ("port", int, "TCP port (default: 8080)"),
    (
        "data_dir",
        Path,
        "state directory: SQLite database and the optional credentials file "
        "(default: $XDG_DATA_HOME/openclarify, else ~/.local/share/openclarify)",
    ),
    (
        "database_url",
        str,
        "control-plane database: postgresql://user@host:port/db (shared, needs the postgres extra) or "
        "sqlite:///path (default: <data-dir>/openclarify.db)",
    ),
    ("ray", "flag", "run as a Ray Serve application on a running Ray cluster (needs --database-url postgresql://)"),
    ("ray_address", str, "Ray cluster address for --ray (default: auto, the local 'ray start --head')"),
    (
        "model_roots",
        Path,
        "directory a ModelDataUrl or ShapBaselineUri may point into; repeatable "
        "(env: paths joined by ':'; default: the current directory and the data dir)",
    ),
    (
        "credentials_file",
        Path,
        "file of AKID:SECRET lines that turns authentication on (default: <data-dir>/credentials when present)",
    ),
    (
        "insecure",
        "flag",
        "allow a non-loopback --host without access keys (unauthenticated: anyone who can reach "
        "the port can deploy models)",
    ),
    ("region", str, "region written into ARNs (default: us-east-1)"),
    ("account_id", str, "twelve-digit account id written into ARNs (default: 000000000000)"),
    ("invoke_deadline_seconds", float, "upper bound of one InvokeEndpoint, as SageMaker's 60 s (default: 60)"),
    (
        "container_startup_timeout_seconds",
        float,
        "how long a remote container may take to answer GET /ping (default: 240)",
    ),
    (
        "create_grace_seconds",
        float,
        "how long Create/Update/DeleteEndpoint wait for a fast deployment before answering (default: 2)",
    ),
    ("allow_https_baseline", "flag", "let ShapBaselineUri be fetched over https (default: off)"),
    ("clock_skew_seconds", float, "largest accepted X-Amz-Date difference from the server clock (default: 900)"),
    (
        "max_queued_invocations",
        int,
        "how many invocations may wait for a busy variant; one more gets "
        "ServiceUnavailable (503) at once (default: 64)",
    ),
    ("max_text_units", int, "most text units one record may have to be explained (default: 2000; docs/text.md)"),
    (
        "max_design_cells",
        int,
        "largest coalition design one explanation may sample, players x coalitions, about 20-40 bytes each "
        "(default: 16777216)",
    ),
    ("console", "switch", "serve the web console at / (default: on; only ever served while authentication is off)"),
    (
        "container_allowed_hosts",
        lambda raw: tuple(h.strip() for h in raw.split(",") if h.strip()),
        "hosts besides loopback a model's Image URL may name, comma-separated; '*' allows any (default: none, "
        "loopback containers only)",
    ),
    (
        "trusted_hosts",
        lambda raw: tuple(h.strip() for h in raw.split(",") if h.strip()),
        "host names besides loopback ones requests may name while the server runs without access keys, "
        "comma-separated (default: none)",
    ),
    (
        "precheck_allowed_hosts",
        lambda raw: tuple(h.strip() for h in raw.split(",") if h.strip()),
        "hosts besides loopback whose containers POST /-/precheck may call, comma-separated; '*' allows any "
        "(default: none, loopback only)",
    ),
    ("precheck_timeout_seconds", float, "upper bound of one POST /-/precheck (default: 30)"),
    ("max_running_prechecks", int, "most POST /-/precheck checks run at once; one more answers 503 (default: 4)"),
)
ENV_ONLY = (("access_keys", "AKID:SECRET pairs separated by commas; turns authentication on"),)


def options() -> list[tuple[str, object, str]]:
    """OPTIONS for the fields Settings has, plus a plain flag for any field added without an entry here."""
    from dataclasses import MISSING, fields

    from openclarify.settings import Settings

    known = {f.name: f for f in fields(Settings)}
    out = [option for option in OPTIONS if option[0] in known]
    listed = {name for name, _, _ in OPTIONS} | {name for name, _ in ENV_ONLY}
    for name, f in known.items():
        if name not in listed:
            default = f.default if f.default is not MISSING else None
            kind = "flag" if isinstance(default, bool) else type(default) if default is not None else str
            out.append((name, kind, f"see docs/cli.md (default: {default})"))
    return out


def env_name(field: str) -> str:
    return ENV_PREFIX + field.upper()


def register(sub: argparse._SubParsersAction) -> None:
    env_lines = "\n".join(f"  {env_name(f)}: {text}" for f, text in ENV_ONLY)
    parser = sub.add_parser(
        "serve",
        help="run the SageMaker-compatible server (control plane, runtime, console, metrics)",
        description="Run the server: the AWS JSON 1.1 control plane at POST /, InvokeEndpoint at "
        "POST /endpoints/NAME/invocations, the web console at /, Prometheus metrics at /metrics. "
        "Every flag also reads an environment variable, named after it; flags win.",
        epilog=f"Environment only:\n{env_lines}\nSee docs/cli.md for every setting.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    for field, kind, text in options():
        flag = flag_name(field)
        help_text = f"{text} [env {env_name(field)}]"
        if kind == "flag":
            parser.add_argument(flag, dest=field, action="store_true", default=None, help=help_text)
        elif kind == "switch":
            parser.add_argument(flag, dest=field, action=argparse.BooleanOptionalAction, default=None, help=help_text)
        elif field == "model_roots":
            parser.add_argument(flag, dest=field, type=Path, action="append", help=help_text)
        else:
            parser.add_argument(flag, dest=field, type=kind, help=help_text)  # type: ignore[arg-type]
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from openclarify.app import UnsafeBinding
    from openclarify.app import run as run_server
    from openclarify.settings import SECRETS, SettingError, Settings
    from openclarify.store import DatabaseUnavailable, SchemaTooNew

    overrides = {field: getattr(args, field) for field, _, _ in options()}
    if overrides["model_roots"]:
        overrides["model_roots"] = tuple(overrides["model_roots"])
    try:
        settings = Settings.from_env(**overrides)
    except SettingError as exc:
        value = "" if exc.setting in SECRETS else getattr(args, exc.setting, "")
        source = exc.source or f"{flag_name(exc.setting)} {value}".rstrip()
        raise CliError(f"invalid setting {source}: {exc.reason}. See 'openclarify serve --help'.", EXIT_USAGE) from None
    if settings.ray:
        try:
            from openclarify.serving.ray import RaySetupError
            from openclarify.serving.ray import run as run_server
        except ImportError as exc:
            raise CliError(f"--ray needs Ray Serve: pip install 'openclarify[ray]' ({exc})", EXIT_USAGE) from None
    else:
        RaySetupError = UnsafeBinding
    try:
        check_can_serve(settings)
        with sole_server(settings):
            run_server(settings)
    except (UnsafeBinding, RaySetupError) as exc:
        raise CliError(str(exc), EXIT_USAGE) from None
    except _database_errors(settings) as exc:  # a PostgreSQL server that is down, refuses us, or has no such database
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CliError(f"cannot open the database of {flag_name('database_url')}: {reason}", EXIT_USAGE) from None
    except (SchemaTooNew, DatabaseUnavailable) as exc:  # a schema this version cannot use, found before serving
        raise CliError(f"cannot use the database: {str(exc).rstrip('.')}.", EXIT_USAGE) from None
    except OSError as exc:  # whatever check_can_serve did not foresee, e.g. an unreadable credentials file
        where = f" ({exc.filename})" if exc.filename else ""
        raise CliError(f"cannot start the server: {exc.strerror or exc}{where}.", EXIT_USAGE) from None
    return 0


def _uses_postgres(settings: Settings) -> bool:
    from openclarify.store.postgres import is_postgres_url

    return is_postgres_url(settings.database_url or "")


def _database_errors(settings: Settings) -> tuple[type[Exception], ...]:
    """psycopg's errors when the settings name a PostgreSQL database (and psycopg is there), else none."""
    if not _uses_postgres(settings):
        return ()
    try:
        import psycopg
    except ImportError:  # refused by check_can_serve; this runs for whatever exception the start raised
        return ()
    return (psycopg.Error,)


def check_can_serve(settings: Settings) -> None:
    """Find what would stop the server from starting before it starts, as one line with the fix: otherwise a
    data directory that cannot be made is a traceback, and a port in use is uvicorn's log line and exit status 3,
    which docs/cli.md keeps for "no server answered"."""
    from openclarify.app import is_loopback

    named = settings.credentials_file
    if named is not None and not named.is_file():
        # Read only when present, as the default <data-dir>/credentials is: a file named but missing would
        # quietly leave the server without authentication.
        what = "is not a file" if named.exists() else "does not exist"
        raise CliError(
            f"credentials file {named} {what}: pass --credentials-file (or set {env_name('credentials_file')} to) a "
            "file of AKID:SECRET lines, or leave it out."
        )
    try:
        keys = settings.resolved_access_keys()
    except ValueError as exc:
        path = settings.credentials_file or settings.data_dir / "credentials"
        raise CliError(f"credentials file {path}: {exc}.", EXIT_USAGE) from None
    if _uses_postgres(settings) and importlib.util.find_spec("psycopg") is None:
        raise CliError(
            f"{flag_name('database_url')} postgresql://… needs psycopg: pip install 'openclarify[postgres]'."
        )
    if settings.database_url is None:  # the default SQLite database, in the data directory
        fix = f"Pass --data-dir (or set {env_name('data_dir')} to) a directory you can write."
        try:
            settings.data_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CliError(f"cannot create the data directory {settings.data_dir}: {exc.strerror}. {fix}") from None
        if not os.access(settings.data_dir, os.W_OK):
            raise CliError(f"cannot write the data directory {settings.data_dir}: permission denied. {fix}")
    # Under --ray, Ray's proxy owns the port. A binding app.run refuses is reported by it, with its own fix.
    if not settings.ray and (keys or settings.insecure or is_loopback(settings.host)):
        check_port(settings.host, settings.port)


@contextmanager
def sole_server(settings: Settings) -> Iterator[None]:
    """Hold the database for this server's life (``store.held_exclusively``): a second server on it is refused with
    one line, since each serves endpoints from its own memory (one kept answering an endpoint the other had
    deleted)."""
    from openclarify.app import DB_FILE
    from openclarify.store import DatabaseInUse, held_exclusively

    try:
        with held_exclusively(settings.database_url, settings.data_dir / DB_FILE):
            yield
    except DatabaseInUse as exc:
        where = "--database-url" if _uses_postgres(settings) else flag_name("data_dir")
        raise CliError(
            f"another openclarify server is using {exc}: stop it, or give this one another {where}.", EXIT_USAGE
        ) from None


def check_port(host: str, port: int) -> None:
    """Bind host:port once, as uvicorn will (SO_REUSEADDR, IPv6 sockets for IPv6 only). Something else may take
    the port between this check and uvicorn's bind; then uvicorn's own message shows."""
    import socket

    fix = f"pass --port (or set {env_name('port')} to) a free one, or 0 for any"
    try:
        addresses = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise CliError(f"cannot listen on {host}: {exc.strerror}. Pass --host an address of this machine.") from None
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE:
                    raise CliError(f"port {port} on {host} is in use (another server?): stop that, or {fix}.") from None
                raise CliError(f"cannot listen on {host} port {port}: {exc.strerror}; {fix}.") from None


def flag_name(field: str) -> str:
    return "--" + ("model-root" if field == "model_roots" else field.replace("_", "-"))


def settings_table() -> str:
    """The settings table of docs/cli.md, between its ``settings`` markers; a test keeps the two equal.
    Regenerate: ``python -c "from openclarify.commands.serve import settings_table as t; print(t())"``."""
    lines = ["| Flag | Environment variable | Meaning |", "|---|---|---|"]
    for field, kind, text in options():
        flag = flag_name(field)
        shown = f"`{flag}` / `--no-{flag[2:]}`" if kind == "switch" else f"`{flag}`"
        lines.append(f"| {shown} | `{env_name(field)}` | {text.replace('|', '/')} |")
    for field, text in ENV_ONLY:
        lines.append(f"| (none: keep secrets off the command line) | `{env_name(field)}` | {text} |")
    return "\n".join(lines)
