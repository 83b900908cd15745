"""A tutorial's calendar file reads back as the same event, in Berlin time, with a reminder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Alarm, Calendar, Event

from campusbot.content.catalog import Catalog
from campusbot.content.models import Tutorial
from campusbot.core.ical import tutorial_ics

NOW = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)


@pytest.fixture
def tutorial(catalog: Catalog) -> Tutorial:
    return next(t for t in catalog.tutorials if t.module == "ki-in-der-verwaltung")


def only_event(ics: bytes) -> tuple[Calendar, Event]:
    calendar = Calendar.from_ical(ics)
    [event] = calendar.events
    return calendar, event


def test_calendar_header_and_event_fields(tutorial: Tutorial) -> None:
    calendar, event = only_event(tutorial_ics(tutorial, "de", NOW))
    assert str(calendar["PRODID"]) == "-//campusbot//tutorials//DE"
    assert str(calendar["VERSION"]) == "2.0"
    assert str(calendar["METHOD"]) == "PUBLISH"
    assert str(event["UID"]) == f"{tutorial.id}@campusbot"
    assert event.DTSTAMP == NOW
    assert str(event["SUMMARY"]) == tutorial.title.de
    assert str(event["DESCRIPTION"]) == f"{tutorial.description.de}\n\n{tutorial.join_url}"
    assert str(event["LOCATION"]) == tutorial.join_url
    assert str(event["URL"]) == tutorial.join_url


def test_start_and_end_are_berlin_time_with_a_timezone_definition(tutorial: Tutorial) -> None:
    calendar, event = only_event(tutorial_ics(tutorial, "de", NOW))
    assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
    assert event["DTEND"].params["TZID"] == "Europe/Berlin"
    start, end = event.DTSTART, event.DTEND
    assert isinstance(start, datetime)
    assert isinstance(end, datetime)
    assert start.astimezone(UTC) == tutorial.starts_at
    assert end - start == timedelta(minutes=tutorial.minutes)
    assert [tz.tz_name for tz in calendar.timezones] == ["Europe/Berlin"]
    assert calendar.get_missing_tzids() == set()


def test_winter_and_summer_tutorials_keep_their_moment(catalog: Catalog) -> None:
    offsets = set()
    for tutorial in catalog.tutorials:
        _, event = only_event(tutorial_ics(tutorial, "en", NOW))
        start = event.DTSTART
        assert isinstance(start, datetime)
        assert start.astimezone(UTC) == tutorial.starts_at
        offsets.add(start.utcoffset())
    assert offsets == {timedelta(hours=1), timedelta(hours=2)}


def test_reminder_pops_up_fifteen_minutes_before(tutorial: Tutorial) -> None:
    _, event = only_event(tutorial_ics(tutorial, "de", NOW))
    [alarm] = event.walk("VALARM")
    assert isinstance(alarm, Alarm)
    assert str(alarm["ACTION"]) == "DISPLAY"
    trigger = alarm.TRIGGER
    assert trigger == timedelta(minutes=-15)
    assert str(alarm["DESCRIPTION"]) == tutorial.title.de


def test_english_file_uses_english_texts(tutorial: Tutorial) -> None:
    _, event = only_event(tutorial_ics(tutorial, "en", NOW))
    assert str(event["SUMMARY"]) == tutorial.title.en
    assert str(event["DESCRIPTION"]).startswith(tutorial.description.en)


def test_file_is_crlf_and_starts_with_the_calendar(tutorial: Tutorial) -> None:
    ics = tutorial_ics(tutorial, "de", NOW)
    assert ics.startswith(b"BEGIN:VCALENDAR\r\n")
    assert ics.endswith(b"END:VCALENDAR\r\n")
    assert ics.count(b"\n") == ics.count(b"\r\n")


def test_same_tutorial_gives_the_same_file_and_uid(tutorial: Tutorial) -> None:
    first = tutorial_ics(tutorial, "de", NOW)
    assert first == tutorial_ics(tutorial, "de", NOW)
    later = tutorial_ics(tutorial, "de", NOW + timedelta(days=3))
    assert only_event(later)[1]["UID"] == only_event(first)[1]["UID"]


def test_commas_and_semicolons_survive(tutorial: Tutorial) -> None:
    tricky = tutorial.model_copy(update={"title": tutorial.title.model_copy(update={"de": "Fragen, Antworten; Übungen"})})
    _, event = only_event(tutorial_ics(tricky, "de", NOW))
    assert str(event["SUMMARY"]) == "Fragen, Antworten; Übungen"


def test_naive_now_is_rejected(tutorial: Tutorial) -> None:
    with pytest.raises(ValueError, match="aware"):
        tutorial_ics(tutorial, "de", NOW.replace(tzinfo=None))
