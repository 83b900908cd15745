"""When a push may go out: the learner's push days and time, the working days of their
German state, quiet hours and vacations, all in local time and correct across DST."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

WEEKDAYS = frozenset(range(5))  # Monday .. Friday
MAX_SEARCH_DAYS = 400
_ONE_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class PushPrefs:
    """When a learner wants pushes: local time of day, weekdays (0=Monday .. 6=Sunday), time zone."""

    time: time
    days: frozenset[int]
    tz: str = "Europe/Berlin"

    def __post_init__(self) -> None:
        if self.time.tzinfo is not None:
            raise ValueError("PushPrefs.time is a local wall-clock time and takes no tzinfo")
        if not self.days <= frozenset(range(7)):
            raise ValueError(f"weekdays run from 0 (Monday) to 6 (Sunday), got {sorted(self.days)}")
        _zone(self.tz)


@dataclass(frozen=True, slots=True)
class QuietHours:
    """Local times without pushes; the window wraps midnight when start > end, is empty when start == end."""

    start: time
    end: time

    def __post_init__(self) -> None:
        if self.start.tzinfo is not None or self.end.tzinfo is not None:
            raise ValueError("QuietHours are local wall-clock times and take no tzinfo")

    def contains(self, local: time) -> bool:
        if self.start <= self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end


class WorkCalendar:
    """Working days of one German state (Bundesland).

    ``subdivision`` is the ISO 3166-2 suffix ("HE", "BE", "BY"; "DE-HE" works too),
    ``None`` means national holidays only. Holidays are computed once per year, on first use.
    """

    def __init__(self, subdivision: str | None) -> None:
        self.subdivision = _normalize_subdivision(subdivision)
        try:
            # Building an empty calendar validates the subdivision without computing any year.
            holidays.country_holidays("DE", subdiv=self.subdivision, years=())
        except NotImplementedError as exc:
            raise ValueError(f"unknown German state {subdivision!r}") from exc
        self._names: dict[date, str] = {}
        self._years: set[int] = set()

    def __repr__(self) -> str:
        return f"WorkCalendar({self.subdivision!r})"

    def is_holiday(self, day: date) -> bool:
        if day.year not in self._years:
            self._load(day.year)
        return day in self._names

    def holiday_name(self, day: date) -> str | None:
        if day.year not in self._years:
            self._load(day.year)
        return self._names.get(day)

    def is_working_day(self, day: date) -> bool:
        return day.weekday() < 5 and not self.is_holiday(day)

    def _load(self, year: int) -> None:
        # A plain dict: lookups on the holidays object itself go through its expansion logic.
        year_holidays = holidays.country_holidays("DE", subdiv=self.subdivision, years=year, language="de")
        self._names.update(year_holidays)
        self._years.add(year)


def _normalize_subdivision(subdivision: str | None) -> str | None:
    if subdivision is None:
        return None
    code = subdivision.strip()
    if code[:3].upper() == "DE-":
        code = code[3:]
    if not code:
        # holidays would read an empty code as "no state"; that is spelled None here.
        raise ValueError(f"unknown German state {subdivision!r}")
    # Two-letter codes are case-insensitive for us; longer names ("Augsburg", "Hessen") go through as given.
    return code.upper() if len(code) == 2 else code


@functools.lru_cache(maxsize=64)
def calendar_for(subdivision: str | None) -> WorkCalendar:
    """The shared calendar of one state: its holidays are computed once per process and year."""
    return WorkCalendar(subdivision)


def next_push(
    after: datetime,
    prefs: PushPrefs,
    calendar: WorkCalendar,
    quiet: QuietHours,
    *,
    vacation_until: date | None = None,
    skip_day: date | None = None,
) -> datetime:
    """The first push moment strictly after ``after``, in UTC.

    It is ``prefs.time`` local (or ``quiet.end`` if that time is quiet) on a working day that is one
    of ``prefs.days`` (Monday to Friday if none of them is a weekday), after ``vacation_until``
    (the last day of the vacation) and not ``skip_day`` (a local date).
    """
    push_time = quiet.end if quiet.contains(prefs.time) else prefs.time
    weekdays = prefs.days & WEEKDAYS or WEEKDAYS
    return _first_slot(after, _zone(prefs.tz), push_time, weekdays, calendar, vacation_until, skip_day)


def next_allowed(
    moment: datetime,
    prefs: PushPrefs,
    calendar: WorkCalendar,
    quiet: QuietHours,
    *,
    vacation_until: date | None = None,
) -> datetime:
    """``moment`` in UTC if it is outside quiet hours on a working day after any vacation, else
    the next ``quiet.end`` local on such a day. For snoozes: ignores ``prefs.days``, the learner asked."""
    zone = _zone(prefs.tz)
    local = _aware(moment).astimezone(zone)
    day = local.date()
    if (vacation_until is None or day > vacation_until) and calendar.is_working_day(day) and not quiet.contains(local.time()):
        return moment.astimezone(UTC)
    return _first_slot(moment, zone, quiet.end, WEEKDAYS, calendar, vacation_until, None)


def _first_slot(
    after: datetime,
    zone: ZoneInfo,
    at: time,
    weekdays: frozenset[int],
    calendar: WorkCalendar,
    vacation_until: date | None,
    skip_day: date | None,
) -> datetime:
    # Compare in UTC: aware datetimes sharing one tzinfo compare by wall time, which is wrong in the
    # hour that repeats when summer time ends.
    after_utc = _aware(after).astimezone(UTC)
    day = after_utc.astimezone(zone).date()
    if vacation_until is not None and vacation_until >= day:
        day = vacation_until + _ONE_DAY
    for _ in range(MAX_SEARCH_DAYS):
        if day.weekday() in weekdays and day != skip_day and calendar.is_working_day(day):
            # A wall time that does not exist (spring forward) maps to the same time after the gap's
            # offset, i.e. one hour later; a repeated one (fall back) to its first occurrence.
            candidate = datetime.combine(day, at, tzinfo=zone).astimezone(UTC)
            if candidate > after_utc:
                return candidate
        day += _ONE_DAY
    raise ValueError(f"no push slot within {MAX_SEARCH_DAYS} days after {after.isoformat()}")


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"an aware datetime is needed, got {moment.isoformat()}")
    return moment


def _zone(key: str) -> ZoneInfo:
    try:
        return ZoneInfo(key)  # ZoneInfo keeps its own cache: this is a dict lookup after the first call
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {key!r}") from exc
