from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from campusbot.core.calendar import PushPrefs, QuietHours, calendar_for, next_push
from campusbot.core.snooze import Snooze, Vacation, parse_snooze, parse_vacation, snooze_until

BERLIN = ZoneInfo("Europe/Berlin")
EVENINGS = QuietHours(time(18, 0), time(7, 30))
AT_NINE = PushPrefs(time(9, 0), frozenset(range(5)))
TODAY = date(2026, 12, 20)


def berlin(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("später", Snooze("later")),
        ("Später!", Snooze("later")),
        ("spaeter", Snooze("later")),
        ("nachher", Snooze("later")),
        ("Bitte später", Snooze("later")),
        ("later", Snooze("later")),
        ("later please", Snooze("later")),
        ("morgen", Snooze("tomorrow")),
        ("Morgen bitte", Snooze("tomorrow")),
        ("morgen wieder", Snooze("tomorrow")),
        ("Erinnern Sie mich morgen", Snooze("tomorrow")),
        ("tomorrow", Snooze("tomorrow")),
        ("remind me tomorrow", Snooze("tomorrow")),
        ("nächste Woche", Snooze("next_week")),
        ("naechste woche", Snooze("next_week")),
        ("Kommende Woche", Snooze("next_week")),
        ("next week", Snooze("next_week")),
        ("in 2 Stunden", Snooze("delay", timedelta(hours=2))),
        ("in einer Stunde", Snooze("delay", timedelta(hours=1))),
        ("in zwei Stunden", Snooze("delay", timedelta(hours=2))),
        ("in zwölf Stunden", Snooze("delay", timedelta(hours=12))),
        ("in 30 Minuten", Snooze("delay", timedelta(minutes=30))),
        ("in 1 Std", Snooze("delay", timedelta(hours=1))),
        ("in 2 Std.", Snooze("delay", timedelta(hours=2))),
        ("in einer halben Stunde", Snooze("delay", timedelta(minutes=30))),
        ("Erinnern Sie mich bitte in 2 Stunden", Snooze("delay", timedelta(hours=2))),
        ("in 2 hours", Snooze("delay", timedelta(hours=2))),
        ("in an hour", Snooze("delay", timedelta(hours=1))),
        ("in one hour", Snooze("delay", timedelta(hours=1))),
        ("in 30 minutes", Snooze("delay", timedelta(minutes=30))),
        ("in 45 min", Snooze("delay", timedelta(minutes=45))),
        ("in 2h", Snooze("delay", timedelta(hours=2))),
        ("remind me in 3 hours", Snooze("delay", timedelta(hours=3))),
        ("in 5 Minuten", Snooze("delay", timedelta(minutes=5))),
        ("in 7 Tagen", Snooze("delay", timedelta(days=7))),
        ("in einer Woche", Snooze("delay", timedelta(days=7))),
    ],
)
def test_snooze_phrases_are_understood(text: str, expected: Snooze) -> None:
    assert parse_snooze(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "pause",
        "Pause",
        "2",
        "",
        "bitte",
        "ich lerne morgen",
        "morgenmuffel",
        "übermorgen",
        "morgen früh um 8 will ich Urlaub",
        "später vielleicht mal Lust",
        "was ist später dran?",
        "nächste Frage",
        "in 4 Minuten",  # too short to be worth a snooze
        "in 1 minute",
        "in 8 Tagen",  # longer than a week is a vacation
        "in 2 Wochen",
        "in 1,5 Stunden",
        "in Stunden",
        "in 2",
        "2 Stunden",
        "Urlaub bis 3.1.",
        "2 Wochen Pause",
    ],
)
def test_anything_but_a_snooze_phrase_is_not_a_snooze(text: str) -> None:
    assert parse_snooze(text) is None


@pytest.mark.parametrize(
    ("text", "now", "expected"),
    [
        ("in 2 Stunden", berlin(2026, 11, 25, 10, 0), berlin(2026, 11, 25, 12, 0)),
        ("in 2 Stunden", berlin(2026, 11, 25, 17, 0), berlin(2026, 11, 26, 7, 30)),  # 19:00 is quiet
        ("in 2 Stunden", berlin(2026, 11, 27, 17, 0), berlin(2026, 11, 30, 7, 30)),  # Friday: Monday
        ("in 30 Minuten", berlin(2026, 11, 25, 17, 0), berlin(2026, 11, 25, 17, 30)),
        ("später", berlin(2026, 11, 25, 10, 0), berlin(2026, 11, 25, 12, 0)),
        ("later", berlin(2026, 11, 25, 16, 30), berlin(2026, 11, 26, 7, 30)),
        ("in 3 Tagen", berlin(2026, 11, 25, 10, 0), berlin(2026, 11, 30, 7, 30)),  # a Saturday
        ("morgen", berlin(2026, 11, 25, 10, 0), berlin(2026, 11, 26, 9, 0)),
        ("morgen", berlin(2026, 11, 27, 10, 0), berlin(2026, 11, 30, 9, 0)),  # Friday: Monday
        ("morgen", berlin(2026, 11, 28, 10, 0), berlin(2026, 11, 30, 9, 0)),  # Saturday: Monday
        ("morgen", berlin(2026, 11, 25, 0, 30), berlin(2026, 11, 26, 9, 0)),  # just after midnight
        ("morgen", berlin(2026, 12, 24, 10, 0), berlin(2026, 12, 28, 9, 0)),  # over Christmas
        ("nächste Woche", berlin(2026, 11, 25, 10, 0), berlin(2026, 11, 30, 9, 0)),
        ("nächste Woche", berlin(2026, 11, 29, 10, 0), berlin(2026, 11, 30, 9, 0)),  # on a Sunday
        ("nächste Woche", berlin(2026, 11, 30, 10, 0), berlin(2026, 12, 7, 9, 0)),  # on a Monday
        ("nächste Woche", berlin(2027, 3, 24, 10, 0), berlin(2027, 3, 30, 9, 0)),  # Ostermontag
    ],
)
def test_snoozes_land_on_working_hours(text: str, now: datetime, expected: datetime) -> None:
    snooze = parse_snooze(text)
    assert snooze is not None
    until = snooze_until(snooze, now, AT_NINE, calendar_for("HE"), EVENINGS)
    assert until == expected
    assert until.tzinfo is UTC


def test_tomorrow_ignores_the_learners_push_days() -> None:
    mondays = PushPrefs(time(9, 0), frozenset({0}))
    until = snooze_until(Snooze("tomorrow"), berlin(2026, 11, 25, 10, 0), mondays, calendar_for("HE"), EVENINGS)
    assert until == berlin(2026, 11, 26, 9, 0)


def test_next_week_after_easter_is_tuesday_at_push_time_in_summer_time() -> None:
    until = snooze_until(Snooze("next_week"), berlin(2027, 3, 24, 10, 0), AT_NINE, calendar_for("BE"), EVENINGS)
    assert until == datetime(2027, 3, 30, 7, 0, tzinfo=UTC)


def test_tomorrow_respects_quiet_hours_and_the_learners_time_zone() -> None:
    late_in_lisbon = PushPrefs(time(21, 0), frozenset(range(5)), tz="Europe/Lisbon")
    until = snooze_until(Snooze("tomorrow"), berlin(2026, 11, 25, 10, 0), late_in_lisbon, calendar_for("HE"), EVENINGS)
    assert until == datetime(2026, 11, 26, 7, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("snooze", "expected"),
    [
        (Snooze("later"), berlin(2027, 1, 4, 7, 30)),
        (Snooze("delay", timedelta(hours=1)), berlin(2027, 1, 4, 7, 30)),
        (Snooze("tomorrow"), berlin(2027, 1, 4, 9, 0)),
        (Snooze("next_week"), berlin(2027, 1, 4, 9, 0)),
    ],
)
def test_snoozes_wait_for_the_end_of_a_vacation(snooze: Snooze, expected: datetime) -> None:
    now = berlin(2026, 12, 21, 10, 0)
    until = snooze_until(snooze, now, AT_NINE, calendar_for("HE"), EVENINGS, vacation_until=date(2027, 1, 3))
    assert until == expected


def test_a_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        snooze_until(Snooze("tomorrow"), datetime(2026, 11, 25, 10, 0), AT_NINE, calendar_for("HE"), EVENINGS)  # noqa: DTZ001


@pytest.mark.parametrize(
    ("text", "until"),
    [
        ("Urlaub bis 3.1.", date(2027, 1, 3)),
        ("urlaub bis 03.01.2027", date(2027, 1, 3)),
        ("Urlaub bis 3.1.27", date(2027, 1, 3)),
        ("Urlaub bis 3.1", date(2027, 1, 3)),
        ("Urlaub bis zum 3.1.", date(2027, 1, 3)),
        ("Urlaub bis 3. Januar", date(2027, 1, 3)),
        ("ich bin im Urlaub bis 15.8.", date(2027, 8, 15)),
        ("Ich bin bis zum 6.1. im Urlaub", date(2027, 1, 6)),
        ("Pause bis 3.1.", date(2027, 1, 3)),
        ("Urlaub bis 20.12.", date(2026, 12, 20)),  # today
        ("Urlaub bis 21.12.", date(2026, 12, 21)),
        ("Urlaub bis 19.12.", date(2027, 12, 19)),  # the next 19 December
        ("bis 3.1. keine Nachrichten", date(2027, 1, 3)),
        ("Bitte keine Nachrichten bis 3.1.", date(2027, 1, 3)),
        ("2 Wochen Pause", date(2027, 1, 2)),  # pushes resume on 2027-01-03, two weeks from today
        ("zwei Wochen Pause", date(2027, 1, 2)),
        ("Pause für 2 Wochen", date(2027, 1, 2)),
        ("Ich mache zwei Wochen Pause", date(2027, 1, 2)),
        ("3 Tage Pause", date(2026, 12, 22)),
        ("Pause 10 Tage", date(2026, 12, 29)),
        ("1 Monat Pause", date(2027, 1, 19)),
        ("einen Monat Pause", date(2027, 1, 19)),
        ("12 Monate Pause", date(2027, 12, 19)),
        ("52 Wochen Pause", date(2027, 12, 18)),
        ("vacation until 3.1.", date(2027, 1, 3)),
        ("vacation until 2027-01-03", date(2027, 1, 3)),
        ("on leave until 2027-01-03", date(2027, 1, 3)),
        ("I'm on vacation until 2027-01-03", date(2027, 1, 3)),
        ("holiday until 3 Jan", date(2027, 1, 3)),
        ("pause for 2 weeks", date(2027, 1, 2)),
        ("2 weeks pause", date(2027, 1, 2)),
        ("a week off", date(2026, 12, 26)),
        ("no messages for 3 days", date(2026, 12, 22)),
    ],
)
def test_vacation_phrases_give_the_last_day_of_the_pause(text: str, until: date) -> None:
    assert parse_vacation(text, TODAY) == Vacation(until)


@pytest.mark.parametrize(
    ("today", "text", "until"),
    [
        (date(2027, 1, 31), "1 Monat Pause", date(2027, 2, 27)),  # resumes on 28 February
        (date(2027, 3, 31), "1 Monat Pause", date(2027, 4, 29)),
        (date(2027, 11, 15), "2 Monate Pause", date(2028, 1, 14)),
        (date(2027, 3, 1), "Urlaub bis 29.2.", date(2028, 2, 29)),  # the next 29 February
    ],
)
def test_months_and_dates_follow_the_calendar(today: date, text: str, until: date) -> None:
    assert parse_vacation(text, today) == Vacation(until)


@pytest.mark.parametrize(
    "text",
    [
        "pause",
        "Pause",
        "Urlaub",
        "morgen",
        "später",
        "bis 3.1.",
        "Urlaub bis 31.2.",  # no such day
        "Urlaub bis 29.2.",  # not before 2028, more than a year away
        "Urlaub bis 3.13.",
        "Urlaub bis 1.1.2026",  # in the past
        "Urlaub bis 19.12.2026",
        "Urlaub bis 20.12.2027",  # more than a year
        "vacation until 2030-01-01",
        "53 Wochen Pause",
        "13 Monate Pause",
        "400 Tage Pause",
        "0 Tage Pause",
        "Urlaub vom 1.1. bis 3.1.",
        "ich hatte Urlaub bis 3.1.",
        "Wie viele Tage Pause habe ich?",
        "2 Wochen",
    ],
)
def test_anything_but_a_vacation_phrase_is_not_a_vacation(text: str) -> None:
    assert parse_vacation(text, TODAY) is None


def test_the_first_push_after_urlaub_bis_3_1_is_on_monday_4_january() -> None:
    vacation = parse_vacation("Urlaub bis 3.1.", TODAY)
    assert vacation == Vacation(date(2027, 1, 3))
    assert calendar_for("HE").is_holiday(date(2027, 1, 1))
    first = next_push(berlin(2026, 12, 20, 10, 0), AT_NINE, calendar_for("HE"), EVENINGS, vacation_until=vacation.until)
    assert first == berlin(2027, 1, 4, 9, 0)
