"""Where connectors may connect, and how long and how much they may read.

Mirrors Kibana's ``xpack.actions.allowedHosts``, ``responseTimeout`` and
``maxResponseContentLength`` so that a config written for Kibana behaves the same here.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from llmrelay.settings import ActionsSettings


def hostname_of(url: str) -> str | None:
    """Lower-cased host name of an absolute URL, or None when the URL has none."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        return None
    return host or None


@dataclass(frozen=True)
class NetworkPolicy:
    allowed_hosts: frozenset[str]
    response_timeout_s: float
    max_response_content_length_bytes: int

    @classmethod
    def from_settings(cls, settings: ActionsSettings) -> NetworkPolicy:
        return cls(
            allowed_hosts=frozenset(h.lower() for h in settings.allowed_hosts),
            response_timeout_s=settings.response_timeout_s,
            max_response_content_length_bytes=settings.max_response_content_length_bytes,
        )

    def is_host_allowed(self, url: str) -> bool:
        if "*" in self.allowed_hosts:
            return True
        host = hostname_of(url)
        return host is not None and host in self.allowed_hosts

    @staticmethod
    def allow_list_message(url: str) -> str:
        """Kibana's wording, which users grep their logs for."""
        return f'target url "{url}" is not added to the Kibana config xpack.actions.allowedHosts'

    def effective_timeout_s(self, requested_s: float | None) -> float:
        """Kibana takes the larger of ``responseTimeout`` and the caller's own timeout."""
        return max(self.response_timeout_s, requested_s or 0.0)
