"""The Store protocol and its rows.

Rows are plain frozen dataclasses. ``request`` holds the Create* input exactly as submitted, so Describe* can
echo it (ExplainerConfig included) without filling in defaults. Names are unique case-insensitively, as in
SageMaker, so rows are keyed by ``name.lower()`` while ``name`` keeps the submitted spelling.

A PostgreSQL backend would implement the same protocol; services never see SQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from openclarify.errors import ServiceUnavailable


class AlreadyExists(Exception):
    """A row with the same (case-insensitive) name exists."""


class NotFound(Exception):
    """No row has that name."""


class DatabaseInUse(Exception):
    """Another server holds the database (``store.held_exclusively``)."""


class DatabaseUnavailable(ServiceUnavailable):
    """The database could not be reached, refused the statement or did not answer in time. A domain error, so a
    client gets 503 ServiceUnavailable with a message saying whether the change was made, not a 500 and a
    traceback in the log for what is an outage of another server."""

    after_begin = False
    """Whether the caller's statements had reached the database (the store retries a read only then)."""

    maybe_committed = False
    """Whether the change may have been made all the same (COMMIT sent, no answer): read it back to know."""


class SchemaTooNew(Exception):
    """The database holds migrations this version does not know: a newer openclarify migrated it."""


@dataclass(frozen=True)
class ModelRow:
    name: str
    arn: str
    creation_time: float
    request: dict[str, Any]


@dataclass(frozen=True)
class EndpointConfigRow:
    name: str
    arn: str
    creation_time: float
    request: dict[str, Any]


@dataclass(frozen=True)
class EndpointRow:
    name: str
    arn: str
    status: str
    creation_time: float
    last_modified_time: float
    config_name: str
    deployment: dict[str, Any]
    """What is (or is being) deployed: {"config": <CreateEndpointConfig request>, "models": {name: request}}.
    A snapshot, so deleting the config or model later does not break the endpoint (as in SageMaker)."""
    failure_reason: str | None = None
    pending: dict[str, Any] | None = None
    """During UpdateEndpoint: the deployment being rolled out, same form as ``deployment``."""
    request: dict[str, Any] | None = None


class Store(Protocol):
    def migrate(self) -> None: ...
    def close(self) -> None: ...

    def insert_model(self, row: ModelRow) -> None: ...
    def get_model(self, name: str) -> ModelRow: ...
    def list_models(self) -> list[ModelRow]: ...
    def delete_model(self, name: str) -> None: ...

    def insert_endpoint_config(self, row: EndpointConfigRow) -> None: ...
    def get_endpoint_config(self, name: str) -> EndpointConfigRow: ...
    def list_endpoint_configs(self) -> list[EndpointConfigRow]: ...
    def delete_endpoint_config(self, name: str) -> None: ...

    def insert_endpoint(self, row: EndpointRow) -> None: ...
    def get_endpoint(self, name: str) -> EndpointRow: ...
    def list_endpoints(self) -> list[EndpointRow]: ...
    def replace_endpoint(self, row: EndpointRow, *, expected_status: str | None = None) -> None:
        """Overwrite the row; with ``expected_status`` only if the stored status still equals it (else NotFound)."""
        ...

    def delete_endpoint(self, name: str) -> None: ...
