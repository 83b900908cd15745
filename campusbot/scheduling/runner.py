"""APScheduler runs one periodic job; the due work itself lives in the database.

Each tick claims due rows in batches (one transaction per batch) until fewer than a batch are
due. On PostgreSQL the claim skips rows other processes hold, so several processes can tick at
once and never send the same push twice. After downtime, everything that fell due meanwhile is
claimed once and moves on to its next time: caught up, not flooded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from campusbot.core.ports import Store
from campusbot.core.pushes import PushService

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TickResult:
    claimed: int
    messages: int
    batches: int
    seconds: float
    channels: frozenset[str]


class SchedulerRunner:
    def __init__(
        self, store: Store, pushes: PushService, *, batch_size: int = 500, tick_seconds: float = 30.0,
        on_enqueued: Callable[[frozenset[str]], None] | None = None,
    ) -> None:
        self._store = store
        self._pushes = pushes
        self._batch_size = batch_size
        self._tick_seconds = tick_seconds
        self._on_enqueued = on_enqueued
        self._scheduler: AsyncIOScheduler | None = None

    def tick(self) -> TickResult:
        """Handle everything due now (blocking; the async job runs it in a worker thread)."""
        started = time.perf_counter()
        claimed = messages = batches = 0
        channels: set[str] = set()
        busy: set[int] = set()  # rows of learners in a turn elsewhere: not claimed again in this tick
        while True:
            with self._store.transaction() as tx:
                result = self._pushes.run_batch(tx, self._batch_size, busy)
            batches += 1
            claimed += result.claimed - len(result.busy)
            messages += result.messages
            channels |= result.channels
            busy.update(result.busy)
            if result.claimed < self._batch_size:
                break
        with self._store.transaction() as tx:
            # Certificates kept after an erasure go when their retention has run out.
            tx.purge_retained(self._pushes.today())
        return TickResult(claimed, messages, batches, time.perf_counter() - started, frozenset(channels))

    async def tick_async(self) -> TickResult:
        result = await asyncio.to_thread(self.tick)
        if result.claimed:
            log.info("scheduler: %d due, %d messages in %.2f s", result.claimed, result.messages, result.seconds)
        if result.channels and self._on_enqueued is not None:
            self._on_enqueued(result.channels)
        return result

    async def _job(self) -> None:
        try:
            await self.tick_async()
        except Exception:
            log.exception("scheduler tick failed; the next tick tries again")

    def start(self) -> None:
        """Start ticking on the running event loop (the first tick right away)."""
        scheduler = AsyncIOScheduler(timezone=UTC)  # type: ignore[no-untyped-call]
        # One job, never overlapping itself; ticks missed while busy or down are merged into one.
        scheduler.add_job(  # type: ignore[no-untyped-call]
            self._job, "interval", seconds=self._tick_seconds, id="due-work", max_instances=1, coalesce=True,
            misfire_grace_time=None, next_run_time=datetime.now(UTC),
        )
        scheduler.start()  # type: ignore[no-untyped-call]
        self._scheduler = scheduler

    def stop(self) -> None:
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)  # type: ignore[no-untyped-call]
            self._scheduler = None
