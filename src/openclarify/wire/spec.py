"""botocore's ``sagemaker`` and ``sagemaker-runtime`` service models as the executable spec for our inputs.

boto3 checks only required members, types and minimums on the client; AWS checks the rest on the server.
:class:`ShapeValidator` walks an input shape and reports every violated constraint (lengths, patterns, enums,
ranges, required, types) in AWS's words, with lowerCamelCase member paths and 1-based ``.N.member`` list
indices, e.g. ``Value '30' at 'explainerConfig.clarifyExplainerConfig.inferenceConfig.maxPayloadInMB' failed
to satisfy constraint: Member must have value less than or equal to 25``.

A few constraints are deliberately relaxed where this server means something else by a field; they are listed
in :data:`RELAXED` and :data:`LOCAL_PATTERNS`, and in docs/api-coverage.md.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Iterable, Iterator
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape

from openclarify.errors import ServiceError, ValidationException, java_str
from openclarify.wire.java_regex import compile_java

# (shape name, member name) → constraint kinds we do not enforce, and why.
RELAXED: dict[tuple[str, str], frozenset[str]] = {
    # Any InstanceType string is accepted: there are no instance types to choose from.
    ("ProductionVariant", "InstanceType"): frozenset({"enum"}),
}

# What AWS's Url pattern takes, or a file:// URI, or a local path (no scheme): ModelDataUrl and ShapBaselineUri name
# files under the model roots here. Whether the file exists, and s3:// (refused), are the services' to say.
_URL_OR_LOCAL_PATH = r"(https|s3)://([^/]+)/?(.*)|file://.*|(?![a-zA-Z][a-zA-Z0-9+.\-]*://).+"
# (shape name, member name) -> the pattern checked instead of the service model's.
LOCAL_PATTERNS: dict[tuple[str, str], str] = {
    ("ContainerDefinition", "ModelDataUrl"): _URL_OR_LOCAL_PATH,
    ("ClarifyShapBaselineConfig", "ShapBaselineUri"): _URL_OR_LOCAL_PATH,
}

_MAX_REPORTED = 10


@functools.cache
def sagemaker_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("sagemaker")


@functools.cache
def runtime_model() -> ServiceModel:
    return botocore.session.get_session().get_service_model("sagemaker-runtime")


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str] | None:
    try:
        # AWS matches Java-style: the whole value must match, in Java's dialect.
        return compile_java(pattern)
    except re.error:  # a construct re cannot read even so (none in the operations served): skip the check
        return None


def _lower_camel(name: str) -> str:
    return name[:1].lower() + name[1:]


class ShapeValidator:
    def __init__(self, model: ServiceModel | None = None) -> None:
        self.model = model or sagemaker_model()

    def operation(self, name: str) -> OperationModel | None:
        try:
            return self.model.operation_model(name)
        except Exception:
            return None

    def warm(self, operations: Iterable[str]) -> None:
        """Compile every pattern of these operations' inputs now. Tag keys' Unicode categories take about 0.2 s to
        spell out (``java_regex``): a server does it on a thread when it starts, not on the event loop at its
        first tagged request."""
        for name in operations:
            op = self.operation(name)
            if op is not None and op.input_shape is not None:
                for pattern in _patterns(op.input_shape, set()):
                    _compiled(pattern)

    def validate(self, operation: str, params: Any, error: type[ServiceError] = ValidationException) -> None:
        """Raise ``error`` (the control plane's ValidationException; the runtime answers ValidationError) listing
        every violated constraint of ``operation``'s input shape."""
        op = self.model.operation_model(operation)
        if op.input_shape is None:
            return
        errors = list(self._check(op.input_shape, params, "", None, None))
        if errors:
            count = len(errors)
            noun = "error" if count == 1 else "errors"
            raise error(f"{count} validation {noun} detected: " + "; ".join(errors[:_MAX_REPORTED]))

    def _check(self, shape: Shape, value: Any, path: str, parent: str | None, member: str | None) -> Iterator[str]:
        relaxed = RELAXED.get((parent or "", member or ""), frozenset())
        at = path or "body"
        kind = shape.type_name
        meta = shape.metadata

        def fail(constraint: str) -> str:
            # AWS's messages leave a sensitive member's value out (the runtime's CustomAttributes, say).
            quoted = "Value" if meta.get("sensitive") else f"Value '{java_str(value)}'"
            return f"{quoted} at '{at}' failed to satisfy constraint: Member must {constraint}"

        if kind == "structure":
            if not isinstance(value, dict):
                yield fail("be a structure")
                return
            for req in shape.required_members:
                if value.get(req) is None:
                    yield f"Value null at '{_join(path, req)}' failed to satisfy constraint: Member must not be null"
            for key, item in value.items():
                if key in shape.members and item is not None:
                    yield from self._check(shape.members[key], item, _join(path, key), shape.name, key)
            return
        if kind == "list":
            if not isinstance(value, list):
                yield fail("be a list")
                return
            yield from _length(fail, len(value), meta)
            for i, item in enumerate(value, start=1):
                if item is None:  # a JSON null in a list is no member: the services index every member
                    yield f"Value null at '{at}.{i}.member' failed to satisfy constraint: Member must not be null"
                else:
                    yield from self._check(shape.member, item, f"{at}.{i}.member", shape.name, None)
            return
        if kind == "map":
            if not isinstance(value, dict):
                yield fail("be a map")
                return
            yield from _length(fail, len(value), meta)
            for key, item in value.items():
                yield from self._check(shape.key, key, f"{at}.key", shape.name, None)
                if item is None:
                    yield f"Value null at '{at}.{key}.member' failed to satisfy constraint: Member must not be null"
                else:
                    yield from self._check(shape.value, item, f"{at}.{key}.member", shape.name, None)
            return
        if kind == "string":
            if not isinstance(value, str):
                yield fail("be a string")
                return
            yield from _length(fail, len(value), meta)
            pattern = LOCAL_PATTERNS.get((parent or "", member or ""), meta.get("pattern"))
            if pattern is not None and "pattern" not in relaxed:
                regex = _compiled(pattern)
                if regex is not None and not regex.fullmatch(value):
                    yield fail(f"satisfy regular expression pattern: {pattern}")
            if shape.enum and "enum" not in relaxed and value not in shape.enum:
                yield fail(f"satisfy enum value set: [{', '.join(shape.enum)}]")
            return
        if kind in ("integer", "long"):
            if isinstance(value, bool) or not isinstance(value, int):
                yield fail(f"be of type {kind}")
                return
            limit = 2**31 - 1 if kind == "integer" else 2**63 - 1
            if not -limit - 1 <= value <= limit:
                yield fail(f"be of type {kind}")
                return
            yield from _range(fail, value, meta)
            return
        if kind in ("float", "double"):
            # JSON's 1e999 reads as infinity: no float a stored config could be described or used with.
            if isinstance(value, bool) or not isinstance(value, int | float) or not _finite(value):
                yield fail(f"be of type {kind}")
                return
            yield from _range(fail, value, meta)
            return
        if kind == "boolean":
            if not isinstance(value, bool):
                yield fail("be of type boolean")
            return
        if kind == "timestamp" and (
            isinstance(value, bool) or not isinstance(value, int | float | str) or not _finite(value)
        ):
            yield fail("be a timestamp")


def _patterns(shape: Shape, seen: set[str]) -> Iterator[str]:
    if shape.name in seen:  # shapes may refer to themselves
        return
    seen.add(shape.name)
    if "pattern" in shape.metadata:
        yield shape.metadata["pattern"]
    if shape.type_name == "structure":
        for member in shape.members.values():
            yield from _patterns(member, seen)
    elif shape.type_name == "list":
        yield from _patterns(shape.member, seen)
    elif shape.type_name == "map":
        yield from _patterns(shape.key, seen)
        yield from _patterns(shape.value, seen)


def _finite(value: object) -> bool:
    """A finite number, within a double's range; strings (timestamps may be ISO 8601 text) pass."""
    if isinstance(value, str):
        return True
    try:
        return math.isfinite(value)  # type: ignore[arg-type]
    except OverflowError:  # an integer past a double's range
        return False


def _join(path: str, member: str) -> str:
    return f"{path}.{_lower_camel(member)}" if path else _lower_camel(member)


def _length(fail: Any, length: int, meta: dict[str, Any]) -> Iterator[str]:
    if "min" in meta and length < meta["min"]:
        yield fail(f"have length greater than or equal to {meta['min']}")
    if "max" in meta and length > meta["max"]:
        yield fail(f"have length less than or equal to {meta['max']}")


def _range(fail: Any, value: float, meta: dict[str, Any]) -> Iterator[str]:
    if "min" in meta and value < meta["min"]:
        yield fail(f"have value greater than or equal to {java_str(meta['min'])}")
    if "max" in meta and value > meta["max"]:
        yield fail(f"have value less than or equal to {java_str(meta['max'])}")
