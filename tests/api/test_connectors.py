"""Connector CRUD through Kibana's routes: shapes, validation messages, and bad input."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import create_connector
from tests.conftest import api_client, make_settings
from tests.transport.certificates import issue, make_ca
from tests.upstream import UpstreamServer

OPENAI_URL = "https://api.openai.com/v1/chat/completions"


def openai_body(**config: object) -> dict[str, object]:
    return {
        "name": "A genAi action",
        "connector_type_id": ".gen-ai",
        "config": {"apiProvider": "OpenAI", "apiUrl": OPENAI_URL, **config},
        "secrets": {"apiKey": "genAiApiKey"},
    }


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def create(client: httpx.AsyncClient, body: dict[str, object]) -> dict[str, object]:
    response = await client.post("/api/actions/connector", json=body)
    assert response.status_code == 200, response.text
    created: dict[str, object] = response.json()
    return created


async def connector_count(client: httpx.AsyncClient) -> int:
    return len((await client.get("/api/actions/connectors")).json())


async def test_status_reports_available(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/status")).json()
    assert body["status"] == "available"
    assert body["version"]


async def test_create_without_default_model_echoes_the_default(client: httpx.AsyncClient) -> None:
    created = await create(client, openai_body())
    assert created == {
        "id": created["id"],
        "is_preconfigured": False,
        "is_system_action": False,
        "is_deprecated": False,
        "name": "A genAi action",
        "connector_type_id": ".gen-ai",
        "is_missing_secrets": False,
        "config": {"apiProvider": "OpenAI", "apiUrl": OPENAI_URL, "defaultModel": "gpt-4.1"},
    }


async def test_create_get_update_list_delete_round_trip(client: httpx.AsyncClient) -> None:
    created = await create(client, openai_body(defaultModel="gpt-3.5-turbo"))
    cid = created["id"]
    assert (await client.get(f"/api/actions/connector/{cid}")).json() == created

    update = {
        "name": "renamed",
        "config": {"apiProvider": "OpenAI", "apiUrl": OPENAI_URL, "headers": {"X-Team": "a"}},
        "secrets": {"apiKey": "other"},
    }
    updated = (await client.put(f"/api/actions/connector/{cid}", json=update)).json()
    assert updated["name"] == "renamed"
    assert updated["config"]["headers"] == {"X-Team": "a"}

    listed = (await client.get("/api/actions/connectors")).json()
    assert [c["id"] for c in listed] == [cid]
    assert listed[0]["referenced_by_count"] == 0

    deleted = await client.delete(f"/api/actions/connector/{cid}")
    assert deleted.status_code == 204
    assert deleted.content == b""
    missing = await client.get(f"/api/actions/connector/{cid}")
    assert missing.status_code == 404
    assert missing.json() == {
        "statusCode": 404,
        "error": "Not Found",
        "message": f"Saved object [action/{cid}] not found",
    }


async def test_list_is_sorted_by_name(client: httpx.AsyncClient) -> None:
    for name in ("zeta", "Alpha", "beta"):
        await create(client, {**openai_body(), "name": name})
    names = [c["name"] for c in (await client.get("/api/actions/connectors")).json()]
    assert names == sorted(names)


async def test_create_with_id_and_duplicate_id(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/actions/connector/my-openai", json=openai_body())
    assert response.json()["id"] == "my-openai"
    again = await client.post("/api/actions/connector/my-openai", json=openai_body())
    assert again.status_code == 409
    assert again.json()["message"] == "Saved object [action/my-openai] conflict"


async def test_connector_id_must_be_lowercase_letters_digits_hyphens(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/actions/connector/Bad_ID", json=openai_body())
    assert response.status_code == 400
    assert "lowercase letters, numbers, and hyphens" in response.json()["message"]
    assert await connector_count(client) == 0


async def test_azure_and_other_providers(client: httpx.AsyncClient) -> None:
    azure = await create(
        client,
        {
            "name": "azure",
            "connector_type_id": ".gen-ai",
            "config": {
                "apiProvider": "Azure OpenAI",
                "apiUrl": "https://res.openai.azure.com/openai/deployments/gpt4/chat/completions?api-version=2024-02-01",
            },
            "secrets": {"apiKey": "azure-key"},
        },
    )
    assert "defaultModel" not in azure["config"]
    other = await create(
        client,
        {
            "name": "local",
            "connector_type_id": ".gen-ai",
            "config": {
                "apiProvider": "Other",
                "apiUrl": "http://localhost:1234/v1/chat/completions",
                "defaultModel": "local-model",
            },
            "secrets": {"apiKey": "anything"},
        },
    )
    assert other["config"]["defaultModel"] == "local-model"
    assert "verificationMode" not in other["config"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"apiUrl": OPENAI_URL},
            "error validating action type config: types that failed validation:\n"
            "- [0.apiProvider]: expected at least one defined value but got [undefined]\n"
            "- [1.apiProvider]: expected at least one defined value but got [undefined]\n"
            "- [2.apiProvider]: expected at least one defined value but got [undefined]",
        ),
        (
            {"apiProvider": "OpenAI"},
            "error validating action type config: types that failed validation:\n"
            "- [0.apiProvider]: expected value to equal [Azure OpenAI]\n"
            "- [1.apiUrl]: expected value of type [string] but got [undefined]\n"
            "- [2.apiProvider]: expected value to equal [Other]",
        ),
        (
            {"apiProvider": "Other", "apiUrl": "http://localhost:1234/v1/chat/completions"},
            "error validating action type config: types that failed validation:\n"
            "- [0.apiProvider]: expected value to equal [Azure OpenAI]\n"
            "- [1.apiProvider]: expected value to equal [OpenAI]\n"
            "- [2.defaultModel]: expected value of type [string] but got [undefined]",
        ),
        (
            {"apiProvider": "OpenAI", "apiUrl": "ftp://example.com/v1"},
            "error validating action type config: Error configuring OpenAI action: "
            "Error: URL Error: Invalid protocol",
        ),
        (
            {
                "apiProvider": "OpenAI",
                "apiUrl": "https://user:pw@api.openai.com/v1/chat/completions",
            },
            "error validating action type config: Error configuring OpenAI action: "
            "Error: URL Error: apiUrl must not contain credentials (user:password@); "
            "put the API key in secrets",
        ),
        (
            {"apiProvider": "OpenAI", "apiUrl": "not a url"},
            "error validating action type config: Error configuring OpenAI action: "
            "Error: URL Error: Invalid URL",
        ),
        (
            {"apiProvider": "OpenAI", "apiUrl": OPENAI_URL, "unknownKey": 1},
            "error validating action type config: types that failed validation:\n"
            "- [0.apiProvider]: expected value to equal [Azure OpenAI]\n"
            "- [1.unknownKey]: definition for this key is missing\n"
            "- [2.apiProvider]: expected value to equal [Other]",
        ),
        (
            {"apiProvider": "OpenAI", "apiUrl": OPENAI_URL, "headers": {"X-Evil": "a\r\nHost: x"}},
            "error validating action type config: types that failed validation:\n"
            "- [0.apiProvider]: expected value to equal [Azure OpenAI]\n"
            "- [1.headers]: header [X-Evil] has a value containing CR, LF or NUL\n"
            "- [2.apiProvider]: expected value to equal [Other]",
        ),
    ],
)
async def test_invalid_config_is_refused_with_kibana_message(
    client: httpx.AsyncClient, config: dict[str, object], message: str
) -> None:
    body = {**openai_body(), "config": config}
    response = await client.post("/api/actions/connector", json=body)
    assert response.status_code == 400
    assert response.json() == {"statusCode": 400, "error": "Bad Request", "message": message}
    assert await connector_count(client) == 0


async def test_an_update_to_a_host_outside_allowed_hosts_is_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", **{"actions.allowed_hosts": ["api.openai.com"]})
    async with api_client(settings) as client:
        created = await create(client, openai_body())
        url = "https://elsewhere.example/v1/chat/completions"
        update = {
            "name": "moved",
            "config": {"apiProvider": "OpenAI", "apiUrl": url},
            "secrets": {"apiKey": "k"},
        }
        response = await client.put(f"/api/actions/connector/{created['id']}", json=update)
        assert response.status_code == 400
        assert response.json()["message"] == (
            "error validating action type config: Error configuring OpenAI action: Error: "
            f'error validating url: target url "{url}" is not added '
            "to the Kibana config xpack.actions.allowedHosts"
        )
        kept = (await client.get(f"/api/actions/connector/{created['id']}")).json()
        assert kept == created


async def test_host_outside_allowed_hosts_is_refused(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "data", **{"actions.allowed_hosts": ["api.openai.com"]})
    async with api_client(settings) as client:
        url = "http://genAi.mynonexistent.com"
        response = await client.post(
            "/api/actions/connector",
            json={**openai_body(), "config": {"apiProvider": "OpenAI", "apiUrl": url}},
        )
        assert response.status_code == 400
        assert response.json()["message"] == (
            "error validating action type config: Error configuring OpenAI action: Error: "
            'error validating url: target url "http://genAi.mynonexistent.com" is not added '
            "to the Kibana config xpack.actions.allowedHosts"
        )
        assert (await client.post("/api/actions/connector", json=openai_body())).status_code == 200


CERT = b64("-----BEGIN CERTIFICATE-----cert-----END CERTIFICATE-----")
KEY = b64("-----BEGIN PRIVATE KEY-----key-----END PRIVATE KEY-----")


@pytest.mark.parametrize(
    ("secrets", "message"),
    [
        ({}, "[apiKey]: expected value of type [string] but got [undefined]"),
        ({"apiKey": ""}, "[apiKey]: expected value of type [string] but got [undefined]"),
        ({"privateKeyData": KEY}, "Certificate data must be provided for PKI"),
        ({"certificateData": CERT}, "Private key data must be provided for PKI"),
        (
            {"certificateData": b64("invalid crt format"), "privateKeyData": KEY},
            "Invalid Certificate data file format: The file must be a PEM-encoded certificate "
            'beginning with "-----BEGIN CERTIFICATE-----".',
        ),
        (
            {"certificateData": CERT, "privateKeyData": b64("invalid key format")},
            "Invalid Private key data file format: The file must be a PEM-encoded private key "
            'beginning with "-----BEGIN PRIVATE KEY-----" or "-----BEGIN RSA PRIVATE KEY-----".',
        ),
        (
            {"certificateData": CERT, "privateKeyData": KEY, "caData": b64("nope")},
            "Invalid CA certificate data file format: The file must be a PEM-encoded certificate "
            'beginning with "-----BEGIN CERTIFICATE-----".',
        ),
        (
            {"apiKey": "k", "extra": "x"},
            "types that failed validation:\n- [0.extra]: definition for this key is missing\n"
            "- [1.extra]: definition for this key is missing",
        ),
    ],
)
async def test_invalid_secrets_are_refused_with_kibana_message(
    client: httpx.AsyncClient, secrets: dict[str, object], message: str
) -> None:
    body = {**openai_body(), "secrets": secrets}
    response = await client.post("/api/actions/connector", json=body)
    assert response.status_code == 400
    assert response.json()["message"] == f"error validating action type secrets: {message}"
    assert await connector_count(client) == 0


def pki_body(secrets: dict[str, str]) -> dict[str, object]:
    return {
        "name": "pki",
        "connector_type_id": ".gen-ai",
        "config": {
            "apiProvider": "Other",
            "apiUrl": "https://llm.internal/v1/chat/completions",
            "defaultModel": "m",
            "verificationMode": "certificate",
        },
        "secrets": secrets,
    }


CA = make_ca()
CLIENT = issue(CA, "client", client=True)
OTHER = issue(CA, "other", client=True)
EXPIRED = issue(CA, "old", client=True, expired=True)


async def test_pki_secrets_are_accepted_without_api_key(client: httpx.AsyncClient) -> None:
    secrets = {
        "certificateData": b64(CLIENT.certificate_pem),
        "privateKeyData": b64(CLIENT.key_pem),
        "caData": b64(CA.certificate_pem),
    }
    created = await create(client, pki_body(secrets))
    assert created["config"]["verificationMode"] == "certificate"
    assert "secrets" not in created


async def test_pki_with_newlines_turned_to_spaces_is_accepted(client: httpx.AsyncClient) -> None:
    """Kibana re-wraps PEM pasted on one line; so does llmrelay."""
    secrets = {
        "certificateData": b64(" ".join(CLIENT.certificate_pem.split("\n"))),
        "privateKeyData": b64(" ".join(CLIENT.key_pem.split("\n"))),
    }
    assert (await create(client, pki_body(secrets)))["name"] == "pki"


@pytest.mark.parametrize(
    ("secrets", "message"),
    [
        (
            {"certificateData": CERT, "privateKeyData": b64(CLIENT.key_pem)},
            "Invalid Certificate data: the PEM data is not a valid X.509 certificate",
        ),
        (
            {"certificateData": b64(CLIENT.certificate_pem), "privateKeyData": KEY},
            "Invalid Private key data: the PEM data is not a valid private key",
        ),
        (
            {"certificateData": b64(CLIENT.certificate_pem), "privateKeyData": b64(OTHER.key_pem)},
            "Invalid Private key data: the private key does not belong to the certificate",
        ),
        (
            {
                "certificateData": b64(EXPIRED.certificate_pem),
                "privateKeyData": b64(EXPIRED.key_pem),
            },
            "Invalid Certificate data: the certificate expired on "
            + EXPIRED.certificate.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
        ),
        (
            {
                "certificateData": b64(CLIENT.certificate_pem),
                "privateKeyData": b64(CLIENT.key_pem),
                "caData": CERT,
            },
            "Invalid CA certificate data: the PEM data is not a valid X.509 certificate",
        ),
        (  # PEM pasted as it is, not base64-encoded: Kibana's own message
            {"certificateData": CLIENT.certificate_pem, "privateKeyData": b64(CLIENT.key_pem)},
            "Invalid Certificate data file format: The file must be a PEM-encoded certificate "
            'beginning with "-----BEGIN CERTIFICATE-----".',
        ),
    ],
)
async def test_pki_material_is_parsed_for_real(
    client: httpx.AsyncClient, secrets: dict[str, str], message: str
) -> None:
    """Beyond Kibana's header check: garbage between headers, wrong keys, expiry are refused."""
    response = await client.post("/api/actions/connector", json=pki_body(secrets))
    assert response.status_code == 400
    assert response.json()["message"] == f"error validating action type secrets: {message}"
    assert await connector_count(client) == 0


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (
            {"connector_type_id": ".gen-ai"},
            400,
            "[request body.name]: expected value of type [string] but got [undefined]",
        ),
        ({**openai_body(), "name": ""}, 400, "[request body.name]: value '' is not valid"),
        (
            {**openai_body(), "surprise": 1},
            400,
            "[request body.surprise]: definition for this key is missing",
        ),
        (
            {**openai_body(), "connector_type_id": ".nope"},
            400,
            'Action type ".nope" is not registered.',
        ),
        (
            {**openai_body(), "config": "x"},
            400,
            "[request body.config]: expected value of type [object] but got [string]",
        ),
    ],
)
async def test_bad_create_bodies(
    client: httpx.AsyncClient, body: dict[str, object], status: int, message: str
) -> None:
    response = await client.post("/api/actions/connector", json=body)
    assert (response.status_code, response.json()["message"]) == (status, message)
    assert await connector_count(client) == 0


async def test_malformed_json_is_a_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/actions/connector", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json() == {
        "statusCode": 400,
        "error": "Bad Request",
        "message": "Invalid request payload JSON format",
    }


async def test_mutations_need_kbn_xsrf(client: httpx.AsyncClient) -> None:
    request = client.build_request("POST", "/api/actions/connector", json=openai_body())
    del request.headers["kbn-xsrf"]
    refused = await client.send(request)
    assert refused.status_code == 400
    assert refused.json()["message"] == "Request must contain a kbn-xsrf header."
    assert await connector_count(client) == 0


async def test_oversized_body_is_a_413(client: httpx.AsyncClient) -> None:
    big = {
        **openai_body(),
        "config": {
            "apiProvider": "OpenAI",
            "apiUrl": OPENAI_URL,
            "headers": {"X": "a" * 2_000_000},
        },
    }
    response = await client.post("/api/actions/connector", json=big)
    assert response.status_code == 413
    assert (
        response.json()["message"] == "Payload content length greater than maximum allowed: 1048576"
    )
    assert await connector_count(client) == 0


async def test_update_and_delete_unknown_connector_are_404(client: httpx.AsyncClient) -> None:
    update = {
        "name": "x",
        "config": {"apiProvider": "OpenAI", "apiUrl": OPENAI_URL},
        "secrets": {"apiKey": "k"},
    }
    assert (await client.put("/api/actions/connector/nope", json=update)).status_code == 404
    assert (await client.delete("/api/actions/connector/nope")).status_code == 404


async def test_invalid_update_leaves_the_connector_unchanged(client: httpx.AsyncClient) -> None:
    created = await create(client, openai_body())
    bad = {
        "name": "x",
        "config": {"apiProvider": "OpenAI", "apiUrl": "gopher://x"},
        "secrets": {"apiKey": "k"},
    }
    response = await client.put(f"/api/actions/connector/{created['id']}", json=bad)
    assert response.status_code == 400
    assert (await client.get(f"/api/actions/connector/{created['id']}")).json() == created


async def test_connector_types_lists_gen_ai(client: httpx.AsyncClient) -> None:
    types = (await client.get("/api/actions/connector_types")).json()
    gen_ai = next(t for t in types if t["id"] == ".gen-ai")
    assert gen_ai["name"] == "OpenAI"
    assert gen_ai["minimum_license_required"] == "enterprise"
    assert gen_ai["supported_feature_ids"] == [
        "generativeAIForSecurity",
        "generativeAIForObservability",
        "generativeAIForSearchPlayground",
    ]
    filtered = await client.get("/api/actions/connector_types", params={"feature_id": "alerting"})
    assert filtered.json() == []


async def test_unknown_route_is_a_kibana_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/nothing-here")
    assert response.json() == {"statusCode": 404, "error": "Not Found", "message": "Not Found"}


async def test_secrets_are_never_returned(client: httpx.AsyncClient) -> None:
    created = await create(client, openai_body())
    for response in (
        await client.get(f"/api/actions/connector/{created['id']}"),
        await client.get("/api/actions/connectors"),
    ):
        assert "genAiApiKey" not in response.text


async def test_oversized_chunked_body_without_length_is_a_413(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "x", "connector_type_id": ".gen-ai", "config": {"headers": {"X": "'
        for _ in range(300):
            yield b"a" * 4096
        yield b'"}}}'

    response = await client.post(
        "/api/actions/connector", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert await connector_count(client) == 0


@pytest.mark.parametrize(
    ("config", "line"),
    [
        (
            {"apiProvider": "OpenAI", "apiUrl": OPENAI_URL, "temperature": "hot"},
            "- [1.temperature]: expected value of type [number] but got [string]",
        ),
        (
            {"apiProvider": "OpenAI", "apiUrl": OPENAI_URL, "headers": {"X-Team": 7}},
            "- [1.headers.X-Team]: expected value of type [string] but got [number]",
        ),
    ],
)
async def test_nested_and_numeric_fields_are_named_as_written(
    client: httpx.AsyncClient, config: dict[str, object], line: str
) -> None:
    response = await client.post("/api/actions/connector", json={**openai_body(), "config": config})
    assert line in response.json()["message"].splitlines()


async def test_the_internal_update_keeps_secrets_when_none_is_given(
    client: httpx.AsyncClient, upstream: UpstreamServer
) -> None:
    cid = await create_connector(client, upstream.chat_completions_url, name="kept")
    config = {"apiProvider": "OpenAI", "apiUrl": upstream.chat_completions_url}
    refused = await client.put(
        f"/api/actions/connector/{cid}", json={"name": "x", "config": config}
    )
    assert refused.status_code == 400  # Kibana's route still replaces secrets wholesale
    kept = await client.put(
        f"/internal/actions/connector/{cid}", json={"name": "renamed", "config": config}
    )
    assert kept.status_code == 200, kept.text
    assert (kept.json()["name"], kept.json()["is_missing_secrets"]) == ("renamed", False)
    hello = '{"messages":[{"role":"user","content":"Hello world"}]}'
    run = {"params": {"subAction": "run", "subActionParams": {"body": hello}}}
    answer = (await client.post(f"/api/actions/connector/{cid}/_execute", json=run)).json()
    assert answer["status"] == "ok", answer  # the upstream accepts only the key given at creation
    replaced = await client.put(
        f"/internal/actions/connector/{cid}",
        json={"name": "renamed", "config": config, "secrets": {"apiKey": "sk-wrong"}},
    )
    assert replaced.status_code == 200
    answer = (await client.post(f"/api/actions/connector/{cid}/_execute", json=run)).json()
    assert answer["status"] == "error"
    assert "401" in answer["service_message"]
    bad = await client.put(
        f"/internal/actions/connector/{cid}",
        json={"name": "renamed", "config": {**config, "apiUrl": "ftp://x"}},
    )
    assert bad.status_code == 400
    assert "Invalid protocol" in bad.json()["message"]
