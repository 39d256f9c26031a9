"""Where a request comes from: the TCP peer, and the client a trusted proxy says it forwards.

Anyone can send ``X-Forwarded-For``, so it is believed only when the peer is listed in
``server.trusted_proxies`` (empty by default: never). uvicorn's own handling is switched off
(``llmrelay serve`` passes ``proxy_headers=False``): it trusts 127.0.0.1 by default, which let any
local client choose its throttle address and forge the audit log's ``source.address``, and it
replaces the peer, which the audit log keeps. Both addresses are recorded; the forwarded one, when
there is one, is what the login throttle counts.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from ipaddress import ip_address, ip_network

FORWARDED_FOR = b"x-forwarded-for"


class ClientAddresses:
    """Reads ``(peer, forwarded)`` from an ASGI scope; ``forwarded`` is ``None`` unless the peer
    is a trusted proxy that sent ``X-Forwarded-For``."""

    def __init__(self, trusted_proxies: Sequence[str] = ()) -> None:
        """``trusted_proxies`` as validated by the settings (addresses or CIDR ranges)."""
        self._trusted = tuple(ip_network(entry.strip(), strict=False) for entry in trusted_proxies)

    def _trusts(self, address: str) -> bool:
        try:
            parsed = ip_address(address)
        except ValueError:
            return False
        return any(parsed in network for network in self._trusted)

    def of(self, scope: Mapping[str, object]) -> tuple[str | None, str | None]:
        client = scope.get("client")
        peer = str(client[0]) if isinstance(client, tuple | list) and client else None
        if not self._trusted or peer is None or not self._trusts(peer):
            return peer, None
        headers = scope.get("headers")
        hops: list[str] = []
        for name, value in headers if isinstance(headers, list) else ():
            if name == FORWARDED_FOR:
                hops += [hop.strip() for hop in value.decode("latin-1").split(",")]
        # the right-most hop not itself a trusted proxy is the client (the ones left of it
        # were written by the client and prove nothing)
        for hop in reversed(hops):
            if hop and not self._trusts(hop):
                return peer, hop if _is_address(hop) else None
        return peer, None


def _is_address(text: str) -> bool:
    try:
        ip_address(text)
    except ValueError:
        return False
    return True
