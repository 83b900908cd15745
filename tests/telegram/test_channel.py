"""campusbot on Telegram through python-telegram-bot's real request layer and a local Bot API."""

from __future__ import annotations

import json
import time
from datetime import UTC, timedelta
from pathlib import Path

import icalendar
from sqlalchemy import select

from campusbot.app import build_core
from campusbot.channels.memory import MemoryChannel
from campusbot.content.catalog import Catalog
from campusbot.core.messages import ChannelName, ChoiceMessage, LearnerId, TextMessage
from campusbot.i18n import GettextTexts
from campusbot.storage.rows import IdentityRow, LearnerRow
from tests.scenario import journey, question
from tests.support import ShiftedClock
from tests.telegram.bot_api import FakeBotApi
from tests.telegram.conftest import TENANT, RunningTelegram, TelegramLearner, buttons, plain, running_telegram, telegram_settings


async def test_journey_on_telegram_after_enrolment_by_code(telegram: RunningTelegram, catalog: Catalog) -> None:
    api = telegram.api
    learner = TelegramLearner(api, 1001, code=telegram.enrolment_code())
    files = await journey(learner, catalog)
    assert {f.filename for f in files} == {"pflichtschulung-pflicht-datenschutz.pdf", "pflichtschulung-pflicht-datenschutz.credential.json"}
    documents = [m for m in api.sent(1001) if m.kind == "document"]
    assert documents[0].data is not None
    assert documents[0].data.startswith(b"%PDF")
    # The learner belongs to the code's municipality and is known under their Telegram id.
    with telegram.core.store.engine.connect() as connection:
        learner_row = connection.execute(select(LearnerRow.tenant_id)).one()
        identity = connection.execute(select(IdentityRow.channel, IdentityRow.external_id, IdentityRow.address)).one()
    assert learner_row.tenant_id == TENANT.id
    assert tuple(identity) == ("telegram", "1001", "1001")
    # Every button press was answered, and every pressed keyboard now shows the ticked answer only.
    pressed = [params for method, params in api.calls if method == "answerCallbackQuery"]
    assert len(pressed) == len(api.callback_answers) > 20
    for message in api.sent(1001):
        data = [b["callback_data"] for b in buttons(message)]
        assert data in ([], ["x"]) or message is learner.question, data
    used = [m for m in api.sent(1001) if [b["callback_data"] for b in buttons(m)] == ["x"]]
    assert any(buttons(m)[0]["text"] == "✓ Ja, einverstanden" for m in used)
    # The menu is set in German (also the default) and English.
    assert [c["command"] for c in api.commands["de"]][:3] == ["start", "weiter", "status"]
    assert [c["command"] for c in api.commands["en"]][:3] == ["start", "next", "status"]
    assert api.commands[None] == api.commands["de"]
    assert api.commands["en"][1]["description"] == "The next learning unit"
    # The data export comes as a document too, in the menu's words.
    await learner.say("/export")
    export = await api.wait_for(lambda: next((m for m in api.sent(1001) if m.filename == "campusbot-daten.json"), None))
    assert export.data is not None
    data = json.loads(export.data)
    assert data["learner"]["identities"] == [{"channel": "telegram", "external_id": "1001", "address": "1001"}]


async def test_without_enrolment_the_bot_explains_and_stores_nothing(telegram: RunningTelegram) -> None:
    api = telegram.api
    api.send_text(2002, "Hallo")
    await api.wait_for(lambda: len(api.sent(2002)) == 1)
    assert "Einladungscode" in plain(api.sent(2002)[0].text or "")
    api.send_text(2002, "ABCDE-FGHJK")  # looks like a code, but is none
    await api.wait_for(lambda: len(api.sent(2002)) == 2)
    assert "nicht gültig" in plain(api.sent(2002)[1].text or "")
    api.send_text(2003, "Hello", language_code="en")
    await api.wait_for(lambda: len(api.sent(2003)) == 1)
    assert "invitation code" in plain(api.sent(2003)[0].text or "")
    for table in ("learner", "identity", "learner_state", "inbound_event", "outbox"):
        assert telegram.count(table) == 0, table


async def test_a_code_works_once_and_not_after_it_expired(telegram: RunningTelegram) -> None:
    api = telegram.api
    code = telegram.enrolment_code()
    first = TelegramLearner(api, 3001, code=code)
    await first.open()
    asked, _ = await question(first)
    assert "einverstanden" in asked.text
    api.send_text(3002, code.lower().replace("-", " "))  # typed differently, still the same (used) code
    await api.wait_for(lambda: len(api.sent(3002)) == 1)
    assert "nicht gültig" in plain(api.sent(3002)[0].text or "")
    expired = telegram.enrolment_code(days=1)
    assert telegram.clock is not None
    telegram.clock.advance(timedelta(days=2))
    api.send_text(3003, expired)
    await api.wait_for(lambda: len(api.sent(3003)) == 1)
    assert "nicht gültig" in plain(api.sent(3003)[0].text or "")
    assert telegram.count("learner") == 1


async def test_a_learner_links_telegram_from_another_channel_and_keeps_one_progress(telegram: RunningTelegram) -> None:
    core = telegram.core
    matrix = MemoryChannel(core.turns, core.store, core.clock, name=ChannelName("matrix"), tenant_id=TENANT.id)
    for line in ("Hallo", "ja", "1", "keine", "später"):
        said = matrix.deliver("@erika:musterstadt.example", line)
    [left_off] = [m for m in said if isinstance(m, ChoiceMessage)]
    reply = matrix.deliver("@erika:musterstadt.example", "telegram")
    [text] = [m.text for m in reply if isinstance(m, TextMessage) and "Telegram" in m.text]
    code = text.split("**")[1]
    assert f"https://t.me/campusbot_test_bot?start={code.replace('-', '')}" in text
    learner = TelegramLearner(telegram.api, 4001, code=code.replace("-", ""))
    await learner.open()  # the deep link's "/start <code>"
    asked, before = await question(learner)
    assert "verknüpft" in before[0].text
    assert asked.text == left_off.prompt  # where the learner left off in Matrix
    assert asked.options == tuple(o.label for o in left_off.options)
    await learner.say("status")
    status = await learner.next()
    assert "Rolle" in status.text or "Fortschritt" in status.text
    assert telegram.count("learner") == 1
    assert telegram.count("identity") == 2
    with core.store.transaction() as tx:  # pushes go to the messenger used last
        [reach] = tx.scheduled_learners([LearnerId(1)]).values()
    assert (reach.channel, reach.address) == ("telegram", "4001")
    # The link code was for one use only.
    telegram.api.send_text(4002, code)
    await telegram.api.wait_for(lambda: len(telegram.api.sent(4002)) == 1)
    assert "nicht gültig" in plain(telegram.api.sent(4002)[0].text or "")


async def test_flood_control_is_honoured_and_nothing_is_lost_or_doubled(telegram: RunningTelegram) -> None:
    api = telegram.api
    learner = TelegramLearner(api, 5001, code=telegram.enrolment_code())
    api.fail_next("sendMessage", 429, retry_after=2)  # longer than the first network backoff (1 s)
    started = time.monotonic()
    await learner.open()
    asked, before = await question(learner)
    waited = time.monotonic() - started
    assert waited >= 2.0
    assert "campusbot" in before[0].text
    assert "einverstanden" in asked.text
    assert len(api.sent(5001)) == 2  # greeting and consent question, each once


async def test_network_trouble_is_retried_through_the_outbox(telegram: RunningTelegram) -> None:
    api, core = telegram.api, telegram.core
    learner = TelegramLearner(api, 6001, code=telegram.enrolment_code())
    await learner.open()
    await question(learner)
    api.go_down()
    # A reminder the scheduler queued while Telegram cannot be reached.
    with core.store.transaction() as tx:
        tx.enqueue(LearnerId(1), "telegram", "6001", [TextMessage("Erinnerung: Ihre nächste Einheit wartet.")], core.clock.now())
    telegram.channel.poke()
    await api.wait_for(lambda: telegram.count("outbox WHERE attempts > 0") == 1)  # tried, failed, kept
    api.come_up()
    await api.wait_for(lambda: telegram.count("outbox") == 0, timeout=15)
    reminders = [m for m in api.sent(6001) if "Erinnerung" in (m.text or "")]
    assert len(reminders) == 1


async def test_a_learner_who_blocked_the_bot_is_unreachable_until_they_write_again(telegram: RunningTelegram) -> None:
    api, core = telegram.api, telegram.core
    learner = TelegramLearner(api, 7001, code=telegram.enrolment_code())
    await learner.open()
    await question(learner)
    api.block(7001)
    await learner.choose(1)
    await api.wait_for(lambda: telegram.count("identity WHERE unreachable_at IS NOT NULL") == 1)
    with core.store.transaction() as tx:
        [unreachable] = tx.scheduled_learners([LearnerId(1)]).values()
    assert not unreachable.reachable  # the scheduler sees no address for them
    # A push that comes due now is skipped without a message, and the row moves on.
    with core.store.transaction() as tx:
        tx.set_agendas([(LearnerId(1), {("push", ""): core.clock.now() - timedelta(minutes=1)})])
    with core.store.transaction() as tx:
        result = core.pushes.run_batch(tx, 10)
    assert (result.claimed, result.messages, result.busy) == (1, 0, ())
    with core.store.transaction() as tx:
        assert core.pushes.run_batch(tx, 10).claimed == 0  # not claimed again at every tick
    await api.wait_for(lambda: telegram.count("outbox") == 0)  # dropped, not retried forever
    api.unblock(7001)
    await learner.say("status")
    await api.wait_for(lambda: telegram.count("identity WHERE unreachable_at IS NOT NULL") == 0)
    with core.store.transaction() as tx:
        assert [s.address for s in tx.scheduled_learners([LearnerId(1)]).values()] == ["7001"]


async def test_learner_text_is_escaped_in_html(telegram: RunningTelegram) -> None:
    api = telegram.api
    learner = TelegramLearner(api, 8001, code=telegram.enrolment_code())
    await learner.open()
    await question(learner)
    await learner.choose(1)
    await question(learner)
    await learner.say("Mein Name ist <b>Erika</b> & <i>Co")
    said = await learner.next()
    assert "<b>Erika</b> & <i>Co" in said.text
    raw = api.sent(8001)[learner.read - 1].text or ""
    assert "&lt;b&gt;Erika&lt;/b&gt; &amp; &lt;i&gt;Co" in raw


async def test_photos_and_stickers_get_an_answer_and_a_caption_counts_as_text(telegram: RunningTelegram) -> None:
    api = telegram.api
    learner = TelegramLearner(api, 8101, code=telegram.enrolment_code())
    await learner.open()
    consent, _ = await question(learner)
    api.send_sticker(8101)
    asked_again, before = await question(learner)
    assert any("Ich habe keine Nachricht erhalten." in said.text for said in [*before, asked_again])
    assert asked_again.options == consent.options
    api.send_photo(8101)  # a screenshot without words
    asked_again, before = await question(learner)
    assert any("Ich habe keine Nachricht erhalten." in said.text for said in [*before, asked_again])
    # A caption is what the learner wrote: "ja" under a photo is consent.
    api.send_photo(8101, caption="ja")
    role, _ = await question(learner)
    assert "Welche Rolle" in role.text


async def test_a_tutorial_reminder_arrives_with_its_calendar_file(telegram: RunningTelegram, catalog: Catalog) -> None:
    api, core = telegram.api, telegram.core
    learner = TelegramLearner(api, 9101, code=telegram.enrolment_code())
    await learner.open()
    await question(learner)
    tutorial = next(t for t in catalog.tutorials if t.id == "datenschutz-sprechstunde-2026-12")
    with core.store.transaction() as tx:
        [scheduled] = tx.scheduled_learners([LearnerId(1)]).values()
        reminder = core.engine.tutorial_reminder(scheduled.state, tutorial, core.clock.now(), soon=False)
        tx.enqueue(LearnerId(1), scheduled.channel, scheduled.address, reminder, core.clock.now())
    telegram.channel.poke()
    document = await api.wait_for(lambda: next((m for m in api.sent(9101) if m.kind == "document"), None))
    assert document.filename == f"{tutorial.id}.ics"
    assert document.mime_type == "text/calendar"
    assert document.data is not None
    event = icalendar.Calendar.from_ical(document.data).walk("VEVENT")[0]
    assert event.decoded("DTSTART").astimezone(UTC) == tutorial.starts_at.astimezone(UTC)
    text = plain(api.sent(9101)[-2].text or "")
    assert str(tutorial.join_url) in text


async def test_a_keyboard_still_answers_its_question_after_a_restart(
    api: FakeBotApi, tmp_path: Path, catalog: Catalog, texts: GettextTexts,
) -> None:
    settings = telegram_settings(api, tmp_path)
    core = build_core(settings, clock=ShiftedClock(), database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}", catalog=catalog, texts=texts)
    async with running_telegram(api, core, settings) as telegram:
        learner = TelegramLearner(api, 9201, code=telegram.enrolment_code())
        await learner.open()
        await question(learner)
        await learner.choose(1)  # consent
        asked, _ = await question(learner)
        assert "Welche Rolle" in asked.text
    async with running_telegram(api, core, settings):  # the next life of the process: nothing in memory
        await learner.choose(2)  # a button of the keyboard sent before the restart
        asked, _ = await question(learner)
    assert "Welche Themen" in asked.text
    # Stopping let the message in flight finish and be recorded: the restart sent nothing twice.
    sent = [m.text for m in api.sent(9201)]
    assert len(sent) == len(set(sent)), sent
    with core.store.transaction() as tx:
        [scheduled] = tx.scheduled_learners([LearnerId(1)]).values()
    assert scheduled.state.role_id == catalog.roles[1].id
    core.store.engine.dispose()
