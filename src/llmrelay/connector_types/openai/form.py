"""The create/edit form of the ``.gen-ai`` connector type, as the web UI shows it.

Defaults come from the constants the schemas and providers use (``DEFAULT_MODEL``,
``OPENAI_CHAT_COMPLETIONS_URL``), never copied. Hints follow Kibana's connector flyout.
"""

from __future__ import annotations

import json

from llmrelay.connector_types.openai.providers import OPENAI_CHAT_COMPLETIONS_URL
from llmrelay.connector_types.openai.schemas import DEFAULT_MODEL
from llmrelay.connectors import ConnectorForm, FormField

OPENAI, AZURE, OTHER = "OpenAI", "Azure OpenAI", "Other"
LOCAL_LLM_EXAMPLE_URL = "http://localhost:1234/v1/chat/completions"
AZURE_URL_EXAMPLE = (
    "https://{your-resource-name}.openai.azure.com/openai/deployments/{deployment-id}"
    "/chat/completions?api-version={api-version}"
)
EXAMPLE_BODY = {"messages": [{"role": "user", "content": "Hello world"}]}
"""Kibana's ``DEFAULT_BODY`` of the test panel."""
PEM_CERTIFICATE = ("CERTIFICATE",)
PEM_PRIVATE_KEY = ("PRIVATE KEY", "RSA PRIVATE KEY")

OPENAI_FORM = ConnectorForm(
    variant_field="apiProvider",
    variant_label="Provider",
    variants=(
        (OPENAI, "OpenAI", "api.openai.com with an OpenAI API key."),
        (AZURE, "Azure OpenAI", "A deployment of Azure OpenAI Service, with its api-key."),
        (
            OTHER,
            "Other (OpenAI-compatible)",
            "Any server speaking OpenAI's chat completions API: a local LLM, a gateway; "
            "API key or a client certificate (PKI).",
        ),
    ),
    fields=(
        FormField(
            "apiUrl",
            "URL",
            "url",
            required_for=(OPENAI, AZURE, OTHER),
            defaults={OPENAI: OPENAI_CHAT_COMPLETIONS_URL},
            hints={
                OPENAI: "OpenAI's chat completions endpoint.",
                AZURE: f"The deployment's chat completions URL with its api-version: "
                f"{AZURE_URL_EXAMPLE}",
                OTHER: f"The server's chat completions URL, e.g. a local LLM at "
                f"{LOCAL_LLM_EXAMPLE_URL}",
            },
            placeholders={AZURE: AZURE_URL_EXAMPLE, OTHER: LOCAL_LLM_EXAMPLE_URL},
            message_keys=("URL Error", "error validating url", "apiUrl"),
        ),
        FormField(
            "defaultModel",
            "Default model",
            "text",
            variants=(OPENAI, OTHER),
            required_for=(OTHER,),
            defaults={OPENAI: DEFAULT_MODEL},
            hints={
                OPENAI: "Used when a request names no model.",
                OTHER: "The model the server should run when a request names none.",
            },
        ),
        FormField("organizationId", "Organization ID", "text", variants=(OPENAI,)),
        FormField("projectId", "Project ID", "text", variants=(OPENAI,)),
        FormField(
            "verificationMode",
            "TLS verification",
            "select",
            variants=(OTHER,),
            options=(
                ("", "Not set (the server's settings decide)"),
                ("full", "full: certificate and host name"),
                ("certificate", "certificate: certificate only"),
                ("none", "none: no verification"),
            ),
            hints={OTHER: "How the server's certificate is checked; set it to use PKI."},
        ),
        FormField("headers", "Custom headers", "headers"),
        FormField(
            "apiKey",
            "API key",
            "secret",
            section="secrets",
            required_for=(OPENAI, AZURE, OTHER),
            required_unless=("certificateData", "privateKeyData"),
            hints={OTHER: "Not needed when a client certificate and key are given."},
        ),
        FormField(
            "certificateData",
            "Client certificate (PEM)",
            "pem",
            section="secrets",
            variants=(OTHER,),
            pem_labels=PEM_CERTIFICATE,
            message_keys=("Invalid Certificate data", "Certificate data must"),
            given_with="privateKeyData",
        ),
        FormField(
            "privateKeyData",
            "Client private key (PEM)",
            "pem",
            section="secrets",
            variants=(OTHER,),
            pem_labels=PEM_PRIVATE_KEY,
            message_keys=("Private key data",),
            given_with="certificateData",
        ),
        FormField(
            "caData",
            "CA certificate (PEM)",
            "pem",
            section="secrets",
            variants=(OTHER,),
            pem_labels=PEM_CERTIFICATE,
            message_keys=("CA certificate data",),
        ),
    ),
    url_field="apiUrl",
    model_field="defaultModel",
    example_params=json.dumps(EXAMPLE_BODY, indent=2),
    run_params={
        "plain": {"subAction": "run", "subActionParams": {"body": "$body"}},
        "stream": {"subAction": "stream", "subActionParams": {"body": "$body", "stream": True}},
        "stream_body": {"stream": True},  # the provider streams only when the body asks
    },
)
