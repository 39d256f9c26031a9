"""Connector traffic through a real squid forward proxy: CONNECT, absolute form, host lists, auth.

squid's access log is the witness: a request that went through it is there, one that went
direct is not. squid writes a tunnel's line when the tunnel closes, so logs are read after the
app (and with it the pooled connections) has stopped.
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from llmrelay.app import create_app
from llmrelay.settings import ActionsSettings
from llmrelay.transport import HttpClientPool, NetworkPolicy, OutboundHttp
from tests.api.test_execute import execute
from tests.conftest import ADMIN_AUTH, UPSTREAM_KEY, api_client, make_settings
from tests.live import serve_in_thread
from tests.transport.certificates import Issued, issue, make_ca
from tests.transport.servers import (
    Nginx,
    Squid,
    established_to,
    free_port,
    nginx_tls,
    squid_proxy,
)
from tests.transport.streaming import ANSWER, HELLO, stream_arrivals, streamed_text
from tests.upstream import Slow, StreamDelay, UpstreamServer

USER, PASSWORD = "relay", "s3cret:with colon"


@pytest.fixture(scope="module")
def module_upstream() -> Iterator[UpstreamServer]:
    with UpstreamServer(api_key=UPSTREAM_KEY) as server:
        yield server


@pytest.fixture(scope="module")
def server_ca() -> Issued:
    return make_ca("proxy test server CA")


@pytest.fixture(scope="module")
def tls_upstream(
    tmp_path_factory: pytest.TempPathFactory, module_upstream: UpstreamServer, server_ca: Issued
) -> Iterator[Nginx]:
    directory = tmp_path_factory.mktemp("nginx")
    server = issue(server_ca, "upstream", server_names=("127.0.0.1", "localhost"))
    certificate, key = server.write(directory, "server")
    with nginx_tls(
        directory / "nginx", module_upstream.port, certificate=certificate, key=key
    ) as nginx:
        yield nginx


@pytest.fixture
def squid() -> Iterator[Squid]:
    with squid_proxy() as proxy:
        yield proxy


@pytest.fixture(scope="module")
def authenticating_squid() -> Iterator[Squid]:
    with squid_proxy(user=USER, password=PASSWORD) as proxy:
        yield proxy


def trusting(nginx: Nginx, ca: Issued) -> dict[str, object]:
    ssl = {"certificateAuthoritiesData": ca.certificate_pem}
    return {"actions.custom_host_settings": [{"url": nginx.url(path=""), "ssl": ssl}]}


def connector(url: str) -> dict[str, object]:
    return {
        "name": "proxied",
        "connector_type_id": ".gen-ai",
        "config": {"apiProvider": "Other", "apiUrl": url, "defaultModel": "local-model"},
        "secrets": {"apiKey": UPSTREAM_KEY},
    }


async def run_all(tmp_path: Path, urls: list[str], **overrides: object) -> list[dict[str, object]]:
    """Create a connector per URL and run each once, on an app with ``overrides``."""
    results = []
    async with api_client(make_settings(tmp_path / "data", **overrides)) as client:
        for url in urls:
            response = await client.post("/api/actions/connector", json=connector(url))
            assert response.status_code == 200, response.text
            results.append(await execute(client, response.json()["id"], "run", body=HELLO))
    return results


def answer_of(result: dict[str, object]) -> str:
    assert result["status"] == "ok", result
    data = result["data"]
    assert isinstance(data, dict)
    content: str = data["choices"][0]["message"]["content"]
    return content


async def test_https_goes_through_a_connect_tunnel(
    tmp_path: Path, squid: Squid, tls_upstream: Nginx, server_ca: Issued
) -> None:
    overrides = {"actions.proxy_url": squid.url, **trusting(tls_upstream, server_ca)}
    (result,) = await run_all(tmp_path, [tls_upstream.url()], **overrides)
    assert answer_of(result) == ANSWER
    assert squid.wait_for_log(f"CONNECT 127.0.0.1:{tls_upstream.port}")


async def test_plain_http_is_sent_to_the_proxy_in_absolute_form(
    tmp_path: Path, squid: Squid, module_upstream: UpstreamServer
) -> None:
    (result,) = await run_all(
        tmp_path, [module_upstream.chat_completions_url], **{"actions.proxy_url": squid.url}
    )
    assert answer_of(result) == ANSWER
    assert squid.wait_for_log(f"POST {module_upstream.chat_completions_url}")


def _through_proxy(squid: Squid, port: int) -> set[str]:
    """Which host names squid saw requests for on ``port`` (after the app stopped)."""
    squid.wait_for_log(f":{port}/", timeout_s=2)
    seen = set()
    for line in squid.access_log():
        for host in ("127.0.0.1", "localhost"):
            if f"http://{host}:{port}/" in line:
                seen.add(host)
    return seen


@pytest.mark.parametrize(
    ("hosts", "proxied"),
    [
        ({"actions.proxy_bypass_hosts": ["127.0.0.1"]}, {"localhost"}),
        ({"actions.proxy_only_hosts": ["LOCALHOST"]}, {"localhost"}),
        ({"actions.proxy_only_hosts": ["127.0.0.1"]}, {"127.0.0.1"}),
        (  # both set: only-hosts is ignored, so everything not bypassed uses the proxy
            {
                "actions.proxy_bypass_hosts": ["localhost"],
                "actions.proxy_only_hosts": ["localhost"],
            },
            {"127.0.0.1"},
        ),
    ],
)
async def test_bypass_and_only_hosts_decide_who_uses_the_proxy(
    tmp_path: Path,
    squid: Squid,
    module_upstream: UpstreamServer,
    hosts: dict[str, object],
    proxied: set[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    port = module_upstream.port
    urls = [f"http://{host}:{port}/v1/chat/completions" for host in ("127.0.0.1", "localhost")]
    with caplog.at_level(logging.WARNING, logger="llmrelay.transport"):
        results = await run_all(tmp_path, urls, **{"actions.proxy_url": squid.url, **hosts})
    assert [answer_of(r) for r in results] == [ANSWER, ANSWER]
    assert _through_proxy(squid, port) == proxied
    both = len(hosts) == 2
    assert any("proxyOnlyHosts is ignored" in r.getMessage() for r in caplog.records) == both


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@pytest.mark.parametrize("how", ["url", "header"])
async def test_proxy_credentials_from_the_url_or_a_header(
    tmp_path: Path,
    authenticating_squid: Squid,
    tls_upstream: Nginx,
    server_ca: Issued,
    module_upstream: UpstreamServer,
    how: str,
) -> None:
    proxy = authenticating_squid
    if how == "url":
        escaped = PASSWORD.replace(":", "%3A").replace(" ", "%20")
        overrides: dict[str, object] = {
            "actions.proxy_url": f"http://{USER}:{escaped}@127.0.0.1:{proxy.port}"
        }
    else:
        overrides = {
            "actions.proxy_url": proxy.url,
            "actions.proxy_headers": {"Proxy-Authorization": _basic(USER, PASSWORD)},
        }
    urls = [tls_upstream.url(), module_upstream.chat_completions_url]
    results = await run_all(tmp_path, urls, **overrides, **trusting(tls_upstream, server_ca))
    assert [answer_of(r) for r in results] == [ANSWER, ANSWER]
    assert proxy.wait_for_log(f"CONNECT 127.0.0.1:{tls_upstream.port} {USER}")


async def test_wrong_proxy_credentials_give_a_clear_error(
    tmp_path: Path,
    authenticating_squid: Squid,
    tls_upstream: Nginx,
    server_ca: Issued,
    module_upstream: UpstreamServer,
) -> None:
    proxy_url = f"http://{USER}:wrong@127.0.0.1:{authenticating_squid.port}"
    urls = [tls_upstream.url(), module_upstream.chat_completions_url]
    overrides = {"actions.proxy_url": proxy_url, **trusting(tls_upstream, server_ca)}
    tunnel, plain = await run_all(tmp_path, urls, **overrides)
    assert tunnel["status"] == "error"
    assert tunnel["service_message"] == (
        "Status code: undefined. Message: Unexpected API Error: ERR_PROXY_CONNECT - "
        f"proxy refused the tunnel to 127.0.0.1:{tls_upstream.port}: "
        "407 Proxy Authentication Required"
    )
    assert plain["status"] == "error"
    assert plain["service_message"] == (
        "Status code: 407. Message: API Error: Proxy Authentication Required"
    )


async def test_an_unreachable_proxy_is_named(
    tmp_path: Path, module_upstream: UpstreamServer
) -> None:
    port = free_port()
    (result,) = await run_all(
        tmp_path,
        [module_upstream.chat_completions_url],
        **{"actions.proxy_url": f"http://127.0.0.1:{port}"},
    )
    assert result["service_message"] == (
        "Status code: undefined. Message: Unexpected API Error: ECONNREFUSED - "
        f"connect ECONNREFUSED 127.0.0.1:{port} (the proxy)"
    )


@pytest.mark.parametrize(
    ("proxy_kind", "target"), [("http", "https"), ("http", "http"), ("https", "https")]
)
async def test_events_pass_through_the_proxy_as_they_arrive(
    tmp_path: Path,
    request: pytest.FixtureRequest,
    tls_upstream: Nginx,
    server_ca: Issued,
    proxy_ca: Issued,
    module_upstream: UpstreamServer,
    proxy_kind: str,
    target: str,
) -> None:
    """Served by uvicorn as in production (uvloop), so TLS inside the proxy's TLS runs there."""
    squid: Squid = request.getfixturevalue("squid" if proxy_kind == "http" else "https_squid")
    url = tls_upstream.url() if target == "https" else module_upstream.chat_completions_url
    trust = _trusted((squid.url, proxy_ca), (tls_upstream.url(path=""), server_ca))
    settings = make_settings(tmp_path / "data", **{"actions.proxy_url": squid.url, **trust})
    arrivals: list[tuple[float, bytes]] = []
    with serve_in_thread(create_app(settings)) as base_url:
        async with httpx.AsyncClient(
            base_url=base_url, headers={"kbn-xsrf": "true"}, auth=ADMIN_AUTH, timeout=10
        ) as client:
            response = await client.post("/api/actions/connector", json=connector(url))
            cid = response.json()["id"]
            module_upstream.queue(StreamDelay(0.2))
            arrivals = await stream_arrivals(client, cid)
    assert streamed_text(arrivals) == ANSWER
    # 8 events sent 0.2 s apart: the first reached the caller long before the last was sent
    assert arrivals[0][0] < arrivals[-1][0] - 0.8
    assert len(arrivals) >= 4
    expected = f"CONNECT 127.0.0.1:{tls_upstream.port}" if target == "https" else f"POST {url}"
    assert squid.wait_for_log(expected)


@pytest.fixture(scope="module")
def proxy_ca() -> Issued:
    return make_ca("proxy CA")


@pytest.fixture(scope="module")
def https_squid(proxy_ca: Issued) -> Iterator[Squid]:
    proxy = issue(proxy_ca, "proxy", server_names=("127.0.0.1",))
    with squid_proxy(tls=(proxy.certificate_pem, proxy.key_pem)) as squid:
        yield squid


def _trusted(*entries: tuple[str, Issued]) -> dict[str, object]:
    custom = [
        {"url": url, "ssl": {"certificateAuthoritiesData": ca.certificate_pem}}
        for url, ca in entries
    ]
    return {"actions.custom_host_settings": custom}


async def test_an_https_proxy_is_checked_with_its_own_settings(
    tmp_path: Path,
    https_squid: Squid,
    proxy_ca: Issued,
    tls_upstream: Nginx,
    server_ca: Issued,
    module_upstream: UpstreamServer,
) -> None:
    """The proxy's CA is trusted for the proxy only, the target's for the target only."""
    overrides = {
        "actions.proxy_url": https_squid.url,
        **_trusted((https_squid.url, proxy_ca), (tls_upstream.url(path=""), server_ca)),
    }
    urls = [tls_upstream.url(), module_upstream.chat_completions_url]
    results = await run_all(tmp_path, urls, **overrides)
    assert [answer_of(r) for r in results] == [ANSWER, ANSWER]
    assert https_squid.wait_for_log(f"POST {module_upstream.chat_completions_url}")
    assert https_squid.wait_for_log(f"CONNECT 127.0.0.1:{tls_upstream.port}")


@pytest.mark.parametrize(
    ("mode", "works"), [("full", False), ("certificate", False), ("none", True)]
)
async def test_proxy_verification_mode(
    tmp_path: Path,
    https_squid: Squid,
    module_upstream: UpstreamServer,
    mode: str,
    works: bool,
) -> None:
    """Without the proxy's CA, only ``none`` reaches it; the target's settings do not matter."""
    overrides = {
        "actions.proxy_url": https_squid.url,
        "actions.ssl": {"proxy_verification_mode": mode, "verification_mode": "none"},
    }
    (result,) = await run_all(tmp_path, [module_upstream.chat_completions_url], **overrides)
    if works:
        assert answer_of(result) == ANSWER
    else:
        assert result["status"] == "error"
        assert result["service_message"] == (
            "Status code: undefined. Message: Unexpected API Error: "
            "UNABLE_TO_GET_ISSUER_CERT_LOCALLY - unable to get local issuer certificate"
        )


async def test_idle_connections_to_the_proxy_are_closed_when_their_time_is_up(
    squid: Squid, module_upstream: UpstreamServer
) -> None:
    """The proxied route (aiohttp) closes a burst's idle connections too: its clean-up runs
    every ``idle_connection_timeout_s``, so they are gone within twice that."""
    settings = ActionsSettings(proxy_url=squid.url, idle_connection_timeout_s=0.5)
    pool = HttpClientPool(idle_timeout_s=settings.idle_connection_timeout_s)
    http = OutboundHttp(pool, NetworkPolicy.from_settings(settings))
    module_upstream.queue(*[Slow(0.2)] * 20)

    async def post() -> int:
        response = await http.post(
            module_upstream.chat_completions_url,
            headers={"authorization": f"Bearer {UPSTREAM_KEY}", "content-type": "application/json"},
            body=HELLO.encode(),
            timeout_s=10,
        )
        return response.status

    try:
        assert await asyncio.gather(*(post() for _ in range(20))) == [200] * 20
        assert established_to(squid.port) == 20
        await asyncio.sleep(1.5)
        assert established_to(squid.port) == 0
    finally:
        await pool.aclose()
