from __future__ import annotations

from collections.abc import Callable
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
from tests.support import RecordingBot

START = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)


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
def make_core(tmp_path: Path, db_url: str, clock: FixedClock, catalog: Catalog, texts: GettextTexts) -> Callable[[], Core]:
    def make() -> Core:
        # A fresh core on the same database file is what a process restart looks like.
        return build_core(Settings(data_dir=tmp_path), clock=clock, database_url=db_url, catalog=catalog, texts=texts)

    return make


@pytest.fixture
def core(make_core: Callable[[], Core]) -> Core:
    return make_core()


@pytest.fixture
def bot(core: Core) -> RecordingBot:
    return RecordingBot(MemoryChannel(core.turns, core.store, core.clock))
