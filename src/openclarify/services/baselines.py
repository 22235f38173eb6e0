"""The SHAP baseline of an explainer endpoint: read once when the endpoint deploys, checked, predicted, cached.

Where the rows come from (spec §5.5):

- ``ShapBaseline``: the inline text, parsed by ``MimeType``;
- ``ShapBaselineUri``: a local path or ``file://`` URI, which must lie under the server's model roots (the same rule
  as ModelDataUrl); ``https://`` only when the operator allows it (``allow_https_baseline``). ``s3://`` is not
  supported: this server has no S3 client, and saying so at deploy time beats a silent failure at invoke.

Predictions of the baseline rows, E_b[f(b)], are computed when the endpoint goes InService, so a model that cannot
score its own baseline fails the deployment with a FailureReason instead of failing every invocation:

- in-process runtimes: ``runtime.predict`` on the numeric baseline matrix; the raw score array is cached and the
  output extraction (ProbabilityIndex, ...) is applied per request, because it depends on the Accept type;
- remote containers: the baseline is sent as a request in its ``MimeType`` (Accept absent, so the container's
  default). The scores are cached per (Content-Type, Accept, CustomAttributes) of later requests, since each may
  change what the container answers: a request in another format gets the baseline predicted once in that format
  (baseline-size more rows), then cached too (the 64 most recent formats).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlparse

import httpx
import numpy as np

from openclarify.clarify.baseline import Baseline, parse_baseline
from openclarify.clarify.config import ClarifyConfig
from openclarify.errors import ValidationException
from openclarify.kernelshap import DesignCache
from openclarify.runtimes.registry import resolve_within_roots
from openclarify.services.design_pool import DesignPool

# A baseline is "SHAP baseline size × n_samples" synthetic rows per explained record: thousands of rows would make
# every explanation exceed the 60 s limit. Clarify's own inline limit is 4 KB; files may hold more, within reason.
MAX_BASELINE_BYTES = 16 * 1024 * 1024
_HTTPS_TIMEOUT = 30.0
MAX_CACHED_FORMATS = 64


@dataclass
class VariantBaseline:
    """Cached baseline predictions for one production variant."""

    raw_scores: np.ndarray | None = None
    """In-process runtimes: ``runtime.predict(baseline matrix)``, before output extraction."""
    scores: dict[tuple[str, str, str], np.ndarray] = field(default_factory=dict)
    """Remote containers: (content type, accept, custom attributes) → ``(size, D)`` baseline scores."""

    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def remember(self, key: tuple[str, str, str], scores: np.ndarray) -> None:
        # Custom attributes may be unique per request (trace ids): keep the most recent formats only.
        with self._lock:
            while len(self.scores) >= MAX_CACHED_FORMATS:
                self.scores.pop(next(iter(self.scores)))
            self.scores[key] = scores


@dataclass
class PreparedExplainer:
    """What an explainer endpoint needs at invoke time, attached to ``LiveEndpoint.extras``."""

    config: ClarifyConfig
    baseline: Baseline
    matrix: np.ndarray | None
    """The baseline as floats, or None when it holds non-numeric cells (remote containers only then)."""
    variants: dict[str, VariantBaseline] = field(default_factory=dict)
    feature_types: tuple[str, ...] | None = None
    """Each column's type when the explainer has TextConfig (docs/text.md), else None."""
    table: np.ndarray | None = None
    """With text features: the baseline as the object array in-process models take (``clarify.text.model_table``)."""
    max_text_units: int = 2000
    max_design_cells: int | None = None
    """The server's bound on one explanation's coalition design (``kernelshap.check_design_size``)."""
    designs: DesignCache | None = None
    """With a fixed Seed: the server's designs planned for a seed, by key (kernelshap fills it). A design depends on
    its key only, so endpoints share them, within the cache's bytes (``InvocationService``)."""
    design_pool: DesignPool | None = None
    """Without a Seed: designs planned ahead for the next requests (``services.design_pool.DesignPool``)."""


def read_baseline(config: ClarifyConfig, model_roots: tuple[Path, ...], allow_https: bool) -> Baseline:
    """Parse the inline baseline or read and parse ``ShapBaselineUri``. Blocking (file or network I/O)."""
    spec = config.shap.baseline
    features_attribute = config.inference.features_attribute
    if spec.inline is not None:
        return parse_baseline(spec.inline, spec.mime_type, features_attribute, source="ShapBaseline")
    assert spec.uri is not None
    data = fetch_uri(spec.uri, model_roots, allow_https)
    return parse_baseline(data, spec.mime_type, features_attribute, source=f"ShapBaselineUri {spec.uri!r}")


def fetch_uri(uri: str, model_roots: tuple[Path, ...], allow_https: bool) -> bytes:
    try:
        parsed = urlparse(uri)
    except ValueError as exc:  # an unclosed IPv6 bracket: the client's URI, not the server's failure
        raise ValidationException(f"ShapBaselineUri {uri!r} is not a valid URL: {exc}.") from None
    scheme = parsed.scheme.lower()
    if scheme == "https":
        if not allow_https:
            raise ValidationException(
                f"ShapBaselineUri {uri!r}: https:// baselines are disabled on this server; the operator can allow "
                "them with OPENCLARIFY_ALLOW_HTTPS_BASELINE=true, or use a file under the model roots."
            )
        return _fetch_https(uri)
    if scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise ValidationException(f"ShapBaselineUri {uri!r}: file:// URIs must name a local path (file:///...).")
        raw = unquote(parsed.path)
    elif scheme and len(scheme) > 1:
        raise ValidationException(
            f"ShapBaselineUri {uri!r}: scheme {scheme}:// is not supported; use a path or file:// URI under the "
            "model roots" + (" or an https:// URL." if allow_https else ".")
        )
    else:
        raw = uri
    try:  # a NUL byte, an unknown ~user or an over-long name is the client's mistake, not a server error
        resolved, inside = resolve_within_roots(raw, model_roots)
        is_file = inside and resolved.is_file()
    except (ValueError, RuntimeError, OSError):
        raise ValidationException(f"ShapBaselineUri {uri!r} is not a usable file path.") from None
    if not inside:
        raise ValidationException(
            f"ShapBaselineUri {uri!r} lies outside the model roots this server allows (see --model-root)."
        )
    if not is_file:
        raise ValidationException(f"ShapBaselineUri {uri!r} does not exist or is not a file.")
    try:
        # Read at most one byte past the bound: the file may grow after any size check.
        with resolved.open("rb") as f:
            data = f.read(MAX_BASELINE_BYTES + 1)
    except OSError as exc:  # permissions, a file removed since: the operator's files, not a server fault
        raise ValidationException(
            f"ShapBaselineUri {uri!r} cannot be read ({exc.strerror or type(exc).__name__})."
        ) from None
    if len(data) > MAX_BASELINE_BYTES:
        raise ValidationException(
            f"ShapBaselineUri {uri!r} is larger than {MAX_BASELINE_BYTES // (1024 * 1024)} MiB; a SHAP baseline "
            "should hold a few representative rows (each row multiplies the synthetic dataset)."
        )
    return data


def _fetch_https(uri: str) -> bytes:
    try:
        with (
            httpx.Client(timeout=_HTTPS_TIMEOUT, follow_redirects=True) as client,
            client.stream("GET", uri) as response,
        ):
            if response.status_code != 200:
                raise ValidationException(f"ShapBaselineUri {uri!r} answered HTTP {response.status_code}.")
            chunks, size = [], 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > MAX_BASELINE_BYTES:
                    raise ValidationException(
                        f"ShapBaselineUri {uri!r} is larger than {MAX_BASELINE_BYTES // (1024 * 1024)} MiB."
                    )
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.HTTPError as exc:
        raise ValidationException(f"ShapBaselineUri {uri!r} could not be fetched ({type(exc).__name__}).") from exc


def check_headers(config: ClarifyConfig, baseline: Baseline) -> None:
    """FeatureHeaders/FeatureTypes must name every baseline column (checked at CreateEndpointConfig for inline
    baselines; a URI's rows are only known now)."""
    for name, values in (
        ("FeatureHeaders", config.inference.feature_headers),
        ("FeatureTypes", config.inference.feature_types),
    ):
        if values is not None and len(values) != baseline.width:
            raise ValidationException(
                f"InferenceConfig.{name} has {len(values)} items but the SHAP baseline rows have {baseline.width} "
                "features; give one item per feature."
            )


def numeric_matrix(baseline: Baseline) -> np.ndarray | None:
    try:
        matrix = baseline.matrix()
    except ValidationException:
        return None
    return matrix if np.all(np.isfinite(matrix)) else None


def why_not_numeric(baseline: Baseline) -> str:
    """Why ``numeric_matrix`` gave None, naming the first cell at fault: a header line, a trailing comma or a ``nan``
    is then found without reading the whole baseline."""
    try:
        matrix = baseline.matrix()
    except ValidationException as exc:  # its first clause: the rest says what the caller's message says
        return exc.message.split(";")[0].rstrip(".")
    row, column = np.argwhere(~np.isfinite(matrix))[0]
    return f"Baseline row {row + 1}, column {column + 1} is {matrix[row, column]}, not a finite number"
