"""Where connectors may connect, through which proxy, with which TLS checks, how long and how much.

Mirrors Kibana's ``xpack.actions.allowedHosts``, ``responseTimeout``, ``maxResponseContentLength``,
``proxy*``, ``ssl.*`` and ``customHostSettings`` so that a config written for Kibana behaves the
same here. ``route`` is Kibana's agent selection (``get_custom_agents.ts``): it decides, per
request, whether to go through the proxy and which TLS settings apply.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from cryptography import x509

from llmrelay.errors import ConfigurationError
from llmrelay.settings import ActionsSettings, CustomHostSettings, VerificationMode
from llmrelay.transport.decoding import ExpansionLimit
from llmrelay.transport.tls import DEFAULT_TLS, ClientCertificate, TlsSettings

logger = logging.getLogger("llmrelay.transport")

DEFAULT_PORTS = {"http": 80, "https": 443, "smtp": 25}


def hostname_of(url: str) -> str | None:
    """Lower-cased host name of an absolute URL, or None when the URL has none."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host or None


def canonical_url(url: str) -> str | None:
    """``<scheme>://<hostname>:<port>``, Kibana's key for custom host settings; None if unusable."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname or parts.scheme not in DEFAULT_PORTS:
        return None
    return f"{parts.scheme}://{parts.hostname}:{port or DEFAULT_PORTS[parts.scheme]}"


@dataclass(frozen=True)
class ProxyRoute:
    """The proxy a request goes through; credentials of its URL are kept apart (never logged)."""

    url: str
    headers: tuple[tuple[str, str], ...] = ()
    credentials: tuple[str, str] | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Route:
    """How one request leaves: directly or through ``proxy``, with ``tls`` for an https target.

    ``proxy_tls`` is set for an ``https://`` proxy: how the proxy's own certificate is checked.
    """

    proxy: ProxyRoute | None
    tls: TlsSettings
    proxy_tls: TlsSettings | None = None


DIRECT = Route(None, DEFAULT_TLS)


@dataclass(frozen=True)
class CustomHost:
    verification_mode: VerificationMode | None
    ca_pem: str | None = field(repr=False)


def _proxy_route(url: str, headers: Mapping[str, str]) -> ProxyRoute:
    parts = urlsplit(url)
    credentials = None
    if parts.username is not None:
        credentials = (unquote(parts.username), unquote(parts.password or ""))
    netloc = parts.hostname or ""
    if ":" in netloc:
        netloc = f"[{netloc}]"
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    bare = urlunsplit((parts.scheme, netloc, parts.path, "", ""))
    return ProxyRoute(bare, tuple(headers.items()), credentials)


def _custom_hosts(entries: tuple[CustomHostSettings, ...]) -> dict[str, CustomHost]:
    """Kibana's start-up processing: canonical URLs, https only, CA files read, first entry wins."""
    hosts: dict[str, CustomHost] = {}
    for index, entry in enumerate(entries):
        where = f"xpack.actions.customHostSettings[{index}]"
        canonical = canonical_url(entry.url)
        if canonical is None:
            raise ConfigurationError(f"{where}.url: [{entry.url}] is not a valid URL")
        if not canonical.startswith("https:"):
            logger.warning(
                "%s.url: only https URLs take TLS settings; %s ignored", where, entry.url
            )
            continue
        parts = urlsplit(entry.url)
        if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
            logger.warning("%s.url: path, query, credentials are ignored in %s", where, entry.url)
        if canonical in hosts:
            logger.warning("%s: a second entry for %s is ignored", where, canonical)
            continue
        ssl = entry.ssl
        if ssl is None:
            hosts[canonical] = CustomHost(None, None)
            continue
        files = ssl.certificateAuthoritiesFiles
        names = (files,) if isinstance(files, str) else (files or ())
        pems = [ssl.certificateAuthoritiesData] if ssl.certificateAuthoritiesData else []
        for name in names:
            try:
                pems.append(Path(name).read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError) as exc:
                reason = getattr(exc, "strerror", None) or str(exc)
                raise ConfigurationError(
                    f"{where}.ssl.certificateAuthoritiesFiles: cannot read {name}: {reason}"
                ) from None
        ca_pem = "\n".join(pems) or None
        if ca_pem is not None:
            try:
                x509.load_pem_x509_certificates(ca_pem.encode())
            except ValueError:
                raise ConfigurationError(
                    f"{where}.ssl: the certificate authorities are not valid PEM certificates"
                ) from None
        hosts[canonical] = CustomHost(ssl.verificationMode, ca_pem)
    return hosts


@dataclass(frozen=True)
class NetworkPolicy:
    allowed_hosts: frozenset[str]
    response_timeout_s: float
    max_response_content_length_bytes: int
    max_decompression_ratio: float = 250.0
    proxy: ProxyRoute | None = None
    proxy_bypass_hosts: frozenset[str] | None = None
    proxy_only_hosts: frozenset[str] | None = None
    verification_mode: VerificationMode = "full"
    proxy_verification_mode: VerificationMode = "full"
    custom_hosts: Mapping[str, CustomHost] = field(default_factory=dict)

    @cached_property
    def proxy_tls(self) -> TlsSettings | None:
        """An https proxy's checks: ``ssl.proxyVerificationMode``, or its customHostSettings entry.

        (Kibana's Node process would trust the system CAs; a ``customHostSettings`` entry for the
        proxy's URL is how llmrelay is told to trust a private CA for the proxy.)
        """
        if self.proxy is None or not self.proxy.url.startswith("https:"):
            return None
        custom = self.custom_hosts.get(canonical_url(self.proxy.url) or "")
        if custom is None:
            return TlsSettings(self.proxy_verification_mode)
        return TlsSettings(custom.verification_mode or self.proxy_verification_mode, custom.ca_pem)

    @classmethod
    def from_settings(cls, settings: ActionsSettings) -> NetworkPolicy:
        """Reads the CA files of ``customHostSettings`` (a bad one stops start-up)."""
        only = settings.proxy_only_hosts
        if settings.proxy_bypass_hosts is not None and only is not None:
            logger.warning(
                "xpack.actions.proxyBypassHosts and proxyOnlyHosts are both set: "
                "proxyOnlyHosts is ignored"
            )
            only = None
        proxy = None
        if settings.proxy_url:
            proxy = _proxy_route(settings.proxy_url, settings.proxy_headers)
        return cls(
            allowed_hosts=frozenset(h.lower() for h in settings.allowed_hosts),
            response_timeout_s=settings.response_timeout_s,
            max_response_content_length_bytes=settings.max_response_content_length_bytes,
            max_decompression_ratio=settings.max_decompression_ratio,
            proxy=proxy,
            proxy_bypass_hosts=_lower(settings.proxy_bypass_hosts),
            proxy_only_hosts=_lower(only),
            verification_mode=settings.ssl.verification_mode,
            proxy_verification_mode=settings.ssl.proxy_verification_mode,
            custom_hosts=_custom_hosts(settings.custom_host_settings),
        )

    @cached_property
    def is_plain(self) -> bool:
        """No proxy, no per-host settings, default TLS: every request takes the same route."""
        return self.proxy is None and not self.custom_hosts and self.verification_mode == "full"

    def is_host_allowed(self, url: str) -> bool:
        if "*" in self.allowed_hosts:
            return True
        host = hostname_of(url)
        return host is not None and host in self.allowed_hosts

    @staticmethod
    def allow_list_message(url: str) -> str:
        """Kibana's wording, which users grep their logs for."""
        return f'target url "{url}" is not added to the Kibana config xpack.actions.allowedHosts'

    @cached_property
    def stream_expansion(self) -> ExpansionLimit:
        """How far a compressed stream may grow when decoded (whole answers have their size)."""
        return ExpansionLimit(self.max_decompression_ratio, self.max_response_content_length_bytes)

    def effective_timeout_s(self, requested_s: float | None) -> float:
        """Kibana takes the larger of ``responseTimeout`` and the caller's own timeout."""
        return max(self.response_timeout_s, requested_s or 0.0)

    def uses_proxy(self, url: str) -> bool:
        if self.proxy is None:
            return False
        host = hostname_of(url)
        if host is None:
            return False
        if self.proxy_bypass_hosts is not None and host in self.proxy_bypass_hosts:
            return False
        return self.proxy_only_hosts is None or host in self.proxy_only_hosts

    def route(
        self,
        url: str,
        *,
        verification_mode: VerificationMode | None = None,
        ca_pem: str | None = None,
        client: ClientCertificate | None = None,
    ) -> Route:
        """Kibana's agent selection for ``url``; the arguments are a connector's PKI overrides.

        TLS, lowest precedence first: ``ssl.verificationMode``; the connector's own
        ``verificationMode`` and CA; the matching ``customHostSettings`` entry's CA and mode.
        A plain-HTTP target needs no TLS settings unless it goes through an https proxy.
        """
        mode = verification_mode or self.verification_mode
        custom = self.custom_hosts.get(canonical_url(url) or "") if self.custom_hosts else None
        if custom is not None:
            ca_pem = custom.ca_pem or ca_pem
            mode = custom.verification_mode or mode
        if not self.uses_proxy(url):
            if not url.startswith("https:") or (mode, ca_pem, client) == ("full", None, None):
                return DIRECT
            return Route(None, TlsSettings(mode, ca_pem, client))
        target_tls = TlsSettings(mode, ca_pem, client) if url.startswith("https:") else DEFAULT_TLS
        return Route(self.proxy, target_tls, self.proxy_tls)


def _lower(hosts: tuple[str, ...] | None) -> frozenset[str] | None:
    return None if hosts is None else frozenset(h.lower() for h in hosts)
