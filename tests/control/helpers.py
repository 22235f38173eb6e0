"""Small helpers shared by the control-plane tests."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

_counter = itertools.count()


def unique(prefix: str) -> str:
    """Resource names unique within the session, so tests can share one server."""
    return f"{prefix}-{next(_counter)}"


def client_error(call: Callable[..., Any], **kwargs: Any) -> dict[str, str]:
    """Run a boto3 call that must fail and return its ``Error`` dict (Code, Message)."""
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    return info.value.response["Error"]


def variant(model: str, name: str = "AllTraffic", **extra: Any) -> dict[str, Any]:
    return {"VariantName": name, "ModelName": model, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1, **extra}


FAST_WAIT = {"Delay": 0.2, "MaxAttempts": 100}
