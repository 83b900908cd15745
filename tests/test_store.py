"""Turns are transactions: duplicates are dropped, restarts resume, erasure leaves nothing."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from campusbot.app import Core
from campusbot.channels.memory import MemoryChannel
from campusbot.content.catalog import Catalog
from campusbot.core.messages import TextMessage
from campusbot.storage.database import database_url, is_current, make_engine
from campusbot.storage.rows import Base
from tests.conftest import backend_url
from tests.support import RecordingBot, answer_check, onboard


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every test here is the store's contract: it runs on SQLite and on a real PostgreSQL."""
    return backend_url(request, tmp_path)


def restart(make_core: Callable[[], Core], user: str = "anna") -> RecordingBot:
    core = make_core()
    return RecordingBot(MemoryChannel(core.turns, core.store, core.clock), user=user)


def test_migrations_create_exactly_the_orm_schema(core: Core) -> None:
    with core.store.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    assert diff == []


def test_a_duplicate_inbound_message_is_ignored(bot: RecordingBot, core: Core) -> None:
    bot.say("Hallo", event_id="$event-1")
    first = bot.say("ja", event_id="$event-2")
    assert "Welche Rolle" in first.text
    again = bot.say("ja", event_id="$event-2")
    assert again.messages == []
    reply = bot.say("1", event_id="$event-3")
    assert "Welche Themen" in reply.text


def test_restart_in_the_middle_of_the_check_resumes_at_the_same_question(make_core: Callable[[], Core]) -> None:
    bot = restart(make_core)
    onboard(bot)
    bot.say("starten")
    for _ in range(6):
        reply = bot.say("3")
    assert "Frage 7 von 20" in reply.text
    bot = restart(make_core)
    reply = bot.open()
    assert "Frage 7 von 20" in reply.text
    reply = bot.say("weiter")
    assert "Frage 7 von 20" in reply.text
    reply = bot.say("1")
    assert "Frage 8 von 20" in reply.text


def test_restart_in_the_middle_of_a_unit_resumes_the_unit(make_core: Callable[[], Core], catalog: Catalog) -> None:
    bot = restart(make_core)
    onboard(bot)
    bot.say("starten")
    answer_check(bot, catalog)
    bot.say("1")
    reply = bot.say("weiter")
    assert "Einheit 1 von 3" in reply.text
    bot.say("fertig")
    reply = bot.say("5")
    # The first module is a mandatory training; its evaluation ends with a free-text question.
    assert "Auswertung 2 von 2" in reply.text
    bot = restart(make_core)
    reply = bot.say("weiter")
    assert "Auswertung 2 von 2" in reply.text
    reply = bot.say("-")
    assert "Danke für Ihre Rückmeldung!" in reply.text


def test_replies_leave_through_the_outbox_in_order(core: Core) -> None:
    channel = MemoryChannel(core.turns, core.store, core.clock)
    result = core.turns.handle(
        __import__("campusbot.core.messages", fromlist=["Incoming"]).Incoming(
            channel=channel.name, sender="carla", address="memory:carla", event_id="e1", text="Hallo"
        )
    )
    assert len(result.outbox_ids) == 2
    assert list(result.outbox_ids) == sorted(result.outbox_ids)
    with core.store.transaction() as tx:
        pending = tx.pending_outbox(channel.name, 10, core.clock.now())
    assert [p.id for p in pending] == list(result.outbox_ids)
    assert isinstance(pending[0].message, TextMessage)
    # Nothing is lost when the channel was not there: the next drain delivers it.
    assert channel.drain("memory:carla")[0] == pending[0].message
    assert channel.drain("memory:carla") == []


PERSONAL_TABLES = ("learner", "identity", "learner_state", "achievement", "outbox", "due_work", "review_card", "hr_notice")


def test_export_then_erase_leaves_no_personal_row_behind(make_core: Callable[[], Core], catalog: Catalog) -> None:
    core = make_core()
    anna = RecordingBot(MemoryChannel(core.turns, core.store, core.clock), user="anna")
    ben = RecordingBot(MemoryChannel(core.turns, core.store, core.clock), user="ben")
    for bot in (anna, ben):
        onboard(bot)
        bot.say("starten")
        answer_check(bot, catalog)
        bot.say("1")
    export = anna.say("export").files[0]
    assert '"kind": "push"' in export.data.decode()  # the schedule is personal data too
    with core.store.transaction() as tx:
        ben_record = tx.find_learner(ben.channel.name, "ben")
        assert ben_record is not None
    with core.store.engine.connect() as connection:
        assert connection.execute(text("SELECT count(DISTINCT learner_id) FROM due_work")).scalar_one() == 2
    reply = anna.say("löschen")
    assert "wirklich" in reply.text
    reply = anna.say("ja")
    assert "Alle Ihre Daten sind gelöscht" in reply.text
    with core.store.engine.connect() as connection:
        tables = set(inspect(connection).get_table_names())
        assert set(PERSONAL_TABLES) <= tables
        for table in tables - {"alembic_version"}:
            for row in connection.execute(text(f"SELECT * FROM {table}")):  # noqa: S608 - table names from the schema
                assert "anna" not in repr(row), f"{table} still holds {row}"
        for table in tables - {"alembic_version"}:
            if "learner_id" in {c["name"] for c in inspect(connection).get_columns(table)}:
                owners = set(connection.execute(text(f"SELECT DISTINCT learner_id FROM {table}")).scalars())  # noqa: S608
                assert owners <= {ben_record.learner_id, None}, f"{table} still holds rows of learners {owners}"
        learners = connection.execute(text("SELECT count(*) FROM learner")).scalar_one()
        states = connection.execute(text("SELECT count(*) FROM learner_state")).scalar_one()
    assert (learners, states) == (1, 1)  # ben is untouched
    # Writing again starts from scratch.
    reply = anna.say("Hallo")
    assert "Sind Sie damit einverstanden?" in reply.text


def test_erasure_can_be_called_off(bot: RecordingBot, catalog: Catalog) -> None:
    onboard(bot)
    bot.say("löschen")
    reply = bot.say("nein")
    assert "bleibt alles" in reply.text
    assert reply.choice.choice_id.startswith("check_intro:")


def test_db_upgrade_command_creates_the_schema(tmp_path: Path) -> None:
    database = tmp_path / "fresh.sqlite3"
    result = subprocess.run(
        [sys.executable, "-m", "campusbot", "db", "upgrade", "--db", str(database)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    engine = make_engine(database_url(str(database)))
    assert is_current(engine)
    assert {"learner", "identity", "learner_state", "inbound_event", "outbox", "achievement"} <= set(inspect(engine).get_table_names())
    engine.dispose()


def test_a_bad_database_url_is_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "campusbot", "db", "upgrade", "--db", "nosuchdriver://x"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "campusbot: " in result.stderr
    assert "Traceback" not in result.stderr


def test_outbox_ids_are_never_reused_after_delivery(core: Core) -> None:
    """The outbox id is the Matrix transaction id; a reused one would make the homeserver drop a message."""
    with core.store.transaction() as tx:
        [first] = tx.enqueue(None, "memory", "memory:x", [TextMessage("eins")], core.clock.now())
        tx.mark_delivered(first)
    with core.store.transaction() as tx:
        [second] = tx.enqueue(None, "memory", "memory:x", [TextMessage("zwei")], core.clock.now())
    assert second > first
