"""Use cases of the control plane. No HTTP types here: inputs are the API's parameter dicts (already checked
against botocore's shapes by ``wire``), outputs are store rows and live objects, errors are domain errors."""

from openclarify.services.arns import ArnFactory
from openclarify.services.endpoint_configs import EndpointConfigService
from openclarify.services.endpoints import EndpointService, LiveEndpoint, LiveVariant
from openclarify.services.models import ModelService

__all__ = [
    "ArnFactory",
    "EndpointConfigService",
    "EndpointService",
    "LiveEndpoint",
    "LiveVariant",
    "ModelService",
]
