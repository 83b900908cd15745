"""A running campusbot Telegram channel against the fake Bot API, on a real SQLite store."""

from __future__ import annotations

import asyncio
import contextlib
import html
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from campusbot.app import Core, build_core
from campusbot.channels.telegram.channel import TelegramChannel
from campusbot.config import Settings, TelegramSettings, TenantSettings
from campusbot.content.catalog import Catalog
from campusbot.core.enrolment import code_hash, new_code
from campusbot.i18n import GettextTexts
from tests.conftest import TELEGRAM_TOKEN, TELEGRAM_USERNAME
from tests.scenario import Said
from tests.support import ShiftedClock
from tests.telegram.bot_api import FakeBotApi, SentMessage

TOKEN, USERNAME = TELEGRAM_TOKEN, TELEGRAM_USERNAME
TENANT = TenantSettings(id="musterstadt", name="Stadt Musterstadt", state="HE", servers=["musterstadt.example"])


def telegram_settings(api: FakeBotApi, data_dir: Path, **extra: Any) -> Settings:
    telegram = TelegramSettings(token=SecretStr(TOKEN), username=USERNAME, api_url=api.url, poll_timeout=1)
    return Settings(data_dir=data_dir, telegram=telegram, tenants=[TENANT], **extra)


@dataclass
class RunningTelegram:
    api: FakeBotApi
    core: Core
    channel: TelegramChannel
    clock: ShiftedClock | None = None  # when the test may move the core's clock

    def enrolment_code(self, tenant_id: str = TENANT.id, *, days: int = 30) -> str:
        now = self.core.clock.now()
        code = new_code()
        with self.core.store.transaction() as tx:
            tx.save_enrolment_code(code_hash(code), tenant_id, None, now, now + timedelta(days=days))
        return code

    def count(self, table: str) -> int:
        with self.core.store.engine.connect() as connection:
            return int(connection.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())  # noqa: S608 - test tables


@contextlib.asynccontextmanager
async def running_telegram(
    api: FakeBotApi, core: Core, settings: Settings, clock: ShiftedClock | None = None,
) -> AsyncIterator[RunningTelegram]:
    channel = TelegramChannel(settings, core.turns, core.store, core.clock, core.texts)
    task = asyncio.create_task(channel.run())
    ready = asyncio.create_task(channel.ready.wait())
    await asyncio.wait([task, ready], timeout=20, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()  # raises what stopped the channel
    assert channel.ready.is_set(), "the Telegram channel did not start within 20 s"
    try:
        yield RunningTelegram(api, core, channel, clock)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=20)
        ready.cancel()


@pytest.fixture
async def telegram(api: FakeBotApi, tmp_path: Path, catalog: Catalog, texts: GettextTexts) -> AsyncIterator[RunningTelegram]:
    settings = telegram_settings(api, tmp_path)
    clock = ShiftedClock()
    core = build_core(settings, clock=clock, database_url=f"sqlite:///{tmp_path / 'campusbot.sqlite3'}", catalog=catalog, texts=texts)
    async with running_telegram(api, core, settings, clock) as running:
        yield running
    core.store.engine.dispose()


def plain(text: str) -> str:
    """Telegram HTML as the learner reads it."""
    return html.unescape(re.sub(r"<[^>]+>", "", text))


def buttons(message: SentMessage) -> list[dict[str, Any]]:
    markup = message.reply_markup or {}
    return [button for row in markup.get("inline_keyboard", []) for button in row]


class TelegramLearner:
    """A Telegram user in a private chat with the bot, reading its messages in order."""

    def __init__(self, api: FakeBotApi, user_id: int, *, code: str | None = None, language_code: str = "de") -> None:
        self.api = api
        self.user_id = user_id
        self.code = code
        self.language_code = language_code
        self.read = 0
        self.question: SentMessage | None = None

    async def open(self) -> None:
        await self.say(f"/start {self.code}" if self.code else "/start")

    async def say(self, text: str) -> None:
        self.api.send_text(self.user_id, text, first_name="Erika", last_name="Mustermann", language_code=self.language_code)

    async def choose(self, *numbers: int) -> None:
        assert self.question is not None, "no question to answer"
        keys = [str(b["callback_data"]) for b in buttons(self.question) if str(b["callback_data"]).startswith(("a:", "t:"))]
        if len(numbers) == 1 and keys[0].startswith("a:"):
            self.api.press(self.user_id, self.question.message_id, keys[numbers[0] - 1])
            return
        question = self.question
        for ticked, number in enumerate(numbers, 1):
            self.api.press(self.user_id, question.message_id, keys[number - 1])

            def shows_ticks(count: int = ticked) -> bool:
                return sum(str(b["text"]).startswith("✓") for b in buttons(question)) == count

            # Each tap ticks the option in the keyboard before the next tap may read it.
            await self.api.wait_for(shows_ticks)
        [done] = [str(b["callback_data"]) for b in buttons(question) if str(b["callback_data"]).startswith("d:")]
        self.api.press(self.user_id, question.message_id, done)

    async def next(self, timeout: float = 15.0) -> Said:  # noqa: ASYNC109
        message = await self.api.wait_for(lambda: self._unread(), timeout=timeout)
        self.read += 1
        if message.kind == "document":
            return Said(plain(message.caption or ""), filename=message.filename)
        options = tuple(b["text"] for b in buttons(message) if str(b.get("callback_data", "")).startswith(("a:", "t:")))
        if options:
            self.question = message
        return Said(plain(message.text or ""), options)

    def _unread(self) -> SentMessage | None:
        sent = self.api.sent(self.user_id)
        return sent[self.read] if len(sent) > self.read else None

    def all_texts(self) -> list[str]:
        return [plain(m.text or m.caption or "") for m in self.api.sent(self.user_id)]


MakeTelegramLearner = Callable[..., TelegramLearner]
