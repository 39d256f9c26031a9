"""The background batch writer shared by the event log and the audit log."""

from __future__ import annotations

import logging

import pytest

from llmrelay.batching import BatchWriter


class Store:
    def __init__(self, failures: int = 0) -> None:
        self.batches: list[list[int]] = []
        self.failures = failures

    async def write(self, batch: list[int]) -> None:
        if self.failures:
            self.failures -= 1
            raise OSError("disk full")
        self.batches.append(list(batch))


async def test_items_are_written_in_order_in_batches_of_at_most_the_batch_size() -> None:
    store = Store()
    writer = BatchWriter(store.write, name="things", batch_size=2, flush_interval_s=0.01)
    writer.start()
    for item in range(5):
        writer.put(item)
    await writer.flush()
    await writer.aclose()
    assert [item for batch in store.batches for item in batch] == [0, 1, 2, 3, 4]
    assert all(len(batch) <= 2 for batch in store.batches)


async def test_a_full_queue_drops_new_items_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    store = Store()
    writer = BatchWriter(store.write, name="things", items="things", max_backlog=2)
    with caplog.at_level(logging.ERROR, logger="llmrelay.batching"):
        for item in range(3):
            writer.put(item)
    assert writer.dropped == 1
    assert "things: backlog full (2 things waiting): 1 things dropped so far" in caplog.text
    await writer.aclose()  # never started: a clean shutdown still writes what was accepted
    assert store.batches == [[0, 1]]


async def test_a_failed_batch_is_retried_and_nothing_is_lost(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = Store(failures=2)
    writer = BatchWriter(
        store.write, name="things", retry_delays_s=(0.01, 0.01, 0.01), unavailable=(OSError,)
    )
    writer.start()
    writer.put(7)
    with caplog.at_level(logging.ERROR, logger="llmrelay.batching"):
        await writer.flush()
    await writer.aclose()
    assert store.batches == [[7]]
    assert "things: cannot write (disk full); 1 items wait" in caplog.text
