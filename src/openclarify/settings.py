"""Server settings: one dataclass, filled from command-line flags first, then ``OPENCLARIFY_*`` variables.

Every field is documented here and in ``docs/cli.md``. Settings are passed by constructor to whatever
needs them; nothing reads the environment after start-up.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

ENV_PREFIX = "OPENCLARIFY_"


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
    container_allowed_hosts: tuple[str, ...] = ()
    """Hosts besides loopback that a model's ``Image`` URL may name (comma-separated; ``*`` allows any). Empty:
    loopback containers only, so CreateModel cannot make the server call an arbitrary address (e.g. a cloud
    metadata service) on a client's behalf."""
    precheck_allowed_hosts: tuple[str, ...] = ()
    """Hosts besides loopback whose containers ``POST /-/precheck`` may call (comma-separated; ``*`` allows any).
    Empty keeps the pre-check from being used as a proxy into the network (docs/precheck.md)."""
    precheck_timeout_seconds: float = 30.0
    """Upper bound for one ``POST /-/precheck``; the cost measurement gets a tenth of it."""
    console: bool = True
    """Serve the web console at ``/`` (only ever while authentication is off: see docs/console.md)."""

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
        """Build settings from ``OPENCLARIFY_*`` variables; ``overrides`` (already-parsed flags) win."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get(ENV_PREFIX + f.name.upper())
            if raw is not None:
                values[f.name] = _convert(f.name, raw)
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


def _convert(name: str, raw: str) -> object:
    if name in {"port", "max_text_units", "max_queued_invocations"}:
        return int(raw)
    if name.endswith("_seconds"):
        return float(raw)
    if name in {"insecure", "allow_https_baseline", "console", "ray"}:
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if name in {"data_dir", "credentials_file"}:
        return Path(raw).expanduser()
    if name == "model_roots":
        return tuple(Path(p).expanduser() for p in raw.split(os.pathsep) if p)
    if name in {"precheck_allowed_hosts", "container_allowed_hosts"}:
        return tuple(h.strip() for h in raw.split(",") if h.strip())
    if name == "access_keys":
        return tuple(parse_access_keys(raw.split(",")).items())
    return raw
