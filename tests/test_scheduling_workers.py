"""Two scheduler processes on one PostgreSQL claim disjoint sets: no push twice, none missing."""

from __future__ import annotations

import multiprocessing
from collections import Counter
from datetime import UTC, datetime
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

from sqlalchemy import insert, select

from campusbot.app import build_core
from campusbot.channels.memory import MEMORY, MemoryChannel
from campusbot.config import Settings
from campusbot.content.catalog import Catalog
from campusbot.core.clock import FixedClock
from campusbot.i18n import GettextTexts
from campusbot.scheduling.runner import SchedulerRunner
from campusbot.storage.database import make_engine, upgrade
from campusbot.storage.rows import Base
from tests.postgres import PostgresServer
from tests.support import RecordingBot, answer_check, onboard

ENROLLED = datetime(2026, 11, 23, 9, tzinfo=UTC)  # Monday
DUE = datetime(2026, 11, 24, 8, tzinfo=UTC)  # Tuesday 9:00 in Berlin: everyone's first push
LEARNERS = 300
_learner, _identity, _state, _due, _outbox = (
    Base.metadata.tables[name] for name in ("learner", "identity", "learner_state", "due_work", "outbox")
)


def _worker(url: str, data_dir: str, barrier: Barrier, results: Any) -> None:
    core = build_core(Settings(data_dir=Path(data_dir)), clock=FixedClock(DUE), database_url=url)
    runner = SchedulerRunner(core.store, core.pushes, batch_size=20)
    barrier.wait(timeout=60)
    result = runner.tick()
    results.put((result.claimed, result.messages))
    core.store.engine.dispose()


def test_two_worker_processes_on_postgresql_claim_disjoint_sets(
    postgres: PostgresServer, tmp_path: Path, catalog: Catalog, texts: GettextTexts,
) -> None:
    url = postgres.new_database()
    engine = make_engine(url)
    upgrade(engine)
    # One learner goes through the real dialog; the others are copies of their rows.
    core = build_core(Settings(data_dir=tmp_path), clock=FixedClock(ENROLLED), database_url=url, catalog=catalog, texts=texts)
    bot = RecordingBot(MemoryChannel(core.turns, core.store, core.clock))
    onboard(bot)
    bot.say("starten")
    answer_check(bot, catalog)
    bot.say("annehmen")
    with engine.begin() as connection:
        data = connection.execute(select(_state.c.data)).scalar_one()
        for n in range(1, LEARNERS):
            learner_id = connection.execute(insert(_learner).values(created_at=ENROLLED).returning(_learner.c.id)).scalar_one()
            connection.execute(insert(_identity).values(
                learner_id=learner_id, channel=MEMORY, external_id=f"copy{n}", address=f"memory:copy{n}", created_at=ENROLLED,
            ))
            connection.execute(insert(_state).values(learner_id=learner_id, data=data, updated_at=ENROLLED))
            connection.execute(insert(_due).values(learner_id=learner_id, kind="push", ref="", due_at=DUE))
        due = connection.execute(select(_due.c.learner_id).where(_due.c.kind == "push", _due.c.due_at <= DUE)).scalars().all()
    assert len(due) == LEARNERS

    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(2)
    results = context.Queue()
    workers = [context.Process(target=_worker, args=(url, str(tmp_path), barrier, results)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    claimed = [results.get(timeout=5) for _ in workers]

    # Every push row was claimed by exactly one of the two (and both did take part).
    assert all(c[0] > 0 for c in claimed), claimed
    with engine.connect() as connection:
        per_learner = Counter(connection.execute(select(_outbox.c.learner_id).where(_outbox.c.channel == MEMORY)).scalars())
        still_due = connection.execute(select(_due.c.id).where(_due.c.kind == "push", _due.c.due_at <= DUE)).all()
    pushes = {learner: count for learner, count in per_learner.items() if learner in set(due)}
    assert set(pushes) == set(due), f"{len(set(due) - set(pushes))} learners got no push"
    assert set(pushes.values()) == {2}, Counter(pushes.values())  # one push each: a text and a question
    assert sum(c[1] for c in claimed) == 2 * LEARNERS
    assert still_due == []
    core.store.engine.dispose()
    engine.dispose()


def test_a_learner_busy_in_a_turn_elsewhere_is_skipped_not_waited_for(
    postgres: PostgresServer, tmp_path: Path, catalog: Catalog, texts: GettextTexts,
) -> None:
    url = postgres.new_database()
    engine = make_engine(url)
    upgrade(engine)
    clock = FixedClock(ENROLLED)
    core = build_core(Settings(data_dir=tmp_path), clock=clock, database_url=url, catalog=catalog, texts=texts)
    bots = [RecordingBot(MemoryChannel(core.turns, core.store, core.clock), user=name) for name in ("anna", "ben", "cem")]
    for bot in bots:
        onboard(bot)
        bot.say("starten")
        answer_check(bot, catalog)
        bot.say("annehmen")
    clock.advance(DUE - ENROLLED)
    runner = SchedulerRunner(core.store, core.pushes, batch_size=1)
    with engine.connect() as other:
        # Another process is in the middle of anna's turn: her state row is locked.
        with other.begin():
            anna_id = other.execute(select(_identity.c.learner_id).where(_identity.c.external_id == "anna")).scalar_one()
            other.execute(select(_state.c.data).where(_state.c.learner_id == anna_id).with_for_update())
            result = runner.tick()  # returns: anna's row is skipped, not waited for, not looped on
            assert (result.claimed, result.messages) == (2, 4)
        result = runner.tick()  # her turn is over: now she gets her push
    assert (result.claimed, result.messages) == (1, 2)
    with engine.connect() as connection:
        per_learner = Counter(connection.execute(select(_outbox.c.learner_id)).scalars())
    assert sorted(per_learner.values()) == [2, 2, 2]
    core.store.engine.dispose()
    engine.dispose()
