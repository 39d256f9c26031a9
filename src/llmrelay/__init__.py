"""llmrelay: a self-hosted relay to large language models.

The library API is what ``__all__`` lists. A typical use::

    from llmrelay import load_settings, open_services

    async with open_services(load_settings(os.environ)) as services:
        result = await services.actions.execute(
            connector_id, {"subAction": "run", ...}, principal=Principal.local("my-script")
        )
"""

from __future__ import annotations

__version__ = "0.1.0"

from llmrelay.actions_client import ActionsClient, Connector
from llmrelay.auth import Principal
from llmrelay.errors import (
    BadRequestError,
    ConfigurationError,
    ConflictError,
    ForbiddenError,
    LlmrelayError,
    NotFoundError,
    SecretsError,
    TransportError,
    UpstreamError,
    UserError,
)
from llmrelay.execution import ActionResult
from llmrelay.services import Services, open_services
from llmrelay.settings import Settings, load_settings

__all__ = [
    "ActionResult",
    "ActionsClient",
    "BadRequestError",
    "ConfigurationError",
    "ConflictError",
    "Connector",
    "ForbiddenError",
    "LlmrelayError",
    "NotFoundError",
    "Principal",
    "SecretsError",
    "Services",
    "Settings",
    "TransportError",
    "UpstreamError",
    "UserError",
    "__version__",
    "load_settings",
    "open_services",
]
