"""Exactly-once: a killed bot process loses and doubles nothing; a homeserver outage is survived."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from campusbot.channels.matrix.channel import CHANNEL
from campusbot.config import Settings
from campusbot.content.catalog import Catalog
from campusbot.core.messages import TextMessage
from campusbot.i18n import GettextTexts
from tests.matrix.conftest import MakeLearner, Register
from tests.matrix.learner import text_of
from tests.matrix.synapse import Account, Synapse
from tests.matrix.test_bot import POLL_END, STORE_SECRET, Conversation, bot_settings, running_bot


class BotProcess:
    """``campusbot run --config FILE`` as a real process that a test can kill."""

    def __init__(self, synapse: Synapse, account: Account, data_dir: Path) -> None:
        self.account = account
        self.data_dir = data_dir
        self.config = data_dir / "campusbot.toml"
        data_dir.mkdir(parents=True, exist_ok=True)
        self.config.write_text(
            f'data_dir = "{data_dir}"\n'
            "[matrix]\n"
            f'homeserver = "{synapse.url}"\n'
            f'user_id = "{account.user_id}"\n'
            "[[tenants]]\n"
            'id = "testkreis"\nname = "Testkreis"\nstate = "HE"\n'
            f'servers = ["{synapse.server_name}"]\n'
        )
        # Secrets through the environment, as an operator would set them.
        self.env = {**os.environ, "CAMPUSBOT_MATRIX__PASSWORD": account.password, "CAMPUSBOT_MATRIX__STORE_SECRET": STORE_SECRET}
        self.process: subprocess.Popen[bytes] | None = None
        self.log = data_dir / "bot.log"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "campusbot", "run", "--config", str(self.config)], env=self.env, stdout=log, stderr=log,
            )

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        assert "Traceback" not in self.log.read_text(errors="replace"), self.log.read_text(errors="replace")[-3000:]


@pytest.fixture
def bot_process(synapse: Synapse, register: Register, tmp_path: Path) -> Iterator[BotProcess]:
    process = BotProcess(synapse, register("campusbot"), tmp_path / "bot")
    process.start()
    try:
        yield process
    finally:
        process.stop()


async def start_check(conversation: Conversation) -> None:
    await conversation.next_poll(timeout=60)  # consent; the first start includes login and cross-signing
    await conversation.say("ja")
    await conversation.next_poll()
    await conversation.say("1")
    await conversation.next_poll()
    await conversation.say("keine")
    await conversation.next_poll()
    await conversation.say("starten")


async def test_sigkill_in_the_check_and_in_a_reply_burst_loses_and_doubles_nothing(
    bot_process: BotProcess, make_learner: MakeLearner, catalog: Catalog
) -> None:
    learner = await make_learner()
    room_id = await learner.open_dm(bot_process.account.user_id, encrypted=True)
    conversation = Conversation(learner, room_id)
    await start_check(conversation)
    credentials = bot_process.data_dir / "matrix" / "credentials.json"
    device_before = json.loads(credentials.read_text())["device_id"]
    total = len(catalog.check.self_assessment) + len(catalog.check.knowledge)
    asked: list[int] = []
    for number in range(1, total + 1):
        poll, _ = await conversation.next_poll(timeout=60)
        asked.append(int(text_of(poll).split("Frage ", 1)[1].split(" ", 1)[0]))
        await conversation.say("2")
        if number in (6, total):
            # Kill right after the answer: in the middle of the check, and (after the last answer)
            # in the middle of the burst of result, plan and plan question.
            await asyncio.sleep(0.05 if number == 6 else 0.15)
            bot_process.kill()
            bot_process.start()
    assert asked == list(range(1, total + 1))
    # Restarts restore the login: the same device, no new one on the homeserver.
    assert json.loads(credentials.read_text())["device_id"] == device_before
    assert oct(credentials.stat().st_mode & 0o777) == "0o600"
    poll, before = await conversation.next_poll(timeout=60)
    assert len([t for t in before if "Ihr Ergebnis" in t]) == 1
    assert len([t for t in before if "Ihr Lernplan" in t]) == 1
    assert "Was möchten Sie mit dem Plan tun?" in text_of(poll)
    # Nothing more is on its way: no doubled message arrives late.
    await asyncio.sleep(3)
    assert [e for e in learner.pending(room_id) if getattr(e, "type", "") != POLL_END] == []


async def test_homeserver_outage_is_survived_and_the_queue_delivered(
    synapse: Synapse, register: Register, make_learner: MakeLearner, tmp_path: Path, catalog: Catalog, texts: GettextTexts
) -> None:
    account = register("campusbot")
    settings: Settings = bot_settings(synapse, account, tmp_path / "bot")
    async with running_bot(settings, account, catalog, texts) as bot:
        learner = await make_learner()
        room_id = await learner.open_dm(bot.user_id, encrypted=False)
        conversation = Conversation(learner, room_id)
        await conversation.next_poll()
        synapse.stop()
        # While the homeserver is down, the core queues a message (as a scheduled push will).
        with bot.channel._store.transaction() as tx:  # the bot's real store
            tx.enqueue(None, CHANNEL, room_id, [TextMessage("Ihre nächste Einheit wartet.")], bot.channel._clock.now())
        bot.channel._wake_sender.set()
        await asyncio.sleep(4)
        assert not bot.task.done()
        synapse.start()
        started = time.monotonic()
        event = await learner.expect_text(room_id, "Ihre nächste Einheit wartet.", timeout=60)
        assert event is not None
        assert time.monotonic() - started < 60
        # And the dialog goes on.
        await conversation.say("ja")
        poll, _ = await conversation.next_poll(timeout=60)
        assert "Welche Rolle" in text_of(poll)


async def test_a_bot_started_before_its_homeserver_waits_for_it(
    synapse: Synapse, register: Register, make_learner: MakeLearner, tmp_path: Path
) -> None:
    """After a power cut the bot may be up first: it waits with backoff instead of exiting."""
    bot = BotProcess(synapse, register("campusbot"), tmp_path / "bot")
    synapse.stop()
    try:
        bot.start()  # first start: password login, key upload and cross-signing all still to do
        assert bot.process is not None
        deadline = time.monotonic() + 30
        while bot.log.read_text(errors="replace").count("not reachable") < 2:
            assert bot.process.poll() is None, bot.log.read_text(errors="replace")[-3000:]
            assert time.monotonic() < deadline, bot.log.read_text(errors="replace")[-3000:]
            await asyncio.sleep(0.2)
        assert bot.process.poll() is None
    finally:
        synapse.start()
    try:
        # Encrypted: the learner's client sends keys only to a cross-signed device, so this also
        # shows the cross-signing that waited for the homeserver was done.
        learner = await make_learner()
        room_id = await learner.open_dm(bot.account.user_id, encrypted=True, timeout=90)
        conversation = Conversation(learner, room_id)
        poll, texts = await conversation.next_poll(timeout=90)
        assert any("Ich bin campusbot" in text for text in texts), texts
        await conversation.say("ja")
        poll, _ = await conversation.next_poll(timeout=30)
        assert "Welche Rolle" in text_of(poll)
        log = bot.log.read_text(errors="replace")
        assert bot.account.password not in log
        assert STORE_SECRET not in log
    finally:
        bot.stop()


async def test_a_password_the_homeserver_refuses_stops_the_bot_with_the_key_named(
    synapse: Synapse, register: Register, tmp_path: Path
) -> None:
    """Waiting is for a homeserver that cannot answer; a refusal is not worth waiting for."""
    account = register("campusbot")
    wrong = dataclasses.replace(account, password="not-" + account.password)
    bot = BotProcess(synapse, wrong, tmp_path / "bot")
    bot.start()
    assert bot.process is not None
    assert bot.process.wait(timeout=60) == 2
    log = bot.log.read_text(errors="replace")
    assert f"campusbot: Matrix login as {account.user_id} failed" in log
    assert "(check matrix.password)" in log
    assert "not reachable" not in log
    assert wrong.password not in log
    assert not (tmp_path / "bot" / "matrix" / "credentials.json").exists()


async def test_a_poll_answered_just_before_a_stop_is_ended_after_the_restart(
    synapse: Synapse, register: Register, make_learner: MakeLearner, tmp_path: Path, catalog: Catalog, texts: GettextTexts
) -> None:
    account = register("campusbot")
    settings = bot_settings(synapse, account, tmp_path / "bot")
    learner = await make_learner()
    async with running_bot(settings, account, catalog, texts) as bot:
        room_id = await learner.open_dm(bot.user_id, encrypted=False)
        conversation = Conversation(learner, room_id)
        consent, _ = await conversation.next_poll()
        await conversation.answer_poll(consent, 1)
        role, _ = await conversation.next_poll()
        # Stopped at once: the consent poll would be ended only after the room was quiet for a moment.
    await asyncio.sleep(2)
    assert [e for e in learner.pending(room_id) if getattr(e, "type", "") == POLL_END] == [], "ended before the stop"
    assert conversation.unended_polls() == {consent.event_id}
    async with running_bot(settings, account, catalog, texts):
        await conversation.until_polls_ended(timeout=30)
        assert conversation.unended_polls() == set()
        assert conversation.open_poll is role


async def test_a_logged_out_device_stops_the_bot_and_says_what_to_do(
    synapse: Synapse, register: Register, make_learner: MakeLearner, tmp_path: Path
) -> None:
    """Someone logged the bot's device out (Element's session list, the admin API): retrying
    cannot help, and logging in again by itself would undo a deliberate logout."""
    bot = BotProcess(synapse, register("campusbot"), tmp_path / "bot")
    bot.start()
    try:
        learner = await make_learner()
        room_id = await learner.open_dm(bot.account.user_id, encrypted=False, timeout=90)
        conversation = Conversation(learner, room_id)
        await conversation.next_poll(timeout=90)
        token = json.loads((bot.data_dir / "matrix" / "credentials.json").read_text())["access_token"]
        synapse.request("POST", "/_matrix/client/v3/logout", token=token, json={})
        await conversation.say("hilfe")  # ends the bot's long poll; its next sync is refused
        assert bot.process is not None
        assert await asyncio.to_thread(bot.process.wait, 60) == 2
        log = bot.log.read_text(errors="replace")
        assert "campusbot: the homeserver no longer accepts the access token" in log
        assert "(M_UNKNOWN_TOKEN)" in log
        assert "matrix.password" in log
        assert token not in log
        # Started again, it says the same at once instead of waiting.
        bot.start()
        assert await asyncio.to_thread(bot.process.wait, 60) == 2
        assert bot.log.read_text(errors="replace").count("no longer accepts the access token") == 2
        # What the message says to do: without the stored login, it signs in as a new device,
        # cross-signed with the identity it has, and the dialog goes on.
        (bot.data_dir / "matrix" / "credentials.json").unlink()
        bot.start()
        await conversation.say("hilfe")
        await conversation.next_poll(timeout=90)
        log = bot.log.read_text(errors="replace")
        assert log.count("generated a new cross-signing identity") == 1
        assert log.count("cross-signed device") == 2
        new_device = json.loads((bot.data_dir / "matrix" / "credentials.json").read_text())["device_id"]
        assert f"cross-signed device {new_device} " in log
    finally:
        bot.stop()
