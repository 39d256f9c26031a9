"""Kibana's agent selection: proxy or direct, and which TLS settings apply to a target."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmrelay.errors import ConfigurationError
from llmrelay.settings import load_settings
from llmrelay.transport import ClientCertificate, NetworkPolicy
from llmrelay.transport.policy import DIRECT, canonical_url
from tests.transport.certificates import make_ca


def policy(**actions: object) -> NetworkPolicy:
    settings = load_settings({}, {f"actions.{key}": value for key, value in actions.items()})
    return NetworkPolicy.from_settings(settings.actions)


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("https://LLM.internal", "https://llm.internal:443"),
        ("https://llm.internal:8443/v1/chat?x=1#f", "https://llm.internal:8443"),
        ("http://u:p@llm.internal/", "http://llm.internal:80"),
        ("smtp://mail.internal", "smtp://mail.internal:25"),
        ("ftp://llm.internal", None),
        ("https://llm.internal:99999", None),
    ],
)
def test_canonical_urls(url: str, canonical: str | None) -> None:
    assert canonical_url(url) == canonical


def test_the_common_case_is_one_shared_route() -> None:
    plain = policy()
    assert plain.is_plain
    assert plain.route("https://api.openai.com/v1/chat/completions") is DIRECT


def test_proxy_credentials_are_taken_out_of_the_url() -> None:
    proxied = policy(proxy_url="http://us%40r:p%3Ass@127.0.0.1:3128", proxy_headers={"X-A": "1"})
    assert not proxied.is_plain
    route = proxied.route("https://api.openai.com/v1")
    assert route.proxy is not None
    assert route.proxy.url == "http://127.0.0.1:3128"
    assert route.proxy.credentials == ("us@r", "p:ss")
    assert route.proxy.headers == (("X-A", "1"),)
    assert "p:ss" not in repr(route)
    settings = load_settings({}, {"actions.proxy_url": "http://u:p%3Ass@127.0.0.1:3128"})
    assert "p%3Ass" not in repr(settings)


def test_custom_host_settings_win_over_connector_and_global(tmp_path: Path) -> None:
    ca_file = tmp_path / "ca.pem"
    file_ca, data_ca = make_ca("file CA").certificate_pem, make_ca("data CA").certificate_pem
    ca_file.write_text(file_ca)
    custom = [
        {"url": "https://llm.internal", "ssl": {"verificationMode": "none"}},
        {"url": "https://llm.internal:443/ignored", "ssl": {"verificationMode": "full"}},
        {
            "url": "https://other.internal:8443",
            "ssl": {
                "certificateAuthoritiesFiles": str(ca_file),
                "certificateAuthoritiesData": data_ca,
            },
        },
        {"url": "http://plain.internal", "ssl": {"verificationMode": "none"}},
    ]
    checked = policy(custom_host_settings=custom, ssl={"verification_mode": "certificate"})
    client = ClientCertificate("c", "k")
    route = checked.route("https://LLM.internal/v1", verification_mode="full", client=client)
    assert (route.tls.verification_mode, route.tls.client) == ("none", client)  # first entry wins
    route = checked.route("https://other.internal:8443/v1", ca_pem="CONNECTOR-CA")
    assert (route.tls.verification_mode, route.tls.ca_pem) == (
        "certificate",
        f"{data_ca}\n{file_ca}",
    )
    assert checked.route("https://other.internal/v1").tls.ca_pem is None  # port 443 ≠ 8443
    assert checked.route("http://plain.internal/v1") is DIRECT  # no TLS, nothing to configure


def test_an_unreadable_ca_file_stops_start_up(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pem"
    custom = [
        {"url": "https://llm.internal", "ssl": {"certificateAuthoritiesFiles": [str(missing)]}}
    ]
    with pytest.raises(ConfigurationError) as caught:
        policy(custom_host_settings=custom)
    assert str(caught.value) == (
        "xpack.actions.customHostSettings[0].ssl.certificateAuthoritiesFiles: "
        f"cannot read {missing}: No such file or directory"
    )


def test_certificate_authorities_that_are_not_pem_stop_start_up(tmp_path: Path) -> None:
    custom = [{"url": "https://llm.internal", "ssl": {"certificateAuthoritiesData": "nope"}}]
    with pytest.raises(ConfigurationError) as caught:
        policy(custom_host_settings=custom)
    assert str(caught.value) == (
        "xpack.actions.customHostSettings[0].ssl: "
        "the certificate authorities are not valid PEM certificates"
    )


def test_bypass_and_only_hosts(caplog: pytest.LogCaptureFixture) -> None:
    proxy = "http://127.0.0.1:3128"
    bypass = policy(proxy_url=proxy, proxy_bypass_hosts=["Direct.internal"])
    assert not bypass.uses_proxy("https://direct.internal/v1")
    assert bypass.uses_proxy("https://api.openai.com/v1")
    only = policy(proxy_url=proxy, proxy_only_hosts=["api.openai.com"])
    assert only.uses_proxy("https://api.openai.com/v1")
    assert not only.uses_proxy("https://direct.internal/v1")
    with caplog.at_level(logging.WARNING, logger="llmrelay.transport"):
        both = policy(proxy_url=proxy, proxy_bypass_hosts=["a"], proxy_only_hosts=["b"])
    assert both.proxy_only_hosts is None
    assert "proxyOnlyHosts is ignored" in caplog.text


URLS = st.one_of(
    st.text(max_size=60),
    st.from_regex(r"\A(https?|ftp)://[a-zA-Z.\[\]:0-9@%-]{0,30}(/[^#]{0,10})?\Z"),
    st.sampled_from(["https://llm.internal/v1", "https://direct.internal", "http://x:99999/"]),
)


@given(URLS, st.sampled_from(["full", "certificate", "none", None]))
def test_any_target_gets_a_route(url: str, mode: str | None) -> None:
    """A URL that passed no validation (or odd text) still gets a route, never an exception."""
    proxied = ROUTING_POLICY
    route = proxied.route(url, verification_mode=mode)  # type: ignore[arg-type]
    assert route.proxy in (None, proxied.proxy)
    if route.proxy is not None:
        assert proxied.uses_proxy(url)


ROUTING_POLICY = policy(
    proxy_url="https://127.0.0.1:3128",
    proxy_bypass_hosts=["direct.internal"],
    custom_host_settings=[{"url": "https://llm.internal", "ssl": {"verificationMode": "none"}}],
)
