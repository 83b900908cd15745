"""One learner, two messengers: linking Telegram from a DM on a real Synapse."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import select

from campusbot.config import TelegramSettings
from campusbot.content.catalog import Catalog
from campusbot.i18n import GettextTexts
from campusbot.storage.rows import IdentityRow
from tests.matrix.conftest import MakeLearner, Register
from tests.matrix.learner import poll_question
from tests.matrix.synapse import Synapse
from tests.matrix.test_bot import Conversation, bot_settings, running_bot
from tests.scenario import question
from tests.telegram.bot_api import FakeBotApi
from tests.telegram.conftest import TOKEN, USERNAME, TelegramLearner, running_telegram

CODE = re.compile(r"\b[A-Z2-9]{5}-[A-Z2-9]{5}\b")


async def test_a_matrix_learner_links_telegram_and_continues_there(
    synapse: Synapse, register: Register, make_learner: MakeLearner, tmp_path: Path, catalog: Catalog, texts: GettextTexts,
    api: FakeBotApi,
) -> None:
    account = register("campusbot")
    telegram = TelegramSettings(token=SecretStr(TOKEN), username=USERNAME, api_url=api.url, poll_timeout=1)
    settings = bot_settings(synapse, account, tmp_path / "bot").model_copy(update={"telegram": telegram})
    async with running_bot(settings, account, catalog, texts) as bot, running_telegram(api, bot.core, settings):
        learner = await make_learner()
        room_id = await learner.open_dm(bot.user_id, encrypted=True)
        conversation = Conversation(learner, room_id)
        poll, _ = await conversation.next_poll()
        await conversation.answer_poll(poll, 1)
        for answer in ("1", "keine"):
            await conversation.next_poll()
            await conversation.say(answer)
        left_off, _ = await conversation.next_poll()
        await conversation.say("telegram")
        text = await conversation.next_text()
        assert "Telegram" in text
        code = CODE.search(text)
        assert code is not None, text
        assert f"https://t.me/{USERNAME}?start={code.group(0).replace('-', '')}" in text

        phone = TelegramLearner(api, 9001, code=code.group(0).replace("-", ""))
        await phone.open()
        asked, before = await question(phone)
        assert "verknüpft" in before[0].text
        assert asked.text == poll_question(left_off)  # the same dialog, where the learner left off
        await phone.choose(1)  # "Jetzt starten": the check begins on Telegram ...
        asked, _ = await question(phone)
        assert "Frage 1 von" in asked.text
        await conversation.say("status")  # ... and Matrix knows: the check is under way
        status = await conversation.next_text()
        assert "Kompetenzcheck" in status
        with bot.core.store.engine.connect() as connection:
            identities = connection.execute(select(IdentityRow.learner_id, IdentityRow.channel).order_by(IdentityRow.id)).all()
        assert [(r.learner_id, r.channel) for r in identities] == [(1, "matrix"), (1, "telegram")]
