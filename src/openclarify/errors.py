"""Domain errors. Each carries the AWS error code a boto3 client expects.

HTTP status codes and envelopes are decided at the edge (``openclarify.wire``), never here.
"""

from __future__ import annotations


def java_str(value: object) -> str:
    """A value as AWS's (Java) services print it in validation messages: ``true``, ``[numerical, text]``,
    ``{Key=value}``; the message quotes it: ``Value '[numerical, text]' at 'member'``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(java_str(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={java_str(v)}" for k, v in value.items()) + "}"
    return str(value)


class ServiceError(Exception):
    """Base of every error a client may see. ``code`` is the AWS error code."""

    code = "InternalFailure"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class ValidationException(ServiceError):
    """Control-plane input errors, including not-found and duplicate names (AWS answers those this way too)."""

    code = "ValidationException"


class ResourceLimitExceeded(ServiceError):
    code = "ResourceLimitExceeded"


class ResourceInUse(ServiceError):
    code = "ResourceInUse"


class ResourceNotFound(ServiceError):
    code = "ResourceNotFound"


class UnknownOperation(ServiceError):
    code = "UnknownOperationException"


class AccessDenied(ServiceError):
    """Authentication failures; the concrete code follows AWS (e.g. InvalidSignatureException)."""

    code = "AccessDeniedException"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class ValidationError(ServiceError):
    """Runtime (InvokeEndpoint) input errors."""

    code = "ValidationError"


class ModelError(ServiceError):
    """The model failed or answered something unusable."""

    code = "ModelError"

    def __init__(
        self, message: str, original_status_code: int | None = None, original_message: str | None = None
    ) -> None:
        super().__init__(message)
        self.original_status_code = original_status_code
        self.original_message = original_message


class ModelNotReady(ServiceError):
    code = "ModelNotReadyException"


class ServiceUnavailable(ServiceError):
    code = "ServiceUnavailable"


class InternalFailure(ServiceError):
    code = "InternalFailure"


class SerializationError(ServiceError):
    """The request body is not a JSON object of the expected types."""

    code = "SerializationException"
