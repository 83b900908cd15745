"""Reading "später", "in 2 Stunden", "Urlaub bis 3.1." and their English twins, and turning
them into the moment the next push may go out.

Both parsers are strict: the whole message has to be a snooze or vacation phrase, so that
an answer that merely mentions "morgen" is never taken for one. A bare "pause" is the
plain pause command and none of our business here.
"""

from __future__ import annotations

import calendar as monthcal
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from campusbot.core.calendar import WEEKDAYS, PushPrefs, QuietHours, WorkCalendar, next_allowed, next_push
from campusbot.core.textmatch import MAX_INPUT_CHARS, normalize

SnoozeKind = Literal["later", "tomorrow", "next_week", "delay"]

LATER = timedelta(hours=2)
MIN_DELAY = timedelta(minutes=5)
MAX_DELAY = timedelta(days=7)
MAX_VACATION_MONTHS = 12

_NUMBER_WORDS = {
    "ein": 1, "eins": 1, "eine": 1, "einer": 1, "einem": 1, "einen": 1, "zwei": 2, "drei": 3, "vier": 4,
    "fuenf": 5, "funf": 5, "sechs": 6, "sieben": 7, "acht": 8, "neun": 9, "zehn": 10, "elf": 11, "zwoelf": 12, "zwolf": 12,
    "a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8,
    "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
}  # fmt: skip
_NUMBER_WORD = "(?:" + "|".join(sorted(_NUMBER_WORDS, key=len, reverse=True)) + ")"
_NUMBER = rf"(?P<n>\d{{1,4}}|{_NUMBER_WORD})"


def _number(said: str) -> int:
    return int(said) if said.isdigit() else _NUMBER_WORDS[said]


# --- snoozes -------------------------------------------------------------------------------------

_DELAY_UNITS = {
    "min": timedelta(minutes=1), "mins": timedelta(minutes=1), "minute": timedelta(minutes=1),
    "minuten": timedelta(minutes=1), "minutes": timedelta(minutes=1),
    "h": timedelta(hours=1), "std": timedelta(hours=1), "stunde": timedelta(hours=1), "stunden": timedelta(hours=1),
    "hr": timedelta(hours=1), "hrs": timedelta(hours=1), "hour": timedelta(hours=1), "hours": timedelta(hours=1),
    "tag": timedelta(days=1), "tage": timedelta(days=1), "tagen": timedelta(days=1), "day": timedelta(days=1),
    "days": timedelta(days=1),
    "woche": timedelta(weeks=1), "wochen": timedelta(weeks=1), "week": timedelta(weeks=1), "weeks": timedelta(weeks=1),
}  # fmt: skip
# "in 2h" and "in 30min" come without a space, number words never do.
_DELAY = re.compile(rf"in (?:(?P<n>\d{{1,4}}) ?|(?P<word>{_NUMBER_WORD}) )(?P<unit>{'|'.join(_DELAY_UNITS)})")
_FIXED_DELAYS = {
    "in einer halben stunde": timedelta(minutes=30), "in einer halbe stunde": timedelta(minutes=30),
    "in half an hour": timedelta(minutes=30), "in einer viertelstunde": timedelta(minutes=15),
}  # fmt: skip
_PHRASES: dict[str, SnoozeKind] = {
    "spaeter": "later", "spater": "later", "nachher": "later", "later": "later",
    "morgen": "tomorrow", "tomorrow": "tomorrow",
    "naechste woche": "next_week", "nachste woche": "next_week", "kommende woche": "next_week",
    "in der naechsten woche": "next_week", "in der kommenden woche": "next_week", "next week": "next_week",
}  # fmt: skip
# Politeness and "remind me" around the phrase itself; matched on normalised text, whole words only.
_SNOOZE_LEADING = ("bitte", "please", "lieber", "erinnern sie mich", "erinnere mich", "erinner mich", "remind me")
_SNOOZE_TRAILING = ("bitte", "please", "wieder", "again", "nochmal", "noch mal", "erneut", "daran", "dran")


@dataclass(frozen=True, slots=True)
class Snooze:
    kind: SnoozeKind
    delay: timedelta = timedelta(0)  # only for kind "delay"


def parse_snooze(text: str) -> Snooze | None:
    """Read "später", "morgen", "nächste Woche", "in 2 Stunden" (or English); None for anything else."""
    said = _strip(normalize(text), _SNOOZE_LEADING, _SNOOZE_TRAILING)
    if said in _PHRASES:
        return Snooze(_PHRASES[said])
    if said in _FIXED_DELAYS:
        return Snooze("delay", _FIXED_DELAYS[said])
    if match := _DELAY.fullmatch(said):
        delay = _number(match["n"] or match["word"]) * _DELAY_UNITS[match["unit"]]
        if MIN_DELAY <= delay <= MAX_DELAY:
            return Snooze("delay", delay)
    return None


def snooze_until(
    snooze: Snooze,
    now: datetime,
    prefs: PushPrefs,
    calendar: WorkCalendar,
    quiet: QuietHours,
    *,
    vacation_until: date | None = None,
) -> datetime:
    """When a snoozed push goes out, in UTC.

    "later" and delays land at that moment unless it is quiet, a day off or vacation; "tomorrow"
    and "next week" land at the push time on the next working day (of next week), whatever the
    learner's usual push days are.
    """
    if now.tzinfo is None:
        raise ValueError(f"an aware datetime is needed, got {now.isoformat()}")
    if snooze.kind == "later":
        return next_allowed(now + LATER, prefs, calendar, quiet, vacation_until=vacation_until)
    if snooze.kind == "delay":
        return next_allowed(now + snooze.delay, prefs, calendar, quiet, vacation_until=vacation_until)
    zone = ZoneInfo(prefs.tz)
    today = now.astimezone(zone).date()
    sunday = today + timedelta(days=6 - today.weekday())
    last_skipped = today if snooze.kind == "tomorrow" else sunday
    after = datetime.combine(last_skipped, time.max, tzinfo=zone)
    any_weekday = PushPrefs(prefs.time, WEEKDAYS, prefs.tz)
    return next_push(after, any_weekday, calendar, quiet, vacation_until=vacation_until)


# --- vacations -----------------------------------------------------------------------------------

_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"})
_MONTHS = {
    "januar": 1, "january": 1, "jan": 1, "februar": 2, "february": 2, "feb": 2, "maerz": 3, "marz": 3, "march": 3,
    "mar": 3, "april": 4, "apr": 4, "mai": 5, "may": 5, "juni": 6, "june": 6, "jun": 6, "juli": 7, "july": 7,
    "jul": 7, "august": 8, "aug": 8, "september": 9, "sept": 9, "sep": 9, "oktober": 10, "october": 10, "okt": 10,
    "oct": 10, "november": 11, "nov": 11, "dezember": 12, "december": 12, "dez": 12, "dec": 12,
}  # fmt: skip
# Dates are read from the raw text: normalising turns "3.1." into "3 1".
_DATE = re.compile(
    r"(?<![\d.])(?P<iy>\d{4})-(?P<im>\d{1,2})-(?P<id>\d{1,2})(?![\d])"
    r"|(?<![\d.])(?P<dd>\d{1,2})\.\s?(?P<dm>\d{1,2})(?:\.(?P<dy>\d{4}|\d{2})?)?(?![\d])"
    rf"|(?<![\d.])(?P<nd>\d{{1,2}})\.?\s*(?P<nm>{'|'.join(sorted(_MONTHS, key=len, reverse=True))})\b\.?(?:\s*(?P<ny>\d{{4}}))?(?![\d])"
)
_DATE_MARK = "zzdatumzz"

_UNITS = "(?P<unit>tag|tage|tagen|woche|wochen|monat|monate|monaten|day|days|week|weeks|month|months)"
_DUR = f"{_NUMBER} {_UNITS}"
_D = _DATE_MARK
_BIS = "bis(?: zum)?(?: einschliesslich| inklusive| inkl)?"
_UNTIL = "(?:until|till|til|through|thru)"
_KW_DE = "(?:urlaub|pause|ferien|auszeit|abwesend|nicht da|weg|pausieren)"
_KW_EN = "(?:vacation|holiday|holidays|leave|pause|break|away|off|out of office)"
_QUIET_DE = "keine (?:nachrichten|erinnerungen|benachrichtigungen|push nachrichten)(?: mehr)?"
_QUIET_EN = "no (?:messages|reminders|notifications)"
_I_DE = "(?:ich bin |ich habe |ich mache |ich nehme )?"
_I_EN = "(?:i am |i m |im |i ll be |i will be |i m taking |i am taking |i ll take |i will take |taking |take )?"
_UNTIL_TEMPLATES = [
    re.compile(p)
    for p in (
        rf"{_I_DE}(?:im |in |auf )?{_KW_DE} {_BIS} {_D}",
        rf"{_I_DE}{_BIS} {_D} (?:im |in )?{_KW_DE}",
        rf"{_BIS} {_D} {_QUIET_DE}",
        rf"{_QUIET_DE} {_BIS} {_D}",
        rf"{_I_EN}(?:on |in )?(?:a )?{_KW_EN} {_UNTIL} {_D}",
        rf"{_QUIET_EN} {_UNTIL} {_D}",
        rf"{_UNTIL} {_D} {_QUIET_EN}",
    )
]
_DURATION_TEMPLATES = [
    re.compile(p)
    for p in (
        rf"{_I_DE}(?:fuer )?{_DUR} (?:lang )?(?:im |in )?{_KW_DE}",
        rf"{_I_DE}{_KW_DE} (?:fuer )?{_DUR}",
        rf"(?:fuer )?{_DUR} {_QUIET_DE}",
        rf"{_QUIET_DE} (?:fuer )?{_DUR}",
        rf"{_I_EN}(?:a )?{_DUR} (?:of )?{_KW_EN}",
        rf"{_I_EN}(?:on |in )?(?:a )?{_KW_EN} (?:for )?{_DUR}",
        rf"{_QUIET_EN} (?:for )?{_DUR}",
    )
]
_VACATION_LEADING = ("bitte", "please")
_VACATION_TRAILING = ("bitte", "please", "danke", "thanks")


@dataclass(frozen=True, slots=True)
class Vacation:
    until: date  # the last day of the pause, inclusive


def parse_vacation(text: str, today: date) -> Vacation | None:
    """Read "Urlaub bis 3.1.", "2 Wochen Pause", "on leave until 2027-01-03" and the like; None otherwise.

    A date without a year is the next such date on or after ``today``. "N weeks" ends the day before
    ``today`` + N weeks, when pushes resume; months keep the day of month where it exists. Pauses of
    more than a year, dates in the past and dates that do not exist give None.
    """
    dates: list[tuple[int | None, int, int]] = []

    def mark(match: re.Match[str]) -> str:
        if match["iy"]:
            dates.append((int(match["iy"]), int(match["im"]), int(match["id"])))
        elif match["dd"]:
            year = match["dy"]
            dates.append((None if year is None else int(year) + (2000 if len(year) == 2 else 0), int(match["dm"]), int(match["dd"])))
        else:
            dates.append((int(match["ny"]) if match["ny"] else None, _MONTHS[match["nm"]], int(match["nd"])))
        return f" {_DATE_MARK} "

    prepared = _DATE.sub(mark, text[:MAX_INPUT_CHARS].casefold().translate(_UMLAUTS))
    said = _strip(normalize(prepared), _VACATION_LEADING, _VACATION_TRAILING)
    if len(dates) == 1 and said.count(_DATE_MARK) == 1 and any(t.fullmatch(said) for t in _UNTIL_TEMPLATES):
        until = _resolve_date(*dates[0], today=today)
    elif not dates and (match := next((m for t in _DURATION_TEMPLATES if (m := t.fullmatch(said))), None)):
        until = _pause_end(today, _number(match["n"]), match["unit"])
    else:
        return None
    if until is None or not today <= until < _add_months(today, MAX_VACATION_MONTHS):
        return None
    return Vacation(until)


def _resolve_date(year: int | None, month: int, day: int, *, today: date) -> date | None:
    for candidate_year in (today.year, today.year + 1) if year is None else (year,):
        try:
            candidate = date(candidate_year, month, day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    return None


def _pause_end(today: date, count: int, unit: str) -> date | None:
    if count < 1:
        return None
    if unit.startswith(("tag", "day")):
        resume = today + timedelta(days=count)
    elif unit.startswith(("woche", "week")):
        resume = today + timedelta(weeks=count)
    elif count > MAX_VACATION_MONTHS:
        return None
    else:
        resume = _add_months(today, count)
    return resume - timedelta(days=1)


def _add_months(day: date, months: int) -> date:
    """The same day of the month ``months`` later, or that month's last day if it is shorter."""
    year, month = divmod(day.month - 1 + months, 12)
    year += day.year
    return date(year, month + 1, min(day.day, monthcal.monthrange(year, month + 1)[1]))


def _strip(said: str, leading: tuple[str, ...], trailing: tuple[str, ...]) -> str:
    changed = True
    while changed:
        changed = False
        for phrase in leading:
            if said.startswith(phrase + " "):
                said, changed = said[len(phrase) + 1 :], True
        for phrase in trailing:
            if said.endswith(" " + phrase):
                said, changed = said[: -len(phrase) - 1], True
    return said
