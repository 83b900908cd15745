"""Calendar files (iCalendar, RFC 5545) for live tutorials."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from icalendar import Alarm, Calendar, Event

from campusbot.content.models import Tutorial

# Tutorials take place in Germany; calendars show them in Berlin time whatever offset the content used.
BERLIN = ZoneInfo("Europe/Berlin")
PRODID = "-//campusbot//tutorials//DE"
REMINDER_BEFORE = timedelta(minutes=15)


def tutorial_ics(tutorial: Tutorial, lang: str, now: datetime) -> bytes:
    """One tutorial as a calendar file to import, with a reminder 15 minutes before it starts.

    The UID depends on the tutorial only, so a calendar recognises a second import as the
    same event. ``now`` (aware) becomes the DTSTAMP.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("tutorial_ics needs an aware datetime")
    title = tutorial.title.get(lang)
    start = tutorial.starts_at.astimezone(BERLIN)
    end = tutorial.ends_at.astimezone(BERLIN)

    alarm = Alarm()
    alarm.add("action", "DISPLAY")
    alarm.add("trigger", -REMINDER_BEFORE)
    alarm.add("description", title)

    event = Event()
    event.add("uid", f"{tutorial.id}@campusbot")
    event.add("dtstamp", now.astimezone(UTC))
    event.add("dtstart", start)
    event.add("dtend", end)
    event.add("summary", title)
    event.add("description", f"{tutorial.description.get(lang)}\n\n{tutorial.join_url}")
    event.add("location", tutorial.join_url)
    event.add("url", tutorial.join_url)
    event.add_component(alarm)

    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("method", "PUBLISH")
    calendar.add_component(event)
    # The VTIMEZONE covers the tutorial's year only: both DST rules, without 70 years of history.
    calendar.add_missing_timezones(first_date=date(start.year, 1, 1), last_date=date(end.year + 1, 1, 1))
    ics: bytes = calendar.to_ical()  # icalendar leaves to_ical unannotated
    return ics
