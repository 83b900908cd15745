"""Pushes, reminders and deadlines with an injected clock, on SQLite and on a real PostgreSQL.

Time is simulated event by event: the clock jumps to the next due row, the scheduler ticks,
and what lands in the outbox is what the learner would have received at that moment.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import icalendar
import pytest
from sqlalchemy import func, select

from campusbot.app import Core, build_core
from campusbot.channels.memory import MEMORY, MemoryChannel
from campusbot.config import Settings, TenantSettings
from campusbot.content.catalog import Catalog
from campusbot.core.clock import FixedClock
from campusbot.core.messages import ChoiceMessage, FileMessage, Outgoing, TextMessage
from campusbot.core.pushes import HR_MANDATORY_OVERDUE
from campusbot.i18n import GettextTexts
from campusbot.scheduling.runner import SchedulerRunner, TickResult
from campusbot.storage.rows import Base
from tests.conftest import backend_url
from tests.support import RecordingBot, answer_check, onboard, study_units

BERLIN = ZoneInfo("Europe/Berlin")
_due = Base.metadata.tables["due_work"]
_identity = Base.metadata.tables["identity"]
_card = Base.metadata.tables["review_card"]

TENANTS = [
    # No mandatory trainings here, so that only pushes are in play.
    TenantSettings(id="kreis-hessen", name="Kreis in Hessen", state="HE", servers=["he.example"], mandatory=[]),
    TenantSettings(id="bezirk-berlin", name="Bezirk in Berlin", state="BE", servers=["be.example"], mandatory=[]),
    TenantSettings(id="stadt-pflicht", name="Stadt mit Pflicht", state="HE", servers=["pf.example"], mandatory=["pflicht-datenschutz"]),
]


def berlin(year: int, month: int, day: int, hour: int = 9, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return backend_url(request, tmp_path)


@dataclass
class World:
    core: Core
    clock: FixedClock
    runner: SchedulerRunner
    inbox: dict[str, list[tuple[datetime, Outgoing]]] = field(default_factory=dict)

    def learner(self, user: str, tenant: str | None = "kreis-hessen", lang: str | None = None) -> RecordingBot:
        channel = MemoryChannel(self.core.turns, self.core.store, self.clock, tenant_id=tenant)
        return RecordingBot(channel, user=user, lang=lang)

    def enrol(self, user: str, catalog: Catalog, tenant: str | None = "kreis-hessen", lang: str | None = None) -> RecordingBot:
        """Onboarding up to an accepted plan (pushes on Tuesday and Thursday at 9:00 by default)."""
        bot = self.learner(user, tenant, lang)
        onboard(bot)
        bot.say("starten" if lang != "en" else "start")
        answer_check(bot, catalog)
        reply = bot.say("1")  # accept the plan
        assert "Ihre Lernzeit" in reply.text or "Your learning time" in reply.text, reply.text
        return bot

    def set_time(self, moment: datetime) -> None:
        assert moment >= self.clock.now()
        self.clock.advance(moment - self.clock.now())

    def tick(self) -> TickResult:
        result = self.runner.tick()
        now = self.clock.now()
        with self.core.store.transaction() as tx:
            items = tx.pending_outbox(MEMORY, 10_000, now)
            for item in items:
                tx.mark_delivered(item.id)
        for item in items:
            self.inbox.setdefault(item.address.removeprefix("memory:"), []).append((now, item.message))
        return result

    def next_due(self) -> datetime | None:
        with self.core.store.engine.connect() as connection:
            value: datetime | None = connection.execute(select(func.min(_due.c.due_at))).scalar_one()
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value

    def run_until(self, end: datetime) -> None:
        """Jump from due row to due row, ticking at each, until ``end``."""
        for _ in range(1000):
            due = self.next_due()
            if due is None or due > end:
                break
            self.set_time(max(due, self.clock.now()))
            self.tick()
        self.set_time(max(end, self.clock.now()))

    def agenda(self, bot: RecordingBot) -> dict[tuple[str, str], datetime]:
        with self.core.store.transaction() as tx:
            record = tx.find_learner(MEMORY, bot.user)
            assert record is not None
            return tx.agenda(record.learner_id)

    def received(self, bot: RecordingBot) -> list[tuple[datetime, Outgoing]]:
        return self.inbox.get(bot.user, [])

    def moments(self, bot: RecordingBot) -> list[datetime]:
        """When the learner got unsolicited messages (one entry per tick that wrote to them)."""
        return sorted({when for when, _ in self.received(bot)})

    def push_moments(self, bot: RecordingBot) -> list[datetime]:
        """When the learner got a push or a nudge (not reminders)."""
        return sorted({
            when for when, m in self.received(bot)
            if (isinstance(m, ChoiceMessage) and m.choice_id.startswith(("push_offer:", "review:")))
            or (isinstance(m, TextMessage) and "wartet noch auf Sie" in m.text)
        })


@pytest.fixture
def make_world(tmp_path: Path, db_url: str, catalog: Catalog, texts: GettextTexts) -> Iterator[Callable[..., World]]:
    cores: list[Core] = []

    def make(content: Catalog = catalog) -> World:
        clock = FixedClock(berlin(2026, 11, 23, 10))  # a Monday
        settings = Settings(data_dir=tmp_path, tenants=TENANTS)
        core = build_core(settings, clock=clock, database_url=db_url, catalog=content, texts=texts)
        cores.append(core)
        return World(core, clock, SchedulerRunner(core.store, core.pushes, batch_size=7))

    yield make
    for core in cores:
        core.store.engine.dispose()


@pytest.fixture
def world(make_world: Callable[..., World]) -> World:
    return make_world()


def texts_of(messages: list[tuple[datetime, Outgoing]]) -> str:
    parts: list[str] = []
    for _, message in messages:
        if isinstance(message, TextMessage):
            parts.append(message.text)
        elif isinstance(message, ChoiceMessage):
            parts.append(message.prompt)
    return "\n".join(parts)


# -- pushes at the learner's time -----------------------------------------------------------------


def test_the_push_comes_on_the_next_push_day_at_nine_and_starts_the_unit(world: World, catalog: Catalog) -> None:
    anna = world.enrol("anna", catalog)
    assert world.agenda(anna)[("push", "")] == berlin(2026, 11, 24, 9)  # Tuesday 9:00, 08:00 UTC in winter
    world.set_time(berlin(2026, 11, 24, 8, 59))
    assert world.tick().claimed == 0
    world.set_time(berlin(2026, 11, 24, 9, 0, ))
    assert world.tick().messages == 2
    push = texts_of(world.received(anna))
    assert "Ihre nächste Lerneinheit wartet" in push
    assert "Möchten Sie jetzt loslegen?" in push
    offer = world.received(anna)[-1][1]
    assert isinstance(offer, ChoiceMessage)
    anna.last = anna.last.__class__([offer])
    reply = anna.tap("1")  # "Jetzt starten"
    assert "Einheit 1 von" in reply.text
    # The push was answered; the next one is on Thursday.
    assert world.agenda(anna)[("push", "")] == berlin(2026, 11, 26, 9)


def test_pushes_follow_local_time_across_the_dst_change(world: World, catalog: Catalog) -> None:
    world.set_time(berlin(2027, 3, 22, 10))  # the week summer time starts (Sunday 28 March)
    anna = world.enrol("anna", catalog)
    anna.say("einstellungen")
    anna.say("Häufigkeit ändern")
    reply = anna.say("täglich")
    assert "Montag, Dienstag, Mittwoch, Donnerstag und Freitag" in reply.text
    anna.say("fertig")
    seen: list[datetime] = []
    for _ in range(6):
        due = world.agenda(anna)[("push", "")]
        world.set_time(due)
        assert world.tick().messages
        seen.append(due)
        anna.say("status")  # the learner answers, so every push day gets its push
    utc = [(moment.date(), moment.hour) for moment in seen]
    # 9:00 CET is 08:00 UTC; Good Friday (26 March), the weekend with the change to summer time
    # and Easter Monday (29 March) get no push; from then on 9:00 CEST is 07:00 UTC.
    assert utc == [
        (date(2027, 3, 23), 8), (date(2027, 3, 24), 8), (date(2027, 3, 25), 8),
        (date(2027, 3, 30), 7), (date(2027, 3, 31), 7), (date(2027, 4, 1), 7),
    ]
    assert all(moment.astimezone(BERLIN).hour == 9 for moment in seen)


def test_a_holiday_in_hessen_is_no_holiday_in_berlin(world: World, catalog: Catalog) -> None:
    world.set_time(berlin(2027, 5, 24, 10))  # Monday; Corpus Christi (Fronleichnam) is Thursday 27 May
    hessen = world.enrol("hanna", catalog, tenant="kreis-hessen")
    berliner = world.enrol("bernd", catalog, tenant="bezirk-berlin")
    for bot in (hessen, berliner):
        bot.say("einstellungen")
        bot.say("Tage wählen")
        reply = bot.say("Donnerstag")
        assert "Donnerstag, jeweils um 9:00 Uhr" in reply.text
        bot.say("fertig")
    assert world.agenda(berliner)[("push", "")] == berlin(2027, 5, 27, 9)
    assert world.agenda(hessen)[("push", "")] == berlin(2027, 6, 3, 9)
    world.run_until(berlin(2027, 5, 27, 12))
    assert world.moments(berliner) == [berlin(2027, 5, 27, 9)]
    assert world.moments(hessen) == []


def test_quiet_hours_refuse_a_late_push_time_and_move_a_snooze_to_the_morning(world: World, catalog: Catalog) -> None:
    anna = world.enrol("anna", catalog)
    anna.say("einstellungen")
    anna.say("Uhrzeit ändern")
    reply = anna.say("21:00")
    assert "Zwischen 18:00 und 7:30 Uhr schreibe ich nicht" in reply.text
    reply = anna.say("25:00")  # not a time: said so, nothing changes
    assert "Diese Uhrzeit gibt es nicht" in reply.text
    reply = anna.say("3")  # a number is the option, not 3 o'clock
    assert "jeweils um 12:30 Uhr" in reply.text
    anna.say("Uhrzeit ändern")
    reply = anna.say("8:15")
    assert "jeweils um 8:15 Uhr" in reply.text
    anna.say("fertig")
    assert world.agenda(anna)[("push", "")] == berlin(2026, 11, 24, 8, 15)
    world.set_time(berlin(2026, 11, 24, 17))
    reply = anna.say("in 2 Stunden")
    assert "Mittwoch, 25. November, 7:30 Uhr" in reply.text
    assert world.agenda(anna)[("push", "")] == berlin(2026, 11, 25, 7, 30)
    world.set_time(berlin(2026, 11, 25, 10))
    reply = anna.say("in 2 Stunden")
    assert world.agenda(anna)[("push", "")] == berlin(2026, 11, 25, 12)


def test_a_vacation_pause_holds_every_push_until_it_ends(world: World, catalog: Catalog) -> None:
    world.set_time(berlin(2026, 12, 14, 10))
    anna = world.enrol("anna", catalog)
    world.set_time(berlin(2026, 12, 18, 15))
    reply = anna.say("Urlaub bis 3.1.")
    assert "Bis einschließlich 03.01.2027 schreibe ich Ihnen nicht" in reply.text
    # 1 January is a holiday, 2 and 3 January are a weekend: the first push is Tuesday 5 January.
    assert world.agenda(anna)[("push", "")] == berlin(2027, 1, 5, 9)
    world.run_until(berlin(2027, 1, 4, 23))
    assert world.moments(anna) == []
    world.run_until(berlin(2027, 1, 5, 12))
    assert world.moments(anna) == [berlin(2027, 1, 5, 9)]


@pytest.mark.parametrize(
    ("phrase", "expected"),
    [
        ("später", berlin(2026, 11, 24, 11)),
        ("morgen", berlin(2026, 11, 25, 9)),
        ("nächste Woche", berlin(2026, 11, 30, 9)),
        ("in 3 Stunden", berlin(2026, 11, 24, 12)),
        ("2 Wochen Pause", berlin(2026, 12, 8, 9)),
    ],
)
def test_snooze_phrases_move_the_next_push(world: World, catalog: Catalog, phrase: str, expected: datetime) -> None:
    anna = world.enrol("anna", catalog)
    world.set_time(berlin(2026, 11, 24, 9))
    world.tick()
    reply = anna.say(phrase)
    assert "Ich melde mich am" in reply.text or "schreibe ich Ihnen nicht" in reply.text
    assert world.agenda(anna)[("push", "")] == expected
    world.run_until(expected + timedelta(minutes=1))
    assert world.moments(anna)[-1] == expected


def test_no_stacking_one_nudge_then_pushes_back_off(make_world: Callable[..., World], catalog: Catalog) -> None:
    # Without live tutorials: their reminders would take some push days (one unsolicited message a day).
    world = make_world(dataclasses.replace(catalog, tutorials=()))
    anna = world.enrol("anna", catalog)
    world.run_until(berlin(2027, 2, 28))
    assert all(len([m for m in world.moments(anna) if m.date() == day]) == 1 for day in {m.date() for m in world.moments(anna)})
    moments = world.push_moments(anna)
    assert moments == [
        berlin(2026, 11, 24, 9),  # the push, unanswered
        berlin(2026, 12, 1, 9),  # one gentle nudge, on the first push day three days later
        berlin(2026, 12, 8, 9),  # then pushes one week,
        berlin(2026, 12, 22, 9),  # two weeks,
        berlin(2027, 1, 19, 9),  # and four weeks apart
        berlin(2027, 2, 16, 9),
    ]
    nudge = texts_of([m for m in world.received(anna) if m[0] == moments[1]])
    assert "wartet noch auf Sie" in nudge
    # An answer ends the back-off: the next push is on the next push day again.
    world.set_time(berlin(2027, 3, 1, 10))
    anna.say("status")
    assert world.agenda(anna)[("push", "")] == berlin(2027, 3, 2, 9)


# -- spaced repetition -----------------------------------------------------------------------


def test_quiz_answers_make_review_cards_that_come_back_in_pushes(world: World, catalog: Catalog) -> None:
    anna = world.enrol("anna", catalog)
    anna.say("weiter")
    reply = study_units(anna, 1)
    with world.core.store.engine.connect() as connection:
        cards = connection.execute(select(_card.c.item_id, _card.c.due_at)).all()
    assert cards, f"no review card after a unit with a quiz: {reply.text}"
    first_due = min(due.replace(tzinfo=UTC) if due.tzinfo is None else due for _, due in cards)
    assert first_due > world.clock.now()
    review: ChoiceMessage | None = None
    for _ in range(12):  # push after push, answered each time, until a review comes
        world.set_time(world.agenda(anna)[("push", "")])
        world.tick()
        choices = [m for when, m in world.received(anna) if when == world.clock.now() and isinstance(m, ChoiceMessage)]
        review = next((m for m in choices if m.choice_id.startswith("review:")), None)
        if review is not None:
            break
        anna.say("status")
    assert review is not None, texts_of(world.received(anna))
    assert world.clock.now() >= first_due
    item = next(q for m in catalog.modules for q in m.quiz if q.prompt.de in review.prompt)
    with world.core.store.engine.connect() as connection:
        before = connection.execute(select(_card.c.due_at).where(_card.c.item_id == item.id)).scalar_one()
    anna.last = anna.last.__class__([review])
    reply = anna.tap(str(item.correct))
    assert reply.text.startswith("Richtig!")
    with world.core.store.engine.connect() as connection:
        after = connection.execute(select(_card.c.due_at).where(_card.c.item_id == item.id)).scalar_one()
    assert after > before


# -- reminders -------------------------------------------------------------------------------


def test_live_tutorial_reminders_the_day_before_with_a_calendar_file_and_15_minutes_before(world: World, catalog: Catalog) -> None:
    tutorial = next(t for t in catalog.tutorials if t.id == "datenschutz-sprechstunde-2026-12")
    anna = world.enrol("anna", catalog)
    reply = anna.say("plan")
    if "Datenschutz" not in reply.text:
        pytest.fail(f"the plan has no data protection module: {reply.text}")
    anna.say("menü")
    agenda = world.agenda(anna)
    day_before, soon = agenda[("tutorial", f"{tutorial.id}:day")], agenda[("tutorial", f"{tutorial.id}:soon")]
    assert day_before == berlin(2026, 12, 8, 9)
    assert soon == berlin(2026, 12, 9, 13, 45) == tutorial.starts_at - timedelta(minutes=15)
    world.run_until(berlin(2026, 12, 9, 15))
    at_day_before = [m for when, m in world.received(anna) if when == day_before]
    assert "beginnt am Mittwoch, 9. Dezember, 14:00 Uhr" in texts_of([(day_before, m) for m in at_day_before])
    [ics] = [m for m in at_day_before if isinstance(m, FileMessage)]
    assert ics.mimetype == "text/calendar"
    event = icalendar.Calendar.from_ical(ics.data).walk("VEVENT")[0]
    assert event.decoded("DTSTART").astimezone(UTC) == tutorial.starts_at.astimezone(UTC)
    assert "beginnt in 15 Minuten" in texts_of([(soon, m) for when, m in world.received(anna) if when == soon])
    assert str(tutorial.join_url) in texts_of(world.received(anna))


def test_mandatory_training_reminders_and_an_hr_notice_when_overdue(world: World, catalog: Catalog) -> None:
    module = catalog.module("pflicht-datenschutz")
    assert module is not None
    anna = world.enrol("anna", catalog, tenant="stadt-pflicht")
    # Enrolled on Monday 23 November: due four weeks later, on Monday 21 December.
    assert world.agenda(anna)[("mandatory", module.id)] == berlin(2026, 12, 14, 9)  # 7 days before
    world.run_until(berlin(2026, 12, 23))
    reminders = [(when, m) for when, m in world.received(anna) if isinstance(m, TextMessage) and "Pflichtschulung" in m.text]
    assert [when for when, _ in reminders] == [
        berlin(2026, 12, 14, 9),  # 7 days before
        berlin(2026, 12, 18, 9),  # 1 day before falls on a Sunday: the Friday before
        berlin(2026, 12, 22, 7, 30),  # the day after the due date: overdue
    ]
    assert "in 7 Tagen" in reminders[0][1].text
    assert "Personalstelle" in reminders[2][1].text
    with world.core.store.transaction() as tx:
        notices = tx.hr_notices("stadt-pflicht")
        assert tx.hr_notices("kreis-hessen") == []
    assert [(n.kind, n.module_id, n.due_date) for n in notices] == [(HR_MANDATORY_OVERDUE, module.id, date(2026, 12, 21))]


def test_a_completed_mandatory_training_stops_its_reminders(world: World, catalog: Catalog) -> None:
    module = catalog.module("pflicht-datenschutz")
    assert module is not None
    anna = world.enrol("anna", catalog, tenant="stadt-pflicht")
    reply = anna.say("plan")
    line = next(line for line in reply.text.splitlines() if line[:1].isdigit() and module.title.de in line)
    anna.say(f"{line.split('.')[0]} nach vorne")
    anna.say("1")
    study_units(anna, len(module.units))
    if module.exam is not None:
        anna.say("prüfung")
        anna.say("ja")
        for item in module.exam.items:
            anna.say(str(item.correct))
    world.run_until(berlin(2027, 1, 31))
    assert not any(isinstance(m, TextMessage) and "Pflichtschulung" in m.text for _, m in world.received(anna))
    with world.core.store.transaction() as tx:
        assert tx.hr_notices("stadt-pflicht") == []
    # Next year's round is on the agenda: done on 23 November 2026, due again on 23 November
    # 2027; 30 days before is Sunday 24 October, so the reminder comes on Friday 22 October.
    assert world.agenda(anna)[("mandatory", module.id)] == berlin(2027, 10, 22, 9)


# -- downtime and several workers --------------------------------------------------------------


def test_catch_up_after_three_hours_of_downtime_sends_each_due_push_once(world: World, catalog: Catalog) -> None:
    learners = [world.enrol(f"learner{n}", catalog) for n in range(12)]
    world.set_time(berlin(2026, 11, 24, 12))  # down from 9:00 to 12:00
    result = world.tick()
    assert result.claimed >= 12
    assert result.batches >= 2  # batches of 7
    for bot in learners:
        assert world.moments(bot) == [berlin(2026, 11, 24, 12)]
        assert len(world.received(bot)) == 2
    assert world.tick().claimed == 0
    for bot in learners:
        assert world.agenda(bot)[("push", "")] > world.clock.now()


async def test_the_apscheduler_job_ticks_and_wakes_the_channels(world: World, catalog: Catalog) -> None:
    anna = world.enrol("anna", catalog)
    world.set_time(berlin(2026, 11, 24, 9) + timedelta(seconds=5))
    woken: list[frozenset[str]] = []
    done = asyncio.Event()

    def on_enqueued(channels: frozenset[str]) -> None:
        woken.append(channels)
        done.set()

    runner = SchedulerRunner(world.core.store, world.core.pushes, tick_seconds=0.2, on_enqueued=on_enqueued)
    runner.start()
    try:
        await asyncio.wait_for(done.wait(), timeout=10)
        await asyncio.sleep(0.5)  # more ticks: nothing is due any more
    finally:
        runner.stop()
    assert woken == [frozenset({MEMORY})]
    with world.core.store.transaction() as tx:
        pushed = tx.pending_outbox(MEMORY, 10, world.clock.now(), address=f"memory:{anna.user}")
    assert [type(item.message).__name__ for item in pushed] == ["TextMessage", "ChoiceMessage"]


def test_settings_snooze_and_vacation_in_english(world: World, catalog: Catalog) -> None:
    ann = world.enrol("ann", catalog, lang="en")
    reply = ann.say("settings")
    assert "Your learning time: Tuesday and Thursday, at 9:00" in reply.text.replace("**", "")
    ann.say("Change the time")
    reply = ann.say("8:30")
    assert "at 8:30" in reply.text
    ann.say("done")
    reply = ann.say("tomorrow")
    assert "I will be back on Tuesday, 24 November, 08:30" in reply.text
    reply = ann.say("vacation until 2026-12-31")
    assert "I will not write up to and including 2026-12-31" in reply.text
    # 1 January is a holiday; the next push day is Tuesday 5 January.
    assert world.agenda(ann)[("push", "")] == berlin(2027, 1, 5, 8, 30)
