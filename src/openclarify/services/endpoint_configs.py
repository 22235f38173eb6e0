"""CreateEndpointConfig / DescribeEndpointConfig / ListEndpointConfigs / DeleteEndpointConfig.

Shapes were checked generically against botocore's model before we get here; this adds what the shapes cannot
say: referenced models exist, variant names are unique, and ExplainerConfig makes sense (Clarify's own rules,
owned by :mod:`openclarify.clarify.config`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from openclarify.clarify.config import validate_explainer_config
from openclarify.errors import ValidationException
from openclarify.services.arns import ArnFactory
from openclarify.services.models import ModelService, without_nulls
from openclarify.services.pagination import Page, paginate
from openclarify.services.store_thread import StoreThread
from openclarify.store import AlreadyExists, EndpointConfigRow, NotFound


class EndpointConfigService:
    def __init__(self, store: StoreThread, arns: ArnFactory, models: ModelService) -> None:
        self._store = store
        self._arns = arns
        self._models = models

    def not_found(self, name: str) -> ValidationException:
        return ValidationException(f'Could not find endpoint configuration "{self._arns.endpoint_config(name)}".')

    def _duplicate(self, name: str) -> ValidationException:
        arn = self._arns.endpoint_config(name)
        return ValidationException(f'Cannot create already existing endpoint configuration "{arn}".')

    async def create(self, params: Mapping[str, Any]) -> EndpointConfigRow:
        params = without_nulls(params)
        name = params["EndpointConfigName"]
        if await self.exists(name):
            raise self._duplicate(name)
        seen: set[str] = set()
        for variant in params["ProductionVariants"]:
            vname = variant["VariantName"]
            if vname.lower() in seen:
                raise ValidationException(f"VariantName '{vname}' is used more than once in ProductionVariants.")
            seen.add(vname.lower())
            if not variant.get("ModelName"):
                raise ValidationException(f"ProductionVariant '{vname}' needs a ModelName.")
            if not await self._models.exists(variant["ModelName"]):
                raise self._models.not_found(variant["ModelName"])
        if all(float(v.get("InitialVariantWeight", 1.0)) == 0 for v in params["ProductionVariants"]):
            raise ValidationException("At least one ProductionVariant needs an InitialVariantWeight above 0.")
        explainer = params.get("ExplainerConfig")
        if explainer is not None:
            validate_explainer_config(explainer)
        row = EndpointConfigRow(name, self._arns.endpoint_config(name), time.time(), dict(params))
        try:
            await self._store.insert_endpoint_config(row)
        except AlreadyExists:
            raise self._duplicate(name) from None
        return row

    async def exists(self, name: str) -> bool:
        try:
            await self._store.get_endpoint_config(name)
        except NotFound:
            return False
        return True

    async def describe(self, name: str) -> EndpointConfigRow:
        try:
            return await self._store.get_endpoint_config(name)
        except NotFound:
            raise self.not_found(name) from None

    async def list(self, params: Mapping[str, Any]) -> Page[EndpointConfigRow]:
        rows = await self._store.list_endpoint_configs()
        return paginate(
            rows, params, name=lambda r: r.name, created=lambda r: r.creation_time, operation="ListEndpointConfigs"
        )

    async def delete(self, name: str) -> None:
        # Allowed while endpoints use it, as in SageMaker: endpoints keep a snapshot of what they deployed.
        try:
            await self._store.delete_endpoint_config(name)
        except NotFound:
            raise self.not_found(name) from None
