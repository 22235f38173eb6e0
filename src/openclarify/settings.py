"""Server settings: one dataclass, filled from command-line flags first, then ``OPENCLARIFY_*`` variables.

Every field is documented here and in ``docs/cli.md``. Settings are passed by constructor to whatever
needs them; nothing reads the environment after start-up.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

ENV_PREFIX = "OPENCLARIFY_"
TRUE, FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}  # for switches, any case

# Each numeric field's test (a value must also be finite) and what to tell whoever fails it. Checked when Settings is
# made, so that a negative deadline or a port beyond 65535 stops the start with one line, not the first request.
RANGES: dict[str, tuple[Callable[[float], bool], str]] = {
    "port": (lambda v: 0 <= v <= 65535, "a TCP port, 0 to 65535 (0: any free port)"),
    "invoke_deadline_seconds": (lambda v: v > 0, "more than 0 seconds"),
    "container_startup_timeout_seconds": (lambda v: v > 0, "more than 0 seconds"),
    "create_grace_seconds": (lambda v: v >= 0, "0 seconds (answer at once) or more"),
    "clock_skew_seconds": (lambda v: v > 0, "more than 0 seconds"),
    "precheck_timeout_seconds": (lambda v: v > 0, "more than 0 seconds"),
    "max_running_prechecks": (lambda v: v >= 1, "1 or more"),
    "max_queued_invocations": (lambda v: v >= 0, "0 (refuse what cannot start at once) or more"),
    "max_text_units": (lambda v: v >= 1, "1 or more"),
    "max_design_cells": (lambda v: v >= 1, "1 or more"),
}
INTEGERS = {"port", "max_text_units", "max_queued_invocations", "max_design_cells", "max_running_prechecks"}
# Each text field's form, checked as RANGES are: an account id of 11 digits would be written into every ARN, and a
# database URL no store opens would stop the start with a traceback.
FORMS: dict[str, tuple[Callable[[str], bool], str]] = {
    "account_id": (lambda v: len(v) == 12 and v.isascii() and v.isdigit(), "twelve digits, as an AWS account id"),
    "database_url": (
        lambda v: not v or v.startswith(("postgresql://", "postgres://", "sqlite:///")),
        "a URL starting with postgresql://, postgres:// or sqlite:///",
    ),
}
SECRETS = {"access_keys", "database_url"}  # never echoed in an error (a database URL may hold a password)


class SettingError(ValueError):
    """A value a setting cannot take. ``setting`` names the Settings field; ``source`` what the user wrote
    (``OPENCLARIFY_PORT='abc'``) when known here: a flag's name is the command line's business."""

    def __init__(self, setting: str, reason: str, source: str | None = None) -> None:
        super().__init__(f"{source or setting}: {reason}")
        self.setting, self.reason, self.source = setting, reason, source


def default_data_dir(env: Mapping[str, str] | None = None) -> Path:
    """A per-user directory, so ``openclarify serve`` needs no set-up: ``$XDG_DATA_HOME/openclarify``."""
    env = os.environ if env is None else env
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "openclarify"


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    """Interface to bind. Without access keys only loopback is allowed unless ``insecure`` is set."""
    port: int = 8080
    data_dir: Path = field(default_factory=default_data_dir)
    """SQLite state (``openclarify.db``) and the optional ``credentials`` file live here."""
    database_url: str | None = None
    """Where the control-plane state lives: None for ``<data_dir>/openclarify.db`` (SQLite), ``sqlite:///path``,
    or ``postgresql://user@host:port/db`` (shared between servers; required by ``ray``)."""
    ray: bool = False
    """Run as a Ray Serve application: HTTP on Ray's proxy at host:port, each variant's model as a deployment
    with InitialInstanceCount replicas (docs/scaling.md). Needs the ``ray`` extra and a PostgreSQL database_url."""
    ray_address: str | None = None
    """The Ray cluster to join (``ray.init(address=...)``); default ``auto``, the local ``ray start`` head."""
    model_roots: tuple[Path, ...] = ()
    """Directories a ModelDataUrl may point into. Empty means: the current directory and ``data_dir``."""
    access_keys: tuple[tuple[str, str], ...] = ()
    """(access key id, secret) pairs from ``OPENCLARIFY_ACCESS_KEYS="AKID:SECRET,AKID2:SECRET2"``."""
    credentials_file: Path | None = None
    """A file of ``AKID:SECRET`` lines (``#`` comments allowed). Default: ``<data_dir>/credentials`` if present."""
    insecure: bool = False
    """Allow binding a non-loopback address without access keys."""
    region: str = "us-east-1"
    """Region written into ARNs."""
    account_id: str = "000000000000"
    """Twelve-digit account written into ARNs."""
    invoke_deadline_seconds: float = 60.0
    """Upper bound for one InvokeEndpoint, as SageMaker's 60 s container limit."""
    max_queued_invocations: int = 64
    """Admission control: how many invocations may wait for a busy variant (beyond the InitialInstanceCount ones
    running). One more gets ServiceUnavailable (HTTP 503, ``Retry-After``) at once instead of queueing."""
    container_startup_timeout_seconds: float = 240.0
    """How long a remote container may take to answer GET /ping with 200 (SageMaker's default is 4 minutes)."""
    create_grace_seconds: float = 2.0
    """CreateEndpoint/UpdateEndpoint/DeleteEndpoint wait this long for a fast deployment before answering, so
    the first DescribeEndpoint (and boto3's waiters, which poll every 30 s) usually see the final status."""
    allow_https_baseline: bool = False
    """Whether ShapBaselineUri may be fetched over https."""
    clock_skew_seconds: float = 900.0
    """Largest accepted difference between X-Amz-Date and the server clock (AWS: 15 minutes)."""
    max_text_units: int = 2000
    """Most text units (tokens, sentences or paragraphs, all text columns together) one record may have to be
    explained; more is a ValidationError at invoke (docs/text.md)."""
    max_design_cells: int = 1 << 24
    """Largest coalition design one explanation may sample: players × coalitions (NumberOfSamples, or Clarify's
    default 2M + 2^11), coalitions alone when every one is listed. An explanation takes about 20-40 bytes per cell at
    its peak, so the default, 16 777 216, bounds it near half a gigabyte, and admits the default budget of 2 000 text
    units. More is a ValidationError at invoke, or a Failed deployment where the features are known then."""
    container_allowed_hosts: tuple[str, ...] = ()
    """Hosts besides loopback that a model's ``Image`` URL may name (comma-separated; ``*`` allows any). Empty:
    loopback containers only, so CreateModel cannot make the server call an arbitrary address (e.g. a cloud
    metadata service) on a client's behalf."""
    trusted_hosts: tuple[str, ...] = ()
    """Host names besides loopback ones (``localhost``, ``127.x.x.x``, ``[::1]``) that requests may name while the
    server runs without access keys on loopback (comma-separated): a name of this machine, or a reverse proxy's. Any
    other Host is refused, since a website whose domain is made to resolve to 127.0.0.1 would otherwise reach the
    server as its own origin (DNS rebinding)."""
    precheck_allowed_hosts: tuple[str, ...] = ()
    """Hosts besides loopback whose containers ``POST /-/precheck`` may call (comma-separated; ``*`` allows any).
    Empty keeps the pre-check from being used as a proxy into the network (docs/precheck.md)."""
    precheck_timeout_seconds: float = 30.0
    """Upper bound for one ``POST /-/precheck``; the cost measurement gets a tenth of it."""
    max_running_prechecks: int = 4
    """Most ``POST /-/precheck`` checks the server runs at once; one more answers 503 with ``Retry-After`` at once.
    Each may hold requests of up to 6 MiB and answers of up to 64 MiB, so this bounds their memory."""
    console: bool = True
    """Serve the web console at ``/`` (only ever while authentication is off: see docs/console.md)."""

    def __post_init__(self) -> None:
        for name in (*RANGES, *FORMS):
            reason = _out_of_range(name, getattr(self, name))
            if reason:
                raise SettingError(name, reason)

    def resolved_model_roots(self) -> tuple[Path, ...]:
        roots = self.model_roots or (Path.cwd(), self.data_dir)
        return tuple(Path(r).expanduser().resolve() for r in roots)

    def resolved_access_keys(self) -> dict[str, str]:
        """Keys from settings plus the credentials file; an empty dict means authentication is off."""
        keys = dict(self.access_keys)
        path = self.credentials_file or (self.data_dir / "credentials")
        if path.is_file():
            keys.update(parse_access_keys(path.read_text(encoding="utf-8").splitlines()))
        return keys

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from ``OPENCLARIFY_*`` variables; ``overrides`` (already-parsed flags) win.

        A value a setting cannot take is a :class:`SettingError`; its ``source`` names the variable when the value
        came from one, and is None when it came from ``overrides``."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            variable = ENV_PREFIX + f.name.upper()
            raw = env.get(variable)
            if raw is None or overrides.get(f.name) is not None:  # a flag wins over the variable, even a bad one
                continue
            source = variable if f.name in SECRETS else f"{variable}={raw!r}"
            try:
                values[f.name] = _convert(f.name, raw)
            except ValueError as exc:
                raise SettingError(f.name, str(exc), source) from None
            reason = _out_of_range(f.name, values[f.name])
            if reason:
                raise SettingError(f.name, reason, source)
        if "data_dir" not in values and "data_dir" not in overrides:
            values["data_dir"] = default_data_dir(env)
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls()
        return replace(settings, **values)  # type: ignore[arg-type]


def parse_access_keys(items: list[str]) -> dict[str, str]:
    keys: dict[str, str] = {}
    for item in items:
        item = item.strip()
        if not item or item.startswith("#"):
            continue
        akid, sep, secret = item.partition(":")
        if not sep or not akid.strip() or not secret.strip():
            raise ValueError("access keys must be written AKID:SECRET")
        keys[akid.strip()] = secret.strip()
    return keys


def _out_of_range(name: str, value: object) -> str | None:
    """What ``value`` should be, when field ``name`` cannot take it; None when it can."""
    if name in FORMS and isinstance(value, str):
        matches, form = FORMS[name]
        return None if matches(value) else f"must be {form}"
    if name not in RANGES or not isinstance(value, int | float):
        return None
    allowed, description = RANGES[name]
    return None if math.isfinite(value) and allowed(value) else f"must be {description}"


def _convert(name: str, raw: str) -> object:
    """A variable's text as the field's value; ValueError says what it should be."""
    if name in INTEGERS:
        try:
            return int(raw)
        except ValueError:
            raise ValueError("not a whole number") from None
    if name.endswith("_seconds"):
        try:
            return float(raw)
        except ValueError:
            raise ValueError("not a number of seconds") from None
    if name in {"insecure", "allow_https_baseline", "console", "ray"}:
        word = raw.strip().lower()
        if word not in TRUE | FALSE:  # a typo such as 'ture' must not quietly mean off
            raise ValueError("write 1, true, yes or on to turn it on; 0, false, no or off to turn it off")
        return word in TRUE
    if name in {"data_dir", "credentials_file"}:
        return Path(raw).expanduser()
    if name == "model_roots":
        return tuple(Path(p).expanduser() for p in raw.split(os.pathsep) if p)
    if name in {"precheck_allowed_hosts", "container_allowed_hosts", "trusted_hosts"}:
        return tuple(h.strip() for h in raw.split(",") if h.strip())
    if name == "access_keys":
        return tuple(parse_access_keys(raw.split(",")).items())
    return raw
