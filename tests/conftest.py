from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from campusbot.app import Core, build_core
from campusbot.channels.memory import MemoryChannel
from campusbot.config import Settings
from campusbot.content.catalog import Catalog
from campusbot.content.loader import default_content_root, load_catalog
from campusbot.core.clock import FixedClock
from campusbot.i18n import GettextTexts
from campusbot.storage.database import make_engine, upgrade
from tests.postgres import PostgresServer
from tests.support import RecordingBot
from tests.telegram.bot_api import FakeBotApi

START = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)
TELEGRAM_TOKEN = "4242:AAH-campusbot-test-token_0123456789"  # noqa: S105 - a test token for the fake API
TELEGRAM_USERNAME = "campusbot_test_bot"


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog(default_content_root())


@pytest.fixture(scope="session")
def texts() -> GettextTexts:
    return GettextTexts()


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'campusbot.sqlite3'}"


@pytest.fixture
def make_core(tmp_path: Path, db_url: str, clock: FixedClock, catalog: Catalog, texts: GettextTexts) -> Iterator[Callable[[], Core]]:
    cores: list[Core] = []

    def make() -> Core:
        # A fresh core on the same database is what a process restart looks like.
        core = build_core(Settings(data_dir=tmp_path), clock=clock, database_url=db_url, catalog=catalog, texts=texts)
        cores.append(core)
        return core

    yield make
    for core in cores:
        core.store.engine.dispose()


@pytest.fixture
def core(make_core: Callable[[], Core]) -> Core:
    return make_core()


@pytest.fixture
def bot(core: Core) -> RecordingBot:
    return RecordingBot(MemoryChannel(core.turns, core.store, core.clock))


def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """For fixtures parametrized on "sqlite" and "postgresql": a fresh, migrated database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'campusbot.sqlite3'}"
    postgres: PostgresServer = request.getfixturevalue("postgres")
    url = postgres.new_database()
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A real PostgreSQL 15 server for the whole session (initdb/pg_ctl as the postgres user)."""
    server = PostgresServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def api() -> AsyncIterator[FakeBotApi]:
    """A local Telegram Bot API (tests/telegram/bot_api.py), for the Telegram and the linking tests."""
    fake = FakeBotApi(TELEGRAM_TOKEN, bot_username=TELEGRAM_USERNAME)
    await fake.start()
    yield fake
    await fake.stop()
