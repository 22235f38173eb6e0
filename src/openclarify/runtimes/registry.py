"""Choose and build a runtime from a ContainerDefinition; check where its artifact may come from."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import ParseResult, unquote, urlparse

from openclarify.runtimes.base import ModelLoadError, Runtime, RuntimeSpec

# Image → (module, class). Modules import their heavy libraries only inside load().
BUILTIN_IMAGES: dict[str, tuple[str, str]] = {
    "openclarify/onnx": ("openclarify.runtimes.onnx", "OnnxRuntime"),
    "openclarify/xgboost": ("openclarify.runtimes.xgboost", "XGBoostRuntime"),
    "openclarify/lightgbm": ("openclarify.runtimes.lightgbm", "LightGBMRuntime"),
    "openclarify/sklearn": ("openclarify.runtimes.sklearn", "SklearnRuntime"),
}


def is_remote(image: str) -> bool:
    return image.startswith(("http://", "https://"))


def build_spec(
    container: dict,
    *,
    model_roots: Sequence[Path],
    max_concurrency: int = 1,
    startup_timeout_seconds: float = 240.0,
    request_timeout_seconds: float = 60.0,
) -> RuntimeSpec:
    """Turn a ContainerDefinition into a RuntimeSpec, or raise ModelLoadError saying what to fix."""
    image = (container.get("Image") or "").strip()
    common = {
        "image": image,
        "environment": dict(container.get("Environment") or {}),
        "max_concurrency": max(1, int(max_concurrency)),
        "startup_timeout_seconds": startup_timeout_seconds,
        "request_timeout_seconds": request_timeout_seconds,
    }
    if is_remote(image):
        parsed = parse_url(image, "Image")
        if not parsed.hostname:
            raise ModelLoadError("Image is not a valid http(s) URL of a model container.")
        return RuntimeSpec(url=image, **common)  # type: ignore[arg-type]
    if image not in BUILTIN_IMAGES:
        known = ", ".join(BUILTIN_IMAGES)
        raise ModelLoadError(
            f"Image '{image}' is not supported: use one of {known}, or the http(s) URL of a running model container."
        )
    url = container.get("ModelDataUrl")
    if not url:
        raise ModelLoadError(f"Image '{image}' needs a ModelDataUrl: a local path or file:// URI.")
    return RuntimeSpec(model_path=resolve_model_path(url, model_roots), **common)  # type: ignore[arg-type]


def parse_url(url: str, member: str) -> ParseResult:
    """``urlparse``, whose ValueError (an unclosed IPv6 bracket, which the shapes' patterns let through) is the
    client's mistake: ModelLoadError naming the member."""
    # A control character (DEL and NUL are not whitespace, so the shapes' patterns let them through) is no URL
    # httpx will send: refused here, not at the first request.
    bad = next((i for i, c in enumerate(url) if ord(c) < 0x20 or ord(c) == 0x7F), None)
    if bad is not None:
        raise ModelLoadError(f"{member} {url!r} is not a valid URL: a control character at position {bad + 1}.")
    try:
        return urlparse(url)
    except ValueError as exc:
        raise ModelLoadError(f"{member} {url!r} is not a valid URL: {exc}.") from None


def resolve_within_roots(raw: str, model_roots: Sequence[Path]) -> tuple[Path, bool]:
    """The path ``raw`` names (relative ones against the first root), with symlinks followed and ".." collapsed so
    that no escape goes unseen, and whether it lies inside one of ``model_roots``. The one check behind every file a
    request may name (ModelDataUrl, ShapBaselineUri). Raises ValueError, RuntimeError or OSError for a path that is
    not usable at all (a NUL byte, an unknown ~user, an over-long name)."""
    roots = [Path(r).resolve() for r in model_roots]
    candidate = Path(raw).expanduser()
    if not candidate.is_absolute():
        candidate = (roots[0] if roots else Path.cwd()) / candidate
    resolved = candidate.resolve()
    return resolved, any(resolved == root or resolved.is_relative_to(root) for root in roots)


def resolve_model_path(url: str, model_roots: Sequence[Path]) -> Path:
    """A local path or file:// URI, symlinks resolved, that must lie inside one of ``model_roots``."""
    parsed = parse_url(url, "ModelDataUrl")
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise ModelLoadError("ModelDataUrl file:// URIs must name a local path (file:///path/to/model).")
        raw = unquote(parsed.path)
    elif parsed.scheme and len(parsed.scheme) > 1:  # len>1 keeps Windows drive letters working
        raise ModelLoadError(
            f"ModelDataUrl scheme '{parsed.scheme}://' is not supported; use a local path or file:// URI."
        )
    else:
        raw = url
    try:  # a NUL byte, an unknown ~user or an over-long name is the client's mistake, not a server error
        resolved, inside = resolve_within_roots(raw, model_roots)
        exists = inside and resolved.exists()
    except (ValueError, RuntimeError, OSError):
        raise ModelLoadError("ModelDataUrl is not a usable file path.") from None
    if not inside:
        raise ModelLoadError("ModelDataUrl lies outside the model roots this server allows (see --model-root).")
    if not exists:
        raise ModelLoadError("ModelDataUrl does not exist.")
    return resolved


def create_runtime(spec: RuntimeSpec) -> Runtime:
    """An unloaded runtime for ``spec``; call ``load()`` (in a worker thread) before use."""
    if spec.url is not None:
        from openclarify.runtimes.http_container import HttpContainerRuntime

        return HttpContainerRuntime(spec)
    module_name, class_name = BUILTIN_IMAGES[spec.image]
    cls = getattr(importlib.import_module(module_name), class_name)
    return cls(spec)
