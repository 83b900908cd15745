"""The composition root: builds store, content, texts, engine and turn service."""

from __future__ import annotations

from dataclasses import dataclass

from campusbot.config import Settings
from campusbot.content.catalog import Catalog
from campusbot.content.loader import default_content_root, load_catalog
from campusbot.core.clock import Clock, SystemClock
from campusbot.core.engine import DialogEngine
from campusbot.core.turns import TurnService
from campusbot.errors import StoreError
from campusbot.i18n import GettextTexts
from campusbot.storage.database import is_current, make_engine, upgrade
from campusbot.storage.repository import SqlStore


@dataclass(frozen=True, slots=True)
class Core:
    catalog: Catalog
    texts: GettextTexts
    store: SqlStore
    engine: DialogEngine
    turns: TurnService
    clock: Clock


def build_core(
    settings: Settings,
    *,
    clock: Clock | None = None,
    database_url: str | None = None,
    catalog: Catalog | None = None,
    texts: GettextTexts | None = None,
) -> Core:
    """Load content and texts, open (and for embedded SQLite, migrate) the store."""
    clock = clock or SystemClock()
    catalog = catalog or load_catalog(settings.content_dir or default_content_root())
    texts = texts or GettextTexts()
    url = database_url or settings.database_url()
    sql_engine = make_engine(url)
    if sql_engine.dialect.name == "sqlite":
        upgrade(sql_engine)
    elif not is_current(sql_engine):
        raise StoreError("the database schema is not current: run 'campusbot db upgrade' first")
    store = SqlStore(sql_engine)
    lang = settings.bot.default_language
    engine = DialogEngine(catalog, texts, clock, default_lang=lang)
    return Core(catalog, texts, store, engine, TurnService(store, engine, texts, clock, default_lang=lang), clock)
