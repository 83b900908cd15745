from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from campusbot.core.calendar import PushPrefs, QuietHours, WorkCalendar, calendar_for, next_allowed, next_push

BERLIN = ZoneInfo("Europe/Berlin")
EVENINGS = QuietHours(time(18, 0), time(7, 30))
WEEKDAYS = frozenset(range(5))
EVERY_DAY = frozenset(range(7))
AT_NINE = PushPrefs(time(9, 0), WEEKDAYS)


def berlin(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def utc(year: int, month: int, day: int, hour: int, minute: int) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def pushes(after: datetime, prefs: PushPrefs, calendar: WorkCalendar, count: int) -> list[datetime]:
    found = []
    for _ in range(count):
        after = next_push(after, prefs, calendar, EVENINGS)
        found.append(after)
    return found


@pytest.mark.parametrize(
    ("quiet", "local", "expected"),
    [
        (EVENINGS, time(17, 59), False),
        (EVENINGS, time(18, 0), True),
        (EVENINGS, time(23, 59), True),
        (EVENINGS, time(0, 0), True),
        (EVENINGS, time(7, 29), True),
        (EVENINGS, time(7, 30), False),
        (EVENINGS, time(12, 0), False),
        (QuietHours(time(12, 0), time(13, 0)), time(12, 30), True),
        (QuietHours(time(12, 0), time(13, 0)), time(13, 0), False),
        (QuietHours(time(12, 0), time(13, 0)), time(11, 59), False),
        (QuietHours(time(0, 0), time(0, 0)), time(3, 0), False),
    ],
)
def test_quiet_hours_contain_their_start_but_not_their_end(quiet: QuietHours, local: time, expected: bool) -> None:
    assert quiet.contains(local) is expected


@pytest.mark.parametrize(
    ("subdivision", "day", "name"),
    [
        ("HE", date(2027, 5, 27), "Fronleichnam"),
        ("BE", date(2027, 5, 27), None),
        ("BE", date(2027, 3, 8), "Frauentag"),
        ("HE", date(2027, 3, 8), None),
        ("BY", date(2027, 1, 6), "Heilige Drei Könige"),
        ("HE", date(2027, 1, 6), None),
        (None, date(2027, 1, 1), "Neujahr"),
        (None, date(2026, 10, 3), "Tag der Deutschen Einheit"),
        (None, date(2027, 5, 27), None),
        ("HE", date(2027, 5, 26), None),
    ],
)
def test_holidays_are_those_of_the_learners_state_with_german_names(subdivision: str | None, day: date, name: str | None) -> None:
    calendar = WorkCalendar(subdivision)
    assert calendar.holiday_name(day) == name
    assert calendar.is_holiday(day) is (name is not None)


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (date(2027, 5, 26), True),  # Wednesday
        (date(2027, 5, 27), False),  # Fronleichnam in Hessen
        (date(2027, 5, 29), False),  # Saturday
        (date(2027, 5, 30), False),  # Sunday
        (date(2027, 5, 31), True),  # Monday
        (date(2026, 12, 25), False),  # Christmas Day, a Friday
        (date(2030, 6, 20), False),  # Fronleichnam in a year nobody asked for before
    ],
)
def test_working_days_are_weekdays_without_holidays(day: date, expected: bool) -> None:
    assert calendar_for("HE").is_working_day(day) is expected


def test_calendars_are_shared_per_state() -> None:
    assert calendar_for("HE") is calendar_for("HE")
    assert calendar_for("HE") is not calendar_for("BE")
    assert calendar_for(None) is calendar_for(None)


@pytest.mark.parametrize("spelling", ["he", " HE ", "DE-HE", "de-he"])
def test_state_codes_are_read_tolerantly(spelling: str) -> None:
    assert WorkCalendar(spelling).subdivision == "HE"


@pytest.mark.parametrize("subdivision", ["XX", "", "Hesse"])
def test_an_unknown_state_is_refused(subdivision: str) -> None:
    with pytest.raises(ValueError, match="unknown German state"):
        WorkCalendar(subdivision)


def test_daily_pushes_stay_at_nine_local_when_summer_time_ends() -> None:
    # CEST ends on Sunday 2026-10-25: 09:00 is 07:00 UTC before and 08:00 UTC after.
    found = pushes(berlin(2026, 10, 21, 12, 0), PushPrefs(time(9, 0), EVERY_DAY), calendar_for("HE"), 6)
    assert found == [
        utc(2026, 10, 22, 7, 0),
        utc(2026, 10, 23, 7, 0),
        utc(2026, 10, 26, 8, 0),
        utc(2026, 10, 27, 8, 0),
        utc(2026, 10, 28, 8, 0),
        utc(2026, 10, 29, 8, 0),
    ]
    assert all(push.astimezone(BERLIN).time() == time(9, 0) for push in found)
    assert all(push.tzinfo is UTC for push in found)


def test_daily_pushes_stay_at_nine_local_when_summer_time_begins() -> None:
    # CEST begins on Sunday 2027-03-28, between Karfreitag (26th) and Ostermontag (29th).
    found = pushes(berlin(2027, 3, 23, 12, 0), PushPrefs(time(9, 0), EVERY_DAY), calendar_for("BE"), 5)
    assert found == [
        utc(2027, 3, 24, 8, 0),
        utc(2027, 3, 25, 8, 0),
        utc(2027, 3, 30, 7, 0),
        utc(2027, 3, 31, 7, 0),
        utc(2027, 4, 1, 7, 0),
    ]
    assert all(push.astimezone(BERLIN).time() == time(9, 0) for push in found)


@pytest.mark.parametrize(
    ("subdivision", "expected"),
    [
        ("HE", utc(2027, 6, 3, 7, 0)),  # Fronleichnam is a holiday in Hessen: the next Thursday
        ("BE", utc(2027, 5, 27, 7, 0)),  # and a working day in Berlin
        (None, utc(2027, 5, 27, 7, 0)),
    ],
)
def test_thursday_pushes_skip_fronleichnam_only_where_it_is_a_holiday(subdivision: str | None, expected: datetime) -> None:
    thursdays = PushPrefs(time(9, 0), frozenset({3}))
    assert next_push(berlin(2027, 5, 21, 12, 0), thursdays, calendar_for(subdivision), EVENINGS) == expected


@pytest.mark.parametrize(
    ("subdivision", "expected"),
    [
        ("BE", utc(2027, 3, 15, 8, 0)),  # Frauentag is a holiday in Berlin only
        ("HE", utc(2027, 3, 8, 8, 0)),
    ],
)
def test_monday_pushes_skip_frauentag_only_in_berlin(subdivision: str, expected: datetime) -> None:
    mondays = PushPrefs(time(9, 0), frozenset({0}))
    assert next_push(berlin(2027, 3, 5, 12, 0), mondays, calendar_for(subdivision), EVENINGS) == expected


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (berlin(2026, 11, 20, 10, 0), berlin(2026, 11, 23, 9, 0)),  # Friday after the push: Monday
        (berlin(2026, 11, 21, 8, 0), berlin(2026, 11, 23, 9, 0)),  # Saturday
        (berlin(2026, 11, 22, 23, 59), berlin(2026, 11, 23, 9, 0)),  # Sunday night
        (berlin(2026, 11, 23, 8, 59), berlin(2026, 11, 23, 9, 0)),  # Monday before the push: today
        (berlin(2026, 11, 23, 9, 0), berlin(2026, 11, 24, 9, 0)),  # strictly after
        (berlin(2026, 12, 24, 10, 0), berlin(2026, 12, 28, 9, 0)),  # over Christmas and a weekend
    ],
)
def test_weekday_pushes_skip_weekends_and_holidays(after: datetime, expected: datetime) -> None:
    assert next_push(after, AT_NINE, calendar_for("HE"), EVENINGS) == expected


def test_the_moment_after_may_be_given_in_any_time_zone() -> None:
    after = datetime(2026, 11, 23, 2, 0, tzinfo=ZoneInfo("America/New_York"))  # 08:00 in Berlin
    assert next_push(after, AT_NINE, calendar_for("HE"), EVENINGS) == utc(2026, 11, 23, 8, 0)


def test_the_learners_own_time_zone_decides_the_local_time() -> None:
    lisbon = PushPrefs(time(9, 0), WEEKDAYS, tz="Europe/Lisbon")
    assert next_push(utc(2026, 11, 23, 8, 30), lisbon, calendar_for("HE"), EVENINGS) == utc(2026, 11, 23, 9, 0)


@pytest.mark.parametrize("days", [frozenset(), frozenset({5, 6}), frozenset({6})])
def test_push_days_without_a_weekday_fall_back_to_monday_to_friday(days: frozenset[int]) -> None:
    prefs = PushPrefs(time(9, 0), days)
    assert next_push(berlin(2026, 11, 20, 10, 0), prefs, calendar_for("HE"), EVENINGS) == berlin(2026, 11, 23, 9, 0)


def test_weekend_days_among_push_days_are_skipped() -> None:
    prefs = PushPrefs(time(9, 0), frozenset({2, 5, 6}))  # Wednesday, Saturday, Sunday
    assert next_push(berlin(2026, 11, 20, 10, 0), prefs, calendar_for("HE"), EVENINGS) == berlin(2026, 11, 25, 9, 0)


@pytest.mark.parametrize(
    ("push_time", "expected"),
    [
        (time(21, 0), berlin(2026, 11, 24, 7, 30)),
        (time(6, 0), berlin(2026, 11, 24, 7, 30)),
        (time(18, 0), berlin(2026, 11, 24, 7, 30)),
        (time(17, 59), berlin(2026, 11, 23, 17, 59)),
        (time(7, 30), berlin(2026, 11, 24, 7, 30)),
    ],
)
def test_a_push_time_in_quiet_hours_moves_to_their_end(push_time: time, expected: datetime) -> None:
    prefs = PushPrefs(push_time, WEEKDAYS)
    assert next_push(berlin(2026, 11, 23, 12, 0), prefs, calendar_for("HE"), EVENINGS) == expected


def test_pushes_resume_on_the_first_working_day_after_a_vacation() -> None:
    # "Urlaub bis 3.1." on 2026-12-20: the 3rd is a Sunday, and the 1st a holiday anyway.
    assert calendar_for("HE").holiday_name(date(2027, 1, 1)) == "Neujahr"
    first = next_push(berlin(2026, 12, 20, 10, 0), AT_NINE, calendar_for("HE"), EVENINGS, vacation_until=date(2027, 1, 3))
    assert first == utc(2027, 1, 4, 8, 0)


@pytest.mark.parametrize(
    ("vacation_until", "expected"),
    [
        (None, berlin(2026, 11, 24, 9, 0)),
        (date(2026, 11, 20), berlin(2026, 11, 24, 9, 0)),  # over already
        (date(2026, 11, 24), berlin(2026, 11, 25, 9, 0)),  # the last day is still vacation
        (date(2026, 11, 27), berlin(2026, 11, 30, 9, 0)),
    ],
)
def test_no_push_before_the_vacation_is_over(vacation_until: date | None, expected: datetime) -> None:
    after = berlin(2026, 11, 23, 12, 0)
    assert next_push(after, AT_NINE, calendar_for("HE"), EVENINGS, vacation_until=vacation_until) == expected


@pytest.mark.parametrize(
    ("after", "skip_day", "expected"),
    [
        (berlin(2026, 11, 23, 8, 0), date(2026, 11, 23), berlin(2026, 11, 24, 9, 0)),  # already studied today
        (berlin(2026, 11, 23, 8, 0), date(2026, 11, 22), berlin(2026, 11, 23, 9, 0)),
        (berlin(2026, 11, 20, 8, 0), date(2026, 11, 20), berlin(2026, 11, 23, 9, 0)),
    ],
)
def test_a_skipped_day_gets_no_push(after: datetime, skip_day: date, expected: datetime) -> None:
    assert next_push(after, AT_NINE, calendar_for("HE"), EVENINGS, skip_day=skip_day) == expected


class NoWorkingDays(WorkCalendar):
    def is_working_day(self, day: date) -> bool:
        return False


def test_a_calendar_without_working_days_ends_the_search() -> None:
    with pytest.raises(ValueError, match="no push slot"):
        next_push(berlin(2026, 11, 23, 8, 0), AT_NINE, NoWorkingDays(None), EVENINGS)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        next_push(datetime(2026, 11, 23, 8, 0), AT_NINE, calendar_for("HE"), EVENINGS)  # noqa: DTZ001
    with pytest.raises(ValueError, match="aware"):
        next_allowed(datetime(2026, 11, 23, 8, 0), AT_NINE, calendar_for("HE"), EVENINGS)  # noqa: DTZ001


@pytest.mark.parametrize(
    ("push_time", "days", "tz", "message"),
    [
        (time(9, 0), frozenset({7}), "Europe/Berlin", "weekdays"),
        (time(9, 0), frozenset({-1}), "Europe/Berlin", "weekdays"),
        (time(9, 0, tzinfo=UTC), WEEKDAYS, "Europe/Berlin", "tzinfo"),
        (time(9, 0), WEEKDAYS, "Mars/Olympus_Mons", "time zone"),
        (time(9, 0), WEEKDAYS, "../etc/passwd", "time zone"),
    ],
)
def test_impossible_push_preferences_are_refused(push_time: time, days: frozenset[int], tz: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PushPrefs(push_time, days, tz)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (berlin(2026, 11, 25, 12, 0), berlin(2026, 11, 25, 12, 0)),  # Wednesday noon: as asked
        (berlin(2026, 11, 25, 19, 0), berlin(2026, 11, 26, 7, 30)),  # evening: next morning
        (berlin(2026, 11, 25, 5, 0), berlin(2026, 11, 25, 7, 30)),  # early morning: same day
        (berlin(2026, 11, 27, 19, 0), berlin(2026, 11, 30, 7, 30)),  # Friday evening: Monday
        (berlin(2026, 11, 28, 12, 0), berlin(2026, 11, 30, 7, 30)),  # Saturday
        (berlin(2026, 12, 25, 12, 0), berlin(2026, 12, 28, 7, 30)),  # Christmas Day
        (berlin(2026, 11, 25, 17, 59), berlin(2026, 11, 25, 17, 59)),
        (berlin(2026, 11, 25, 7, 30), berlin(2026, 11, 25, 7, 30)),
    ],
)
def test_snoozes_land_outside_quiet_hours_on_working_days(moment: datetime, expected: datetime) -> None:
    allowed = next_allowed(moment, AT_NINE, calendar_for("HE"), EVENINGS)
    assert allowed == expected
    assert allowed.tzinfo is UTC


def test_snoozes_ignore_the_learners_push_days() -> None:
    mondays = PushPrefs(time(9, 0), frozenset({0}))
    assert next_allowed(berlin(2026, 11, 25, 12, 0), mondays, calendar_for("HE"), EVENINGS) == berlin(2026, 11, 25, 12, 0)


@pytest.mark.parametrize(
    ("moment", "vacation_until", "expected"),
    [
        (berlin(2026, 11, 25, 12, 0), date(2026, 11, 27), berlin(2026, 11, 30, 7, 30)),
        (berlin(2026, 11, 25, 12, 0), date(2026, 11, 24), berlin(2026, 11, 25, 12, 0)),
        (berlin(2026, 11, 25, 5, 0), date(2026, 11, 25), berlin(2026, 11, 26, 7, 30)),
    ],
)
def test_snoozes_wait_for_the_end_of_a_vacation(moment: datetime, vacation_until: date, expected: datetime) -> None:
    assert next_allowed(moment, AT_NINE, calendar_for("HE"), EVENINGS, vacation_until=vacation_until) == expected


def test_the_end_of_quiet_hours_follows_the_clock_change() -> None:
    # Friday evening before summer time ends lands on Monday 07:30 CET, which is 06:30 UTC.
    moment = berlin(2026, 10, 23, 20, 0)
    assert next_allowed(moment, AT_NINE, calendar_for("HE"), EVENINGS) == utc(2026, 10, 26, 6, 30)
    assert next_allowed(moment - timedelta(hours=3), AT_NINE, calendar_for("HE"), EVENINGS) == utc(2026, 10, 23, 15, 0)
