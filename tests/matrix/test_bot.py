"""campusbot on a real Synapse: the journey in plain and encrypted DMs, invites, bad input."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from nio import Event, UnknownEvent
from nio.crypto.attachments import decrypt_attachment
from nio.responses import DownloadResponse
from pydantic import SecretStr
from sqlalchemy import update

from campusbot.app import Core, build_core
from campusbot.certificates.credential import verify_credential
from campusbot.certificates.issuer_keys import IssuerKeys
from campusbot.channels.matrix.channel import MatrixChannel
from campusbot.config import MatrixSettings, Settings, TenantSettings
from campusbot.content.catalog import Catalog
from campusbot.content.models import Module
from campusbot.core.clock import Clock
from campusbot.i18n import GettextTexts
from campusbot.scheduling.runner import SchedulerRunner
from campusbot.storage.rows import Base
from tests.matrix.conftest import MakeLearner, Register
from tests.matrix.learner import LearnerClient, poll_answers, poll_question, text_of
from tests.matrix.synapse import Account, Synapse
from tests.scenario import Said, journey
from tests.support import ShiftedClock, move_past_tutorial
from tests.test_matrix_render import _Tags, spec_validator

POLL_START = "org.matrix.msc3381.poll.start"
POLL_END = "org.matrix.msc3381.poll.end"
STORE_SECRET = "a-test-store-secret-of-some-length"  # noqa: S105 - a test value


def bot_settings(synapse: Synapse, account: Account, data_dir: Path, servers: list[str] | None = None) -> Settings:
    return Settings(
        data_dir=data_dir,
        matrix=MatrixSettings(
            homeserver=synapse.url, user_id=account.user_id, password=SecretStr(account.password),
            store_secret=SecretStr(STORE_SECRET),
        ),
        tenants=[TenantSettings(id="testkreis", name="Testkreis", state="HE", servers=servers or [synapse.server_name])],
    )


@dataclass
class RunningBot:
    account: Account
    channel: MatrixChannel
    task: asyncio.Task[None]
    core: Core

    @property
    def user_id(self) -> str:
        return self.account.user_id


@contextlib.asynccontextmanager
async def running_bot(
    settings: Settings, account: Account, catalog: Catalog, texts: GettextTexts, clock: Clock | None = None,
) -> AsyncIterator[RunningBot]:
    core = build_core(settings, catalog=catalog, texts=texts, clock=clock)
    channel = MatrixChannel(settings, core.turns, core.store, core.clock)
    task = asyncio.create_task(channel.run())
    try:
        ready = asyncio.create_task(channel.ready.wait())
        done, _ = await asyncio.wait({ready, task}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            task.result()  # raises what went wrong at start
        assert ready in done, "the bot did not finish its first sync within 60 s"
        yield RunningBot(account, channel, task, core)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        core.store.engine.dispose()


@pytest.fixture
async def bot(synapse: Synapse, register: Register, tmp_path: Path, catalog: Catalog, texts: GettextTexts) -> AsyncIterator[RunningBot]:
    account = register("campusbot")
    async with running_bot(bot_settings(synapse, account, tmp_path / "bot"), account, catalog, texts) as running:
        yield running


@dataclass
class Conversation:
    """The learner's side of a DM with the bot; records every bot event it consumed."""

    learner: LearnerClient
    room_id: str
    seen: list[Event] = field(default_factory=list)
    open_poll: UnknownEvent | None = None

    async def next_poll(self, timeout: float = 20.0) -> tuple[UnknownEvent, list[str]]:  # noqa: ASYNC109
        """Consume bot events up to the next question: a new poll, or the open poll's question
        repeated as text under a reply. Returns the poll to answer and the texts before it
        (with the one that repeats the question)."""
        texts: list[str] = []
        deadline = time.monotonic() + timeout
        while True:
            [event] = await self.learner.wait_for_messages(self.room_id, 1, timeout=max(deadline - time.monotonic(), 0.1))
            self.seen.append(event)
            if isinstance(event, UnknownEvent) and event.type == POLL_START:
                self.open_poll = event
                return event, texts
            if getattr(event, "type", "") != POLL_END:
                texts.append(text_of(event))
                if self.open_poll is not None and poll_question(self.open_poll) in texts[-1]:
                    return self.open_poll, texts

    async def next_text(self, timeout: float = 20.0) -> str:  # noqa: ASYNC109
        """The text of the next bot message that is not a poll ending."""
        while True:
            [event] = await self.learner.wait_for_messages(self.room_id, 1, timeout=timeout)
            self.seen.append(event)
            if getattr(event, "type", "") != POLL_END:
                return text_of(event)

    def unended_polls(self) -> set[str]:
        """Polls seen, except the newest, that the bot has not ended (yet)."""
        ends = {e.source["content"]["m.relates_to"]["event_id"] for e in self.seen if getattr(e, "type", "") == POLL_END}
        starts = [e.event_id for e in self.seen if getattr(e, "type", "") == POLL_START]
        return set(starts[:-1]) - ends

    async def until_polls_ended(self, timeout: float = 10.0) -> None:  # noqa: ASYNC109
        """The bot ends answered polls once the room is quiet; consume events until it has."""
        deadline = time.monotonic() + timeout
        while self.unended_polls():
            [event] = await self.learner.wait_for_messages(self.room_id, 1, timeout=max(deadline - time.monotonic(), 0.1))
            self.seen.append(event)

    async def answer_poll(self, poll: UnknownEvent, *numbers: int, stable: bool = False) -> None:
        answers = poll_answers(poll)
        await self.learner.send_poll_response(self.room_id, poll.event_id, [answers[n - 1][0] for n in numbers], stable=stable)

    async def say(self, text: str) -> None:
        await self.learner.send_text(self.room_id, text)


def assert_events_are_spec_valid(events: list[Event]) -> None:
    validators = {kind: spec_validator(f"m.room.message${kind}.yaml") for kind in ("m.notice", "m.file")}
    for event in events:
        source: dict[str, Any] = dict(event.source)
        if source.get("type") == "m.room.message":
            source.setdefault("room_id", "!r:localhost")
            assert list(validators[source["content"]["msgtype"]].iter_errors(source)) == [], source
            assert source["content"]["m.mentions"] == {}
        elif source.get("type") == POLL_START:
            poll = source["content"][POLL_START]
            assert poll["kind"] == "org.matrix.msc3381.poll.disclosed"
            assert len(poll["answers"]) in range(1, 21)
            assert isinstance(source["content"]["org.matrix.msc1767.text"], str)


@dataclass
class MatrixLearner:
    """The shared journey's learner (tests/scenario.py) in a DM: taps are poll responses,
    in turn the unstable form Element sends and the stable one."""

    conversation: Conversation
    responses: int = 0

    async def open(self) -> None:
        """The DM is open already: the bot greets on joining it."""

    async def say(self, text: str) -> None:
        await self.conversation.say(text)

    async def choose(self, *numbers: int) -> None:
        poll = self.conversation.open_poll
        assert poll is not None, "no poll to answer"
        self.responses += 1
        await self.conversation.answer_poll(poll, *numbers, stable=self.responses % 2 == 0)

    async def next(self) -> Said:
        conversation = self.conversation
        while True:
            [event] = await conversation.learner.wait_for_messages(conversation.room_id, 1, timeout=20)
            conversation.seen.append(event)
            if getattr(event, "type", "") != POLL_END:
                break
        if isinstance(event, UnknownEvent) and event.type == POLL_START:
            conversation.open_poll = event
            return Said(poll_question(event), tuple(label for _, label in poll_answers(event)))
        content = event.source.get("content", {})
        if content.get("msgtype") == "m.file":
            return Said(text_of(event), filename=content["filename"])
        open_poll = conversation.open_poll
        if open_poll is not None and poll_question(open_poll) in text_of(event):
            return Said(text_of(event), tuple(label for _, label in poll_answers(open_poll)))
        return Said(text_of(event))


async def matrix_journey(conversation: Conversation, catalog: Catalog) -> None:
    """The shared journey, then what only Matrix has: every answered poll is ended (bounded
    wait: the bot ends them once the room is quiet), and every event is valid by the spec."""
    learner = MatrixLearner(conversation)
    files = await journey(learner, catalog)
    assert learner.responses > 10
    await conversation.until_polls_ended()
    assert conversation.unended_polls() == set()
    assert_events_are_spec_valid(conversation.seen)
    assert {f.filename for f in files} == {"pflichtschulung-pflicht-datenschutz.pdf", "pflichtschulung-pflicht-datenschutz.credential.json"}


async def test_journey_in_a_plain_dm(bot: RunningBot, make_learner: MakeLearner, catalog: Catalog) -> None:
    learner = await make_learner()
    room_id = await learner.open_dm(bot.user_id, encrypted=False)
    await matrix_journey(Conversation(learner, room_id), catalog)


async def test_journey_in_an_encrypted_dm_with_a_cross_signed_bot(bot: RunningBot, make_learner: MakeLearner, catalog: Catalog) -> None:
    learner = await make_learner()
    room_id = await learner.open_dm(bot.user_id, encrypted=True)
    assert await learner.verify_cross_signing(bot.user_id, bot.channel.client.device_id or "")
    conversation = Conversation(learner, room_id)
    await matrix_journey(conversation, catalog)
    # The learner really received encrypted events (nio marks decrypted events).
    assert all(getattr(e, "decrypted", False) for e in conversation.seen)

    # The data export arrives as an encrypted attachment that decrypts to the learner's data.
    await conversation.say("export")
    event = await learner.expect_text(room_id, "Ihre Daten bei campusbot", timeout=30)
    content = event.source["content"]
    assert content["msgtype"] == "m.file"
    assert content["filename"] == "campusbot-daten.json"
    assert "url" not in content
    encrypted = content["file"]
    download = await learner.client.download(encrypted["url"])
    assert isinstance(download, DownloadResponse)
    assert isinstance(download.body, bytes)
    data = decrypt_attachment(download.body, encrypted["key"]["k"], encrypted["hashes"]["sha256"], encrypted["iv"])
    export = json.loads(data)
    assert export["learner"]["identities"][0]["external_id"] == learner.user_id


async def test_the_bot_account_collects_no_notifications(bot: RunningBot, synapse: Synapse, make_learner: MakeLearner) -> None:
    """The bot needs no push notifications: its master push rule is on, so Synapse stores none
    for the learners' messages (less work on each message's way to the bot)."""
    learner = await make_learner()
    room_id = await learner.open_dm(bot.user_id, encrypted=False)
    conversation = Conversation(learner, room_id)
    await conversation.next_poll()
    await conversation.say("hilfe")
    await conversation.next_poll()
    token = bot.channel.client.access_token
    assert synapse.request("GET", "/_matrix/client/v3/notifications", token=token)["notifications"] == []
    assert synapse.request("GET", "/_matrix/client/v3/pushrules/global/override/.m.rule.master/enabled", token=token) == {"enabled": True}


async def test_a_question_asked_again_stays_in_its_open_poll(bot: RunningBot, make_learner: MakeLearner) -> None:
    """A command while a poll is open: the answer ends with the question as text, no poll is
    doubled; only when the poll is more than a few messages up does a new one replace it."""
    learner = await make_learner()
    room_id = await learner.open_dm(bot.user_id, encrypted=False)
    conversation = Conversation(learner, room_id)
    poll, _ = await conversation.next_poll()
    await conversation.answer_poll(poll, 1)
    role_poll, _ = await conversation.next_poll()
    question = poll_question(role_poll)
    assert "Welche Rolle" in question
    options = "\n".join(f"{n}. {label}" for n, (_, label) in enumerate(poll_answers(role_poll), 1))
    for command in ("status", "hilfe", "status"):
        await conversation.say(command)
        text = await conversation.next_text()
        assert conversation.seen[-1].source["content"]["msgtype"] == "m.notice"
        assert text.rstrip().endswith(question + "\n\n" + options)
    await conversation.say("hilfe")
    new_poll, before = await conversation.next_poll()
    assert len(before) == 1
    assert question not in before[0]
    assert new_poll.event_id != role_poll.event_id
    assert poll_question(new_poll) == question
    await conversation.until_polls_ended()  # the old poll is ended once the room is quiet
    # The open poll is still the one to answer after its question was repeated in text.
    await conversation.say("status")
    _, texts = await conversation.next_poll()
    assert conversation.open_poll is new_poll
    assert question in texts[-1]
    await conversation.answer_poll(new_poll, 1)
    poll, _ = await conversation.next_poll()
    assert "Welche Themen" in text_of(poll)


async def test_invite_from_another_server_is_declined(
    synapse: Synapse, register: Register, make_learner: MakeLearner, tmp_path: Path, catalog: Catalog, texts: GettextTexts
) -> None:
    account = register("campusbot")
    settings = bot_settings(synapse, account, tmp_path / "bot", servers=["gemeinde.example"])
    async with running_bot(settings, account, catalog, texts):
        learner = await make_learner()
        response = await learner.client.room_create(invite=[account.user_id], is_direct=True)
        room_id = response.room_id
        deadline = time.monotonic() + 20
        membership = "invite"
        while membership == "invite" and time.monotonic() < deadline:
            state = await learner.client.room_get_state_event(room_id, "m.room.member", account.user_id)
            membership = getattr(state, "content", {}).get("membership", "invite")
            await asyncio.sleep(0.2)
        assert membership == "leave"


async def test_what_was_said_before_the_bot_joined_is_not_answered(bot: RunningBot, make_learner: MakeLearner) -> None:
    learner = await make_learner()
    created = await learner.client.room_create(is_direct=True)
    room_id = created.room_id
    await learner.send_text(room_id, "hilfe")  # history: the bot is not in the room yet
    # An invite marked as a DM, as Element sends it.
    await learner.request(
        "PUT", f"/_matrix/client/v3/rooms/{room_id}/state/m.room.member/{bot.user_id}", {"membership": "invite", "is_direct": True},
    )
    conversation = Conversation(learner, room_id)
    poll, before = await conversation.next_poll()
    assert "Sind Sie damit einverstanden?" in text_of(poll)
    assert not any("So sprechen Sie mit mir" in t for t in before)
    # Nothing else follows: "hilfe" from before the join gets no answer.
    with pytest.raises(TimeoutError):
        await learner.wait_for_messages(room_id, 1, timeout=2.0)
    # What the learner says after the join is answered.
    await conversation.answer_poll(poll, 1)
    poll, _ = await conversation.next_poll()
    assert "Welche Rolle" in text_of(poll)


async def test_injection_and_a_20_kb_message_get_friendly_answers(bot: RunningBot, make_learner: MakeLearner) -> None:
    learner = await make_learner()
    room_id = await learner.open_dm(bot.user_id, encrypted=False)
    conversation = Conversation(learner, room_id)
    poll, _ = await conversation.next_poll()
    await conversation.say("ja")
    await conversation.next_poll()
    await conversation.say('<img src=x onerror="alert(1)"> **fett** <script>x</script>')
    poll, before = await conversation.next_poll()
    assert any("nicht verstanden" in t for t in before)
    await conversation.say("x" * 20_000)
    poll, before = await conversation.next_poll()
    assert any("zu lang" in t for t in before)
    for event in conversation.seen:
        formatted = event.source["content"].get("formatted_body")
        if formatted:
            parser = _Tags()
            parser.feed(formatted)
            assert parser.tags <= {"p", "strong", "ul", "li", "br"}
    assert "Welche Rolle" in text_of(poll)


HeldKey = list[tuple[set[tuple[str, str]], dict[str, Any]]]


async def send_with_held_key(learner: LearnerClient, room_id: str, text: str) -> HeldKey:
    """Send ``text`` in a fresh megolm session whose key (from index 0) is made but held back,
    as a slow to-device path would; returns the held key messages."""
    from uuid import uuid4

    from nio.api import Api
    from nio.responses import RoomSendResponse

    client = learner.client
    olm = client.olm
    assert olm is not None
    room = client.rooms[room_id]
    held = list(olm.share_group_session_parallel(room_id, list(room.users), ignore_unverified_devices=True))
    assert held
    olm.outbound_group_sessions[room_id].shared = True
    content = olm.group_encrypt(room_id, {"type": "m.room.message", "content": {"msgtype": "m.text", "body": text}})
    method, path, data = Api.room_send(client.access_token, room_id, "m.room.encrypted", content, uuid4())
    response = await client._send(RoomSendResponse, method, path, data, (room_id,))
    assert isinstance(response, RoomSendResponse)
    return held


async def deliver_held_key(learner: LearnerClient, room_id: str, held: HeldKey) -> None:
    from uuid import uuid4

    from nio.api import Api
    from nio.responses import ShareGroupSessionResponse

    client = learner.client
    for users, to_device in held:
        method, path, data = Api.to_device(client.access_token, "m.room.encrypted", to_device, uuid4())
        shared = await client._send(ShareGroupSessionResponse, method, path, data, response_data=(room_id, users))
        assert isinstance(shared, ShareGroupSessionResponse)


async def test_a_message_whose_room_key_arrives_late_is_handled_when_the_key_comes(
    bot: RunningBot, make_learner: MakeLearner
) -> None:
    learner = await make_learner()
    room_id = await learner.open_dm(bot.user_id, encrypted=True)
    conversation = Conversation(learner, room_id)
    await conversation.next_poll()
    await conversation.say("ja")  # shares the first session; the bot's device is now verified
    await conversation.next_poll()
    held = await send_with_held_key(learner, room_id, "1")
    # Without the key the bot cannot read it, so it says nothing.
    await asyncio.sleep(3)
    assert [e for e in learner.pending(room_id) if getattr(e, "type", "") != POLL_END] == []
    # The key arrives: the bot decrypts the waiting event and answers it.
    await deliver_held_key(learner, room_id, held)
    poll, _ = await conversation.next_poll(timeout=30)
    assert "Welche Themen" in text_of(poll)


async def test_an_event_waiting_for_its_key_survives_a_restart(
    synapse: Synapse, register: Register, make_learner: MakeLearner, tmp_path: Path, catalog: Catalog, texts: GettextTexts
) -> None:
    account = register("campusbot")
    settings = bot_settings(synapse, account, tmp_path / "bot")
    learner = await make_learner()
    async with running_bot(settings, account, catalog, texts) as bot:
        room_id = await learner.open_dm(bot.user_id, encrypted=True)
        conversation = Conversation(learner, room_id)
        await conversation.next_poll()
        await conversation.say("ja")
        await conversation.next_poll()
        held = await send_with_held_key(learner, room_id, "1")
        await asyncio.sleep(3)  # the bot syncs the event, cannot decrypt it, and moves its token on
    async with running_bot(settings, account, catalog, texts):
        await deliver_held_key(learner, room_id, held)
        poll, _ = await conversation.next_poll(timeout=30)
        assert "Welche Themen" in text_of(poll)


async def test_rate_limited_sends_wait_for_retry_after_and_lose_nothing(
    synapse: Synapse, register: Register, make_learner: MakeLearner, tmp_path: Path, catalog: Catalog, texts: GettextTexts,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import urllib.parse

    account = register("campusbot")
    admin = register("admin", admin=True)
    # One message a second for the bot: its greeting burst must hit 429 M_LIMIT_EXCEEDED.
    path = f"/_synapse/admin/v1/users/{urllib.parse.quote(account.user_id)}/override_ratelimit"
    synapse.admin_request("POST", path, admin.access_token, json={"messages_per_second": 1, "burst_count": 1})
    caplog.set_level("WARNING", logger="campusbot.channels.matrix.channel")
    async with running_bot(bot_settings(synapse, account, tmp_path / "bot"), account, catalog, texts) as bot:
        learner = await make_learner()
        room_id = await learner.open_dm(bot.user_id, encrypted=False)
        conversation = Conversation(learner, room_id)
        poll, before = await conversation.next_poll(timeout=30)
        await conversation.say("ja")
        poll, before_role = await conversation.next_poll(timeout=30)
    assert len(before) == 1
    assert before[0].startswith("Guten Tag")
    assert before_role == ["Vielen Dank! Dann lernen wir uns kurz kennen."]
    assert "Welche Rolle" in text_of(poll)
    assert any("M_LIMIT_EXCEEDED" in r.getMessage() for r in caplog.records)


class _TuesdayMorningClock:
    """Real time, shifted so that "now" is a Tuesday morning in Berlin: pushes are allowed."""

    def __init__(self) -> None:
        self._offset = datetime(2026, 11, 24, 9, 30, tzinfo=ZoneInfo("Europe/Berlin")) - datetime.now(UTC)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset


async def test_a_scheduled_push_reaches_the_learner_as_a_poll_in_an_encrypted_dm(
    synapse: Synapse, register: Register, make_learner: MakeLearner, tmp_path: Path, catalog: Catalog, texts: GettextTexts,
) -> None:
    account = register("campusbot")
    settings = bot_settings(synapse, account, tmp_path / "bot")
    async with running_bot(settings, account, catalog, texts, clock=_TuesdayMorningClock()) as bot:
        learner = await make_learner()
        room_id = await learner.open_dm(bot.user_id, encrypted=True)
        conversation = Conversation(learner, room_id)
        poll, _ = await conversation.next_poll()
        await conversation.answer_poll(poll, 1)  # consent
        await conversation.next_poll()
        await conversation.say("1")  # role
        await conversation.next_poll()
        await conversation.say("keine")  # interests
        await conversation.next_poll()
        await conversation.say("später")  # the check can wait
        await conversation.next_poll()
        await conversation.say("plan")
        await conversation.next_poll()
        await conversation.say("annehmen")
        _, before = await conversation.next_poll()
        assert any("Ihre Lernzeit" in t for t in before)
        # The next push day has come: the push row is due.
        with bot.core.store.engine.begin() as connection:
            moved = connection.execute(
                update(Base.metadata.tables["due_work"]).where(Base.metadata.tables["due_work"].c.kind == "push")
                .values(due_at=bot.core.clock.now() - timedelta(seconds=1))
            ).rowcount
        assert moved == 1
        runner = SchedulerRunner(bot.core.store, bot.core.pushes, on_enqueued=lambda channels: bot.channel.poke())
        result = await runner.tick_async()
        assert (result.claimed, result.messages) == (1, 2)
        poll, before = await conversation.next_poll()
        assert any("Ihre nächste Lerneinheit wartet" in t for t in before)
        assert "Möchten Sie jetzt loslegen?" in text_of(poll)
        await conversation.answer_poll(poll, 1)  # "Jetzt starten"
        _, before = await conversation.next_poll()
        assert any("Einheit 1 von" in t for t in before)


async def test_a_module_with_its_exam_leaves_the_learner_a_pdf_and_a_signed_credential(
    synapse: Synapse, register: Register, make_learner: MakeLearner, catalog: Catalog, texts: GettextTexts, tmp_path: Path,
) -> None:
    module = catalog.module("informationssicherheit")
    assert module is not None
    assert module.exam is not None
    exam_answers = {item.prompt.de: item.correct for item in module.exam.items}
    # The module's live tutorial is part of it: the bot's clock runs on from after it, and the
    # bot asks whether the learner was there (answered "Ja" like every other poll below).
    clock = ShiftedClock()
    move_past_tutorial(clock, catalog, module.id)
    account = register("campusbot")
    async with running_bot(bot_settings(synapse, account, tmp_path / "bot"), account, catalog, texts, clock) as bot:
        await _module_with_exam(bot, make_learner, catalog, tmp_path, module, exam_answers)


async def _module_with_exam(
    bot: RunningBot, make_learner: MakeLearner, catalog: Catalog, tmp_path: Path, module: Module, exam_answers: dict[str, int],
) -> None:
    learner = await make_learner()
    room_id = await learner.open_dm(bot.user_id, encrypted=True)
    conversation = Conversation(learner, room_id)
    poll, _ = await conversation.next_poll()
    await conversation.answer_poll(poll, 1)  # consent
    for said in ("1", "keine", "später", "Mein Name ist Erika Mustermann"):
        await conversation.next_poll()
        await conversation.say(said)
    poll, before = await conversation.next_poll()
    await conversation.say("plan")
    poll, before = await conversation.next_poll()
    line = next(line for t in before for line in t.splitlines() if line[:1].isdigit() and module.title.de in line)
    await conversation.say(f"{line.split('.')[0]} nach vorne")
    await conversation.next_poll()
    await conversation.say("annehmen")
    await conversation.next_poll()
    await conversation.say("weiter")
    files: list[Event] = []
    deadline = time.monotonic() + 120
    while len(files) < 4 and time.monotonic() < deadline:
        [event] = await learner.wait_for_messages(room_id, 1, timeout=30)
        conversation.seen.append(event)
        content = event.source.get("content", {})
        if content.get("msgtype") == "m.file":
            files.append(event)
            continue
        if getattr(event, "type", "") == POLL_END:
            continue
        question = text_of(event)
        if isinstance(event, UnknownEvent) and event.type == POLL_START:
            if "Prüfungsfrage" in question:
                [correct] = [number for prompt, number in exam_answers.items() if prompt in question]
                await conversation.answer_poll(event, correct)
            elif "Einheit geschafft" in " ".join(text_of(e) for e in conversation.seen[-4:]) or "Was möchten Sie tun?" in question:
                await conversation.say("weiter")
            else:
                await conversation.answer_poll(event, 1)  # unit done, evaluations, quiz, "start the exam"
        elif "zum Überspringen" in question:
            await conversation.say("-")
    names = [e.source["content"]["filename"] for e in files]
    assert names == [
        "teilnahmebestaetigung-informationssicherheit.pdf", "teilnahmebestaetigung-informationssicherheit.credential.json",
        "zertifikat-informationssicherheit.pdf", "zertifikat-informationssicherheit.credential.json",
    ]
    # The files are encrypted attachments; the credential decrypts to what the operator signed.
    content = files[3].source["content"]
    response = await learner.client.download(content["file"]["url"])
    assert isinstance(response, DownloadResponse)
    assert isinstance(response.body, bytes)
    data = decrypt_attachment(response.body, content["file"]["key"]["k"], content["file"]["hashes"]["sha256"], content["file"]["iv"])
    credential = json.loads(data)
    assert credential["credentialSubject"]["identifier"][0]["identityHash"] == "Erika Mustermann"
    keys = IssuerKeys(tmp_path / "bot" / "issuer").verification_keys()
    assert verify_credential(credential, keys).valid
