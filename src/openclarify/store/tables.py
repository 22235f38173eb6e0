"""What the SQL stores share: models and endpoint configs are plain named rows, so their operations are the same
four table primitives in every backend; only those primitives speak the backend's SQL."""

from __future__ import annotations

import json
from typing import Any

from openclarify.store.base import EndpointConfigRow, EndpointRow, ModelRow


class SqlTables:
    """Model and endpoint-config operations of a SQL store, on top of the primitives each backend provides."""

    # Column order of the endpoints table, for INSERTs.
    _ENDPOINT_COLUMNS = (
        "key, name, arn, status, creation_time, last_modified_time, config_name, deployment, failure_reason, "
        "pending, request"
    )

    # Column order of the endpoints table, for SELECTs (what _endpoint_row reads).
    _ENDPOINT_SELECT = (
        "SELECT name, arn, status, creation_time, last_modified_time, config_name, deployment, failure_reason, "
        "pending, request FROM endpoints"
    )

    @staticmethod
    def _endpoint_values(row: EndpointRow) -> tuple[Any, ...]:
        return (
            row.name.lower(),
            row.name,
            row.arn,
            row.status,
            row.creation_time,
            row.last_modified_time,
            row.config_name,
            json.dumps(row.deployment),
            row.failure_reason,
            None if row.pending is None else json.dumps(row.pending),
            None if row.request is None else json.dumps(row.request),
        )

    @staticmethod
    def _endpoint_row(r: Any) -> EndpointRow:
        """From a row of ``_ENDPOINT_SELECT``, in its column order (a tuple, or a sqlite3.Row)."""
        name, arn, status, created, modified, config_name, deployment, reason, pending, request = r
        return EndpointRow(
            name=name,
            arn=arn,
            status=status,
            creation_time=created,
            last_modified_time=modified,
            config_name=config_name,
            deployment=json.loads(deployment),
            failure_reason=reason,
            pending=None if pending is None else json.loads(pending),
            request=None if request is None else json.loads(request),
        )

    def _insert_simple(self, table: str, row: ModelRow | EndpointConfigRow) -> None:
        raise NotImplementedError

    def _get_simple(self, table: str, cls: type, name: str) -> Any:
        raise NotImplementedError

    def _list_simple(self, table: str, cls: type) -> list[Any]:
        raise NotImplementedError

    def _delete(self, table: str, name: str) -> None:
        raise NotImplementedError

    def insert_model(self, row: ModelRow) -> None:
        self._insert_simple("models", row)

    def get_model(self, name: str) -> ModelRow:
        return self._get_simple("models", ModelRow, name)

    def list_models(self) -> list[ModelRow]:
        return self._list_simple("models", ModelRow)

    def delete_model(self, name: str) -> None:
        self._delete("models", name)

    def insert_endpoint_config(self, row: EndpointConfigRow) -> None:
        self._insert_simple("endpoint_configs", row)

    def get_endpoint_config(self, name: str) -> EndpointConfigRow:
        return self._get_simple("endpoint_configs", EndpointConfigRow, name)

    def list_endpoint_configs(self) -> list[EndpointConfigRow]:
        return self._list_simple("endpoint_configs", EndpointConfigRow)

    def delete_endpoint_config(self, name: str) -> None:
        self._delete("endpoint_configs", name)
