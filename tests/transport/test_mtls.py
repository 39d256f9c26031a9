"""Client certificates and TLS verification against a real nginx (``ssl_verify_client on``).

nginx terminates TLS in front of the test upstream. Connectors are created and run through the
API, as a user would; the certificates are made for this run (``certificates.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from llmrelay.app import create_app
from llmrelay.settings import ActionsSettings
from llmrelay.transport import HttpClientPool, NetworkPolicy, OutboundHttp, TlsSettings
from tests.api.test_execute import execute
from tests.conftest import ADMIN_AUTH, UPSTREAM_KEY, api_client, make_settings
from tests.live import serve_in_thread
from tests.transport.certificates import Issued, b64, issue, make_ca
from tests.transport.servers import Nginx, nginx_tls
from tests.transport.streaming import ANSWER, HELLO, stream_arrivals, streamed_text
from tests.upstream import StreamDelay, UpstreamServer


@dataclass(frozen=True)
class Pki:
    server_ca: Issued
    client_ca: Issued
    client: Issued
    stranger: Issued
    """A client certificate from a CA nginx does not trust."""


@pytest.fixture(scope="module")
def pki() -> Pki:
    client_ca = make_ca("client CA")
    return Pki(
        server_ca=make_ca("server CA"),
        client_ca=client_ca,
        client=issue(client_ca, "llmrelay", client=True),
        stranger=issue(make_ca("another CA"), "stranger", client=True),
    )


@pytest.fixture(scope="module")
def module_upstream() -> Iterator[UpstreamServer]:
    with UpstreamServer(api_key=UPSTREAM_KEY) as server:
        yield server


def _serve(
    directory: Path, upstream: UpstreamServer, server: Issued, client_ca: Issued | None
) -> Iterator[Nginx]:
    certificate, key = server.write(directory, "server")
    ca_file = None
    if client_ca is not None:
        ca_file = directory / "client-ca.crt"
        ca_file.write_text(client_ca.certificate_pem)
    with nginx_tls(
        directory / "nginx", upstream.port, certificate=certificate, key=key, client_ca=ca_file
    ) as nginx:
        yield nginx


@pytest.fixture(scope="module")
def mtls(
    tmp_path_factory: pytest.TempPathFactory, module_upstream: UpstreamServer, pki: Pki
) -> Iterator[Nginx]:
    """Demands a client certificate from ``client_ca``; its own names 127.0.0.1 and localhost."""
    server = issue(pki.server_ca, "llm.internal", server_names=("127.0.0.1", "localhost"))
    yield from _serve(tmp_path_factory.mktemp("mtls"), module_upstream, server, pki.client_ca)


@pytest.fixture(scope="module")
def misnamed(
    tmp_path_factory: pytest.TempPathFactory, module_upstream: UpstreamServer, pki: Pki
) -> Iterator[Nginx]:
    """No client certificate needed; its certificate names only ``not-this-host.test``."""
    server = issue(pki.server_ca, "not-this-host.test", server_names=("not-this-host.test",))
    yield from _serve(tmp_path_factory.mktemp("misnamed"), module_upstream, server, None)


def pki_connector(
    url: str, client: Issued | None, ca: Issued | None, mode: str = "full"
) -> dict[str, object]:
    secrets: dict[str, str] = {"apiKey": UPSTREAM_KEY}
    if client is not None:
        secrets |= {"certificateData": b64(client.certificate_pem)}
        secrets |= {"privateKeyData": b64(client.key_pem)}
    if ca is not None:
        secrets["caData"] = b64(ca.certificate_pem)
    return {
        "name": "mtls",
        "connector_type_id": ".gen-ai",
        "config": {
            "apiProvider": "Other",
            "apiUrl": url,
            "defaultModel": "local-model",
            "verificationMode": mode,
        },
        "secrets": secrets,
    }


async def create(client: httpx.AsyncClient, body: dict[str, object]) -> str:
    response = await client.post("/api/actions/connector", json=body)
    assert response.status_code == 200, response.text
    connector_id: str = response.json()["id"]
    return connector_id


def answer_of(result: dict[str, object]) -> str:
    assert result["status"] == "ok", result
    data = result["data"]
    assert isinstance(data, dict)
    content: str = data["choices"][0]["message"]["content"]
    return content


async def test_the_right_client_certificate_gets_answers(
    tmp_path: Path, mtls: Nginx, pki: Pki
) -> None:
    async with api_client(make_settings(tmp_path)) as client:
        cid = await create(client, pki_connector(mtls.url(), pki.client, pki.server_ca))
        assert answer_of(await execute(client, cid, "run", body=HELLO)) == ANSWER
        # a second run reuses the pooled TLS connection and still answers
        assert answer_of(await execute(client, cid, "run", body=HELLO)) == ANSWER
    access_log = (mtls.directory / "access.log").read_text()
    assert access_log.count("POST /v1/chat/completions") >= 2


async def test_the_right_client_certificate_streams_as_events_arrive(
    tmp_path: Path, mtls: Nginx, pki: Pki, module_upstream: UpstreamServer
) -> None:
    with serve_in_thread(create_app(make_settings(tmp_path))) as base_url:
        async with httpx.AsyncClient(
            base_url=base_url, headers={"kbn-xsrf": "true"}, auth=ADMIN_AUTH, timeout=10
        ) as client:
            cid = await create(client, pki_connector(mtls.url(), pki.client, pki.server_ca))
            module_upstream.queue(StreamDelay(0.2))
            arrivals = await stream_arrivals(client, cid)
    assert streamed_text(arrivals) == ANSWER
    # 8 events 0.2 s apart: the first arrived long before the upstream sent the last
    assert arrivals[0][0] < arrivals[-1][0] - 0.8


def _trusting(url: str, ca: Issued, mode: str | None = None) -> dict[str, object]:
    """``customHostSettings`` that make llmrelay trust the nginx server's CA for ``url``."""
    ssl: dict[str, object] = {"certificateAuthoritiesData": ca.certificate_pem}
    if mode is not None:
        ssl["verificationMode"] = mode
    return {"actions.custom_host_settings": [{"url": url, "ssl": ssl}]}


async def _run_other(
    tmp_path: Path, url: str, overrides: dict[str, object], body: dict[str, object] | None = None
) -> dict[str, object]:
    async with api_client(make_settings(tmp_path, **overrides)) as client:
        if body is None:
            body = pki_connector(url, None, None)
            body["config"].pop("verificationMode")  # type: ignore[attr-defined]
            body["secrets"] = {"apiKey": UPSTREAM_KEY}
        cid = await create(client, body)
        return await execute(client, cid, "run", body=HELLO)


async def test_no_client_certificate_is_refused_by_the_server(
    tmp_path: Path, mtls: Nginx, pki: Pki
) -> None:
    result = await _run_other(tmp_path, mtls.url(), _trusting(mtls.url(), pki.server_ca))
    assert result["status"] == "error"
    assert result["service_message"] == (
        "Status code: 400. Message: API Error: Bad Request - No required SSL certificate was sent"
    )


async def test_a_certificate_from_another_ca_is_refused_by_the_server(
    tmp_path: Path, mtls: Nginx, pki: Pki
) -> None:
    body = pki_connector(mtls.url(), pki.stranger, pki.server_ca)
    result = await _run_other(tmp_path, mtls.url(), {}, body)
    assert result["status"] == "error"
    message = str(result["service_message"])
    assert message.startswith(
        "Status code: 400. Message: API Error: Bad Request - The SSL certificate error: FAILED:"
    ), message


async def test_a_key_of_another_certificate_is_refused_before_anything_is_saved(
    tmp_path: Path, mtls: Nginx, pki: Pki
) -> None:
    body = pki_connector(mtls.url(), pki.client, pki.server_ca)
    body["secrets"]["privateKeyData"] = b64(pki.stranger.key_pem)  # type: ignore[index]
    async with api_client(make_settings(tmp_path)) as client:
        response = await client.post("/api/actions/connector", json=body)
        assert response.status_code == 400
        assert response.json()["message"] == (
            "error validating action type secrets: "
            "Invalid Private key data: the private key does not belong to the certificate"
        )
        assert (await client.get("/api/actions/connectors")).json() == []


HOSTNAME_MISMATCH = (
    "TLS handshake failed: Status code: undefined. Message: Unexpected API Error: "
    "ERR_TLS_CERT_ALTNAME_INVALID - IP address mismatch, certificate is not valid for '127.0.0.1'. "
    "Verify server certificate hostname and CA configuration."
)


@pytest.mark.parametrize(
    ("where", "mode", "expected"),
    [
        ("global", "full", HOSTNAME_MISMATCH),
        ("global", "certificate", ANSWER),
        ("global", "none", ANSWER),
        ("custom host", "full", HOSTNAME_MISMATCH),
        ("custom host", "certificate", ANSWER),
        ("connector", "full", HOSTNAME_MISMATCH),
        ("connector", "certificate", ANSWER),
        ("connector", "none", ANSWER),
    ],
)
async def test_verification_modes_against_a_certificate_for_another_name(
    tmp_path: Path, misnamed: Nginx, pki: Pki, where: str, mode: str, expected: str
) -> None:
    url = misnamed.url()
    if where == "global":
        overrides = {**_trusting(url, pki.server_ca), "actions.ssl.verification_mode": mode}
        result = await _run_other(tmp_path, url, overrides)
    elif where == "custom host":
        overrides = {**_trusting(url, pki.server_ca, mode), "actions.ssl.verification_mode": "none"}
        result = await _run_other(tmp_path, url, overrides)
    else:
        body = pki_connector(url, pki.client, pki.server_ca, mode)
        result = await _run_other(tmp_path, url, {}, body)
    if expected == ANSWER:
        assert answer_of(result) == ANSWER
    else:
        assert result["status"] == "error"
        assert result["service_message"] == expected


async def test_none_accepts_a_server_whose_ca_is_unknown(
    tmp_path: Path, misnamed: Nginx, pki: Pki
) -> None:
    overrides = {"actions.ssl.verification_mode": "none"}
    assert answer_of(await _run_other(tmp_path, misnamed.url(), overrides)) == ANSWER


async def test_full_refuses_a_server_whose_ca_is_unknown(tmp_path: Path, mtls: Nginx) -> None:
    result = await _run_other(tmp_path, mtls.url(), {})
    assert result["status"] == "error"
    assert result["service_message"] == (
        "Status code: undefined. Message: Unexpected API Error: "
        "UNABLE_TO_GET_ISSUER_CERT_LOCALLY - unable to get local issuer certificate"
    )


async def test_a_host_name_the_certificate_lacks_is_refused_in_full_mode(
    tmp_path: Path, misnamed: Nginx, pki: Pki
) -> None:
    url = misnamed.url("localhost")
    result = await _run_other(tmp_path, url, _trusting(url, pki.server_ca))
    assert result["service_message"] == (
        "TLS handshake failed: Status code: undefined. Message: Unexpected API Error: "
        "ERR_TLS_CERT_ALTNAME_INVALID - Hostname mismatch, certificate is not valid for "
        "'localhost'. Verify server certificate hostname and CA configuration."
    )


async def test_certificate_authorities_from_a_file(tmp_path: Path, mtls: Nginx, pki: Pki) -> None:
    """``certificateAuthoritiesFiles`` are read at start-up; the client certificate applies too."""
    ca_file = tmp_path / "server-ca.pem"
    ca_file.write_text(pki.server_ca.certificate_pem)
    ssl = {"certificateAuthoritiesFiles": [str(ca_file)]}
    overrides = {"actions.custom_host_settings": [{"url": mtls.url(path=""), "ssl": ssl}]}
    body = pki_connector(mtls.url(), pki.client, None)
    assert answer_of(await _run_other(tmp_path, mtls.url(), overrides, body)) == ANSWER


async def test_connections_are_never_shared_between_client_certificates(
    tmp_path: Path, mtls: Nginx, pki: Pki
) -> None:
    """A connection nginx accepted for one certificate must not carry another's requests."""
    async with api_client(make_settings(tmp_path)) as client:
        trusted = await create(client, pki_connector(mtls.url(), pki.client, pki.server_ca))
        stranger = await create(client, pki_connector(mtls.url(), pki.stranger, pki.server_ca))
        assert answer_of(await execute(client, trusted, "run", body=HELLO)) == ANSWER
        refused = await execute(client, stranger, "run", body=HELLO)
        assert str(refused["service_message"]).startswith("Status code: 400.")
        assert answer_of(await execute(client, trusted, "run", body=HELLO)) == ANSWER


async def test_a_stream_survives_its_route_being_over_the_pool_limit(
    misnamed: Nginx, pki: Pki, module_upstream: UpstreamServer
) -> None:
    """With room for one route, opening a second one must not close the streaming one."""
    pool = HttpClientPool(max_routes=1)
    http = OutboundHttp(pool, NetworkPolicy.from_settings(ActionsSettings()))
    headers = {"authorization": f"Bearer {UPSTREAM_KEY}", "content-type": "application/json"}
    body = b'{"model":"m","stream":true,"messages":[{"role":"user","content":"a b c"}]}'
    module_upstream.queue(StreamDelay(0.1))
    try:
        stream = await http.open_stream(
            misnamed.url(), headers=headers, body=body, timeout_s=5, tls=TlsSettings("none")
        )
        other = TlsSettings("certificate", pki.server_ca.certificate_pem)
        answer = await http.post(
            misnamed.url(),
            headers=headers,
            body=body.replace(b"true", b"false"),
            timeout_s=5,
            tls=other,
        )
        assert answer.status == 200
        received = b"".join([chunk async for chunk in stream])
        await stream.aclose()
        assert received.endswith(b"data: [DONE]\n\n")
    finally:
        await pool.aclose()
