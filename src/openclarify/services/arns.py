"""ARNs in AWS's form. SageMaker lowercases the resource name in ARNs while keeping its case elsewhere."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ArnFactory:
    region: str = "us-east-1"
    account_id: str = "000000000000"

    def _arn(self, kind: str, name: str) -> str:
        return f"arn:aws:sagemaker:{self.region}:{self.account_id}:{kind}/{name.lower()}"

    def model(self, name: str) -> str:
        return self._arn("model", name)

    def endpoint_config(self, name: str) -> str:
        return self._arn("endpoint-config", name)

    def endpoint(self, name: str) -> str:
        return self._arn("endpoint", name)
