"""Slowing repeated failed *password* logins, per user name and per client address, separately.

The policy (docs/security.md#failed-logins), chosen so that an attacker can slow a user but never
lock them out:

- Only passwords are throttled. An API key's secret has 256 random bits, so guessing one is
  hopeless; and a valid key must never be refused because someone else typed bad passwords.
- After ``free_attempts`` failures for a **user name** (from any address), each further try for
  that name is *held* before its password is checked: 1 s after the last failure, then 2, 4 ...
  up to ``max_delay_s``. A held try is then checked like any other, so the right password gets
  in after at most that wait however often someone else fails. Refusing it instead (as this
  module once did) let one bad try every 30 s keep ``admin`` out for good.
- After ``free_attempts`` failures from an **address** (any user names), tries from it are held
  the same way up to ``address_max_delay_s`` (short: colleagues behind one NAT share it), and
  only one try from that address is in progress at a time (held, then checked): another
  arriving meanwhile is refused with 429 and ``Retry-After``. This bounds guessing from one
  address to one password per back-off, however many connections it opens.
- A success clears the user name's and the address's record.

The state is per process: several instances each throttle on their own.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from llmrelay.errors import TooManyRequestsError
from llmrelay.settings.models import LoginThrottleSettings

MAX_TRACKED = 100_000
FORGET_AFTER_S = 3600.0


@dataclass
class _Record:
    failures: int
    last_failure: float


class LoginThrottle:
    def __init__(self, settings: LoginThrottleSettings) -> None:
        self._free = settings.free_attempts
        self._user_max_s = settings.max_delay_s
        self._address_max_s = settings.address_max_delay_s
        self._users: dict[str, _Record] = {}
        self._addresses: dict[str, _Record] = {}
        self._busy_addresses: set[str] = set()
        """Throttled addresses with a try in progress now: another from there is refused."""

    def _wait_s(self, record: _Record | None, max_s: float, now: float) -> float:
        if record is None or record.failures < self._free:
            return 0.0
        back_off_s = min(2.0 ** (record.failures - self._free), max_s)
        return max(0.0, record.last_failure + back_off_s - now)

    @asynccontextmanager
    async def attempt(self, username: str, address: str | None) -> AsyncIterator[None]:
        """Hold a password try as long as the records say; the body checks the password.

        Raises ``TooManyRequestsError`` when another try from the same throttled address is
        in progress (held or being checked): one guess at a time per address.
        """
        self._refuse_if_busy(address)
        user_wait_s = self._wait_s(self._users.get(username), self._user_max_s, time.monotonic())
        if user_wait_s > 0:
            await asyncio.sleep(user_wait_s)
        record = self._addresses.get(address) if address is not None else None
        if address is None or record is None or record.failures < self._free:
            yield
            return
        self._refuse_if_busy(address)
        self._busy_addresses.add(address)
        try:
            address_wait_s = self._wait_s(record, self._address_max_s, time.monotonic())
            if address_wait_s > 0:
                await asyncio.sleep(address_wait_s)
            yield
        finally:
            self._busy_addresses.discard(address)

    def _refuse_if_busy(self, address: str | None) -> None:
        if address is None or address not in self._busy_addresses:
            return
        record = self._addresses.get(address)
        wait_s = self._wait_s(record, self._address_max_s, time.monotonic())
        retry_after_s = max(1, math.ceil(wait_s))
        raise TooManyRequestsError(
            f"Too many failed logins from this address; try again in {retry_after_s} s",
            retry_after_s=retry_after_s,
        )

    def failed(self, username: str, address: str | None) -> None:
        now = time.monotonic()
        for records, key in ((self._users, username), (self._addresses, address)):
            if key is None:
                continue
            if len(records) >= MAX_TRACKED:
                _forget(records, now)
            record = records.setdefault(key, _Record(0, now))
            record.failures += 1
            record.last_failure = now

    def succeeded(self, username: str, address: str | None) -> None:
        self._users.pop(username, None)
        if address is not None:
            self._addresses.pop(address, None)


def _forget(records: dict[str, _Record], now: float) -> None:
    stale = [k for k, r in records.items() if now - r.last_failure > FORGET_AFTER_S]
    for key in stale:
        del records[key]
    if len(records) >= MAX_TRACKED:
        records.clear()
