"""CreateModel / DescribeModel / ListModels / DeleteModel.

CreateModel checks what SageMaker would only find out at deployment: that the Image names a runtime we have
and, for built-in runtimes, that ModelDataUrl lies under an allowed model root and loads as a model of that
kind. Loading happens in a worker thread. A remote container is not contacted here: it may start later.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import anyio.to_thread

from openclarify.errors import ValidationException
from openclarify.runtimes import ModelLoadError, build_spec, create_runtime
from openclarify.services.arns import ArnFactory
from openclarify.services.pagination import Page, paginate
from openclarify.services.store_thread import StoreThread
from openclarify.store import AlreadyExists, ModelRow, NotFound


def without_nulls(value: Any) -> Any:
    """``value`` without its null members, at any depth. A raw client's explicit null is an absent member (the shapes
    skip it), and SageMaker describes no absent member: a stored null would be echoed by Describe*, and read as a
    value where the services default an absent one (``float(v.get("InitialVariantWeight", 1.0))``)."""
    if isinstance(value, Mapping):
        return {key: without_nulls(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [without_nulls(item) for item in value]
    return value


def model_container(request: Mapping[str, Any]) -> dict[str, Any]:
    """The one container a model runs (PrimaryContainer, or the single entry of Containers)."""
    if request.get("PrimaryContainer"):
        return dict(request["PrimaryContainer"])
    return dict(request["Containers"][0])


class ModelService:
    def __init__(
        self, store: StoreThread, arns: ArnFactory, model_roots: Sequence[Path], *, allowed_hosts: Sequence[str] = ()
    ) -> None:
        self._store = store
        self._arns = arns
        self._roots = tuple(model_roots)
        self._hosts = {h.lower() for h in allowed_hosts}

    def not_found(self, name: str) -> ValidationException:
        return ValidationException(f'Could not find model "{self._arns.model(name)}".')

    def _duplicate(self, name: str) -> ValidationException:
        return ValidationException(f'Cannot create already existing model "{self._arns.model(name)}".')

    async def create(self, params: Mapping[str, Any]) -> ModelRow:
        params = without_nulls(params)
        name = params["ModelName"]
        primary, containers = params.get("PrimaryContainer"), params.get("Containers")
        if primary and containers:
            raise ValidationException("PrimaryContainer and Containers are mutually exclusive; provide one.")
        if not primary and not containers:
            raise ValidationException("Provide PrimaryContainer (or Containers) with an Image.")
        if containers and len(containers) > 1:
            raise ValidationException("Inference pipelines are not supported: Containers may hold one container.")
        if await self.exists(name):
            raise self._duplicate(name)
        await self._check_container(model_container(params))
        row = ModelRow(name, self._arns.model(name), time.time(), dict(params))
        try:
            await self._store.insert_model(row)
        except AlreadyExists:
            raise self._duplicate(name) from None
        return row

    async def _check_container(self, container: dict[str, Any]) -> None:
        try:
            spec = build_spec(container, model_roots=self._roots)
            if spec.url is not None:
                self._check_host(spec.url)
            if spec.url is None:
                runtime = create_runtime(spec)
                await anyio.to_thread.run_sync(runtime.load)
                runtime.close()
        except ModelLoadError as exc:
            raise ValidationException(str(exc)) from None

    def _check_host(self, url: str) -> None:
        """A remote container's host must be loopback or one the operator allowed (``container_allowed_hosts``)."""
        try:
            host = (urlparse(url).hostname or "").lower()
        except ValueError as exc:  # an unclosed IPv6 bracket: the client's URL, not the server's failure
            raise ValidationException(f"Image {url!r} is not a valid URL: {exc}.") from None
        if "*" in self._hosts or host in self._hosts or host == "localhost" or _loopback(host):
            return
        raise ValidationException(
            f"Image {url!r}: container host {host!r} is not allowed. This server calls loopback containers only "
            "unless the operator lists more hosts in OPENCLARIFY_CONTAINER_ALLOWED_HOSTS."
        )

    async def exists(self, name: str) -> bool:
        try:
            await self._store.get_model(name)
        except NotFound:
            return False
        return True

    async def describe(self, name: str) -> ModelRow:
        try:
            return await self._store.get_model(name)
        except NotFound:
            raise self.not_found(name) from None

    async def list(self, params: Mapping[str, Any]) -> Page[ModelRow]:
        return paginate(
            await self._store.list_models(),
            params,
            name=lambda r: r.name,
            created=lambda r: r.creation_time,
            operation="ListModels",
        )

    async def delete(self, name: str) -> None:
        # SageMaker allows deleting a model that endpoints use; running endpoints keep their snapshot.
        try:
            await self._store.delete_model(name)
        except NotFound:
            raise self.not_found(name) from None


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
