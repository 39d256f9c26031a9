"""Slowing repeated failed logins, per user name and per client address.

After ``free_attempts`` failures a key must wait before its next try: 1 s, then 2, 4, ... up to
``max_delay_s``. A try made too early is refused (429 with ``Retry-After``) *without checking
the password*, so guessing is bounded to one try per delay however many connections are used;
a success clears the user's and the address's record. The state is per process: several
instances each throttle on their own.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from llmrelay.errors import TooManyRequestsError
from llmrelay.settings.models import LoginThrottleSettings

MAX_TRACKED = 100_000
FORGET_AFTER_S = 3600.0


@dataclass
class _Record:
    failures: int
    not_before: float
    last_failure: float


class LoginThrottle:
    def __init__(self, settings: LoginThrottleSettings) -> None:
        self._free = settings.free_attempts
        self._max_delay_s = settings.max_delay_s
        self._records: dict[tuple[str, str], _Record] = {}

    def _keys(self, username: str | None, address: str | None) -> list[tuple[str, str]]:
        keys = []
        if username is not None:
            keys.append(("user", username))
        if address is not None:
            keys.append(("address", address))
        return keys

    def check(self, username: str | None, address: str | None) -> None:
        now = time.monotonic()
        for key in self._keys(username, address):
            record = self._records.get(key)
            if record is not None and record.not_before > now:
                wait_s = math.ceil(record.not_before - now)
                raise TooManyRequestsError(
                    f"Too many failed logins; try again in {wait_s} s", retry_after_s=wait_s
                )

    def failed(self, username: str | None, address: str | None) -> None:
        now = time.monotonic()
        if len(self._records) >= MAX_TRACKED:
            self._forget(now)
        for key in self._keys(username, address):
            record = self._records.setdefault(key, _Record(0, 0.0, now))
            record.failures += 1
            record.last_failure = now
            over = record.failures - self._free
            if over >= 0:
                record.not_before = now + min(2.0**over, self._max_delay_s)

    def succeeded(self, username: str | None, address: str | None) -> None:
        for key in self._keys(username, address):
            self._records.pop(key, None)

    def _forget(self, now: float) -> None:
        stale = [k for k, r in self._records.items() if now - r.last_failure > FORGET_AFTER_S]
        for key in stale:
            del self._records[key]
        if len(self._records) >= MAX_TRACKED:
            self._records.clear()
