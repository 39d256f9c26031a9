"""Ids of event and audit rows: valid UUIDs that sort by the time they were made."""

from __future__ import annotations

import time
import uuid

from llmrelay.storage import time_ordered_id


def test_an_id_is_a_version_7_uuid_carrying_its_time_in_milliseconds() -> None:
    text = time_ordered_id(1_796_640_183.123)
    parsed = uuid.UUID(text)
    assert str(parsed) == text  # the canonical form: lower case, with its four hyphens
    assert parsed.version == 7
    assert parsed.variant == uuid.RFC_4122
    assert parsed.int >> 80 == 1_796_640_183_123


def test_ids_made_later_sort_after_earlier_ones_as_text() -> None:
    """What keeps inserts at the end of the primary key's index."""
    start = time.time()
    ids = [time_ordered_id(start + step * 0.001) for step in range(2000)]
    assert ids == sorted(ids)
    assert time_ordered_id() > time_ordered_id(start - 1)


def test_ids_made_in_the_same_millisecond_are_distinct() -> None:
    now = time.time()
    assert len({time_ordered_id(now) for _ in range(100_000)}) == 100_000
