"""Group commit: requests hand in an item and wait, without holding a thread, until the batch
holding it is committed; one writer thread commits whatever arrived meanwhile in one transaction.
A write that fails fails every request of its batch (none was answered yes), so nothing
answered yes is lost, and a crash loses only requests that got no answer.

The same machinery batches the reads a report is checked with (routes/devices.py: the device rows
of many requests in one query): a request handler on the event loop that read the database itself
would give up the GIL at each read and wait up to a switch interval (5 ms) to get it back from the
writer's thread.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import defaultdict
from collections.abc import Callable
from typing import Any, Generic, TypeVar

LOG = logging.getLogger("edgekit.ingest")
Item = TypeVar("Item")


class GroupCommit(Generic[Item]):
    """``write(batch)`` commits a batch, or returns one result per item (a batched read)."""

    def __init__(self, write: Callable[[list[Item]], list[Any] | None], name: str, max_batch: int = 2000) -> None:
        self.write, self.name, self.max_batch = write, name, max_batch
        self._waiting: list[tuple[Item, asyncio.AbstractEventLoop, asyncio.Future]] = []
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    async def submit(self, item: Item) -> Any:
        """Return once ``item`` is committed (with its result, for a read); raise what the write raised if it was not."""
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        with self._wake:
            if self._closed:
                raise RuntimeError(f"the {self.name} writer is stopped")
            self._waiting.append((item, loop, future))
            if self._thread is None:  # started on first use: an app that never serves starts no thread
                self._thread = threading.Thread(target=self._run, name=f"edgekit-{self.name}-writer", daemon=True)
                self._thread.start()
            self._wake.notify()
        return await future

    def close(self) -> None:
        """Commit what is waiting, then stop the writer."""
        with self._wake:
            self._closed = True
            self._wake.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=30)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._waiting and not self._closed:
                    self._wake.wait()
                if not self._waiting:
                    return
                batch, self._waiting = self._waiting[:self.max_batch], self._waiting[self.max_batch:]
            error: BaseException | None = None
            results: list[Any] | None = None
            try:
                results = self.write([item for item, _, _ in batch])
            except Exception as exc:  # noqa: BLE001 - every waiting request gets the failure, none a yes
                LOG.warning("a %s batch of %d failed: %s", self.name, len(batch), exc)
                error = exc
            by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Future, Any]]] = defaultdict(list)
            for index, (_, loop, future) in enumerate(batch):
                by_loop[loop].append((future, None if results is None else results[index]))
            for loop, futures in by_loop.items():
                try:
                    loop.call_soon_threadsafe(_settle, futures, error)
                except RuntimeError:  # that event loop has closed: nobody is waiting any more
                    pass


def _settle(futures: list[tuple[asyncio.Future, Any]], error: BaseException | None) -> None:
    for future, result in futures:
        if future.done():  # the client went away (cancelled); the write stands
            continue
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)
