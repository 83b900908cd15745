"""The learner's agenda: when the bot comes to them next, and why.

After every turn and every push the agenda is recomputed from the learner's state and
written as due-work rows, only where it changed. Three kinds of rows exist:

- ``push``: the next micro-learning push at the learner's time and days, on working days of
  their state, outside quiet hours and vacations; after an unanswered push one gentle nudge
  a few days later, then pushes back off (one week, doubling up to four).
- ``tutorial``: a live tutorial of a module in the plan: the working day before at push time,
  15 minutes before it starts, and at its end the question whether the learner attended.
- ``mandatory``: a yearly mandatory training: 30, 7 and 1 days before it is due, and the day
  after the due date if it is still open (an HR notice).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from campusbot.content.catalog import Catalog
from campusbot.content.models import Module
from campusbot.core.calendar import PushPrefs, QuietHours, WorkCalendar, calendar_for, next_push
from campusbot.core.messages import LearnerId
from campusbot.core.plan import PlanService
from campusbot.core.state import LearnerState
from campusbot.core.tenants import TenantPolicy

if TYPE_CHECKING:  # ports imports the engine, which imports this module
    from campusbot.core.ports import AgendaKey, Transaction

PUSH = "push"
TUTORIAL = "tutorial"
MANDATORY = "mandatory"
MANDATORY_REMINDER_DAYS = (30, 7, 1)
NUDGE_AFTER = timedelta(days=3)
BACKOFF_FIRST = timedelta(days=7)
BACKOFF_MAX = timedelta(days=28)
TUTORIAL_SOON = timedelta(minutes=15)
KINDS = frozenset({PUSH, TUTORIAL, MANDATORY})


@dataclass(frozen=True, slots=True)
class ScheduleRules:
    """Operator-wide rules (config ``[schedule]``)."""

    quiet: QuietHours = field(default_factory=lambda: QuietHours(time(18, 0), time(7, 30)))
    tz: str = "Europe/Berlin"


def agenda_key(kind: str, ref: str) -> str:
    return f"{kind}|{ref}"


def parse_agenda_key(key: str) -> AgendaKey:
    kind, _, ref = key.partition("|")
    return kind, ref


def parse_time(text: str) -> time:
    hours, _, minutes = text.partition(":")
    return time(int(hours), int(minutes or 0))


class Agenda:
    def __init__(self, catalog: Catalog, plans: PlanService, rules: ScheduleRules | None = None) -> None:
        self._catalog = catalog
        self._plans = plans
        self.rules = rules or ScheduleRules()
        self.local_zone = ZoneInfo(self.rules.tz)

    # -- helpers ---------------------------------------------------------------------------------

    def prefs(self, state: LearnerState) -> PushPrefs:
        return PushPrefs(parse_time(state.push_time), frozenset(state.push_days), self.rules.tz)

    def local_date(self, moment: datetime) -> date:
        return moment.astimezone(self.local_zone).date()

    def at(self, day: date, clock_time: time) -> datetime:
        """A local wall-clock time on a day, in UTC (DST-correct)."""
        return datetime.combine(day, clock_time, tzinfo=self.local_zone).astimezone(UTC)

    def push_time(self, state: LearnerState) -> time:
        wanted = parse_time(state.push_time)
        return self.rules.quiet.end if self.rules.quiet.contains(wanted) else wanted

    def calendar(self, tenant: TenantPolicy) -> WorkCalendar:
        return calendar_for(tenant.subdivision)

    def mandatory_modules(self, tenant: TenantPolicy) -> Iterator[Module]:
        return (m for m in self._catalog.modules if m.mandatory is not None and tenant.requires(m.id))

    # -- what is due when ------------------------------------------------------------------------

    def next_push(self, state: LearnerState, tenant: TenantPolicy, now: datetime) -> datetime | None:
        if state.consent_at is None or not state.plan_accepted or state.pushes_stopped:
            return None
        if state.snoozed_until is not None:
            snoozed = datetime.fromisoformat(state.snoozed_until)
            if snoozed > now:
                return snoozed
        prefs, calendar, quiet = self.prefs(state), self.calendar(tenant), self.rules.quiet
        vacation = date.fromisoformat(state.vacation_until) if state.vacation_until else None
        if state.push_open and state.last_push_at is not None:
            # No stacking: one nudge a few days after an unanswered push, then pushes back off
            # (one week, two, then every four) until the learner answers.
            last = datetime.fromisoformat(state.last_push_at)
            if not state.nudged:
                after = last + NUDGE_AFTER
            else:
                nudged = datetime.fromisoformat(state.nudged_at) if state.nudged_at else last
                after = max(last, nudged) + min(BACKOFF_FIRST * 2**state.backoff, BACKOFF_MAX)
            # The slot at exactly ``after`` counts, but never one at or before now.
            return next_push(max(after - timedelta(seconds=1), now), prefs, calendar, quiet, vacation_until=vacation)
        today = self.local_date(now)
        active_today = state.last_active_at is not None and self.local_date(datetime.fromisoformat(state.last_active_at)) == today
        skip = today if active_today or state.last_unsolicited_on == today.isoformat() else None
        return next_push(now, prefs, calendar, quiet, vacation_until=vacation, skip_day=skip)

    def tutorial_moments(self, state: LearnerState, tenant: TenantPolicy, now: datetime) -> dict[AgendaKey, datetime]:
        moments: dict[AgendaKey, datetime] = {}
        calendar = self.calendar(tenant)
        for tutorial in self._catalog.tutorials:
            module = self._catalog.module(tutorial.module)
            if module is None or tutorial.module not in state.plan or self._plans.is_finished(state, module, self.local_date(now)):
                continue
            soon = tutorial.starts_at - TUTORIAL_SOON
            day = self.local_date(tutorial.starts_at) - timedelta(days=1)
            for _ in range(14):
                if calendar.is_working_day(day):
                    break
                day -= timedelta(days=1)
            day_before = self.at(day, self.push_time(state))
            if now < day_before < soon:
                moments[(TUTORIAL, f"{tutorial.id}:day")] = day_before
            if soon > now:
                moments[(TUTORIAL, f"{tutorial.id}:soon")] = soon
            end = tutorial.starts_at + timedelta(minutes=tutorial.minutes)
            if end > now and not any(t.id in state.attended for t in self._catalog.tutorials_for(module.id)):
                moments[(TUTORIAL, f"{tutorial.id}:after")] = end  # was the learner there? (it confirms the module)
        return moments

    def mandatory_moment(self, state: LearnerState, tenant: TenantPolicy, module: Module, now: datetime) -> datetime | None:
        due = self._plans.mandatory_due(state, module)
        if due is None:
            return None
        calendar = self.calendar(tenant)
        for days in MANDATORY_REMINDER_DAYS:
            day = due - timedelta(days=days)
            for _ in range(14):  # a reminder on a weekend or holiday comes on the working day before
                if calendar.is_working_day(day):
                    break
                day -= timedelta(days=1)
            moment = self.at(day, self.push_time(state))
            if moment > now:
                return moment
        overdue = self.at(due + timedelta(days=1), self.rules.quiet.end)
        return overdue if overdue > now else None

    def desired(
        self, state: LearnerState, tenant: TenantPolicy, now: datetime, kinds: frozenset[str] = KINDS,
    ) -> dict[AgendaKey, datetime]:
        if state.consent_at is None:
            return {}
        wanted: dict[AgendaKey, datetime] = {}
        if PUSH in kinds:
            push = self.next_push(state, tenant, now)
            if push is not None:
                wanted[(PUSH, "")] = push
        if TUTORIAL in kinds and not state.pushes_stopped:
            wanted.update(self.tutorial_moments(state, tenant, now))
        if MANDATORY in kinds:
            for module in self.mandatory_modules(tenant):
                moment = self.mandatory_moment(state, tenant, module, now)
                if moment is not None:
                    wanted[(MANDATORY, module.id)] = moment
        return wanted

    # -- writing it ------------------------------------------------------------------------------

    def plan(
        self, state: LearnerState, tenant: TenantPolicy, now: datetime, *, claimed: AgendaKey | None = None,
    ) -> dict[AgendaKey, datetime | None]:
        """What changed since the last write (None = remove), and remember the new agenda in the
        state. A reminder that is already due stays for the scheduler to claim, except ``claimed``,
        the row being handled: it moves to its next time or goes. Handling a row changes nothing
        that other kinds of rows depend on, so only its own kind is worked out again."""
        kinds = KINDS if claimed is None else frozenset({claimed[0]})
        wanted = self.desired(state, tenant, now, kinds)
        agenda: dict[str, str] = {}
        before: dict[AgendaKey, datetime] = {}
        for text, iso in state.agenda.items():
            key = parse_agenda_key(text)
            if key[0] in kinds:
                before[key] = datetime.fromisoformat(iso)
            else:
                agenda[text] = iso  # another kind: as it was
        changes: dict[AgendaKey, datetime | None] = {}
        kept: set[AgendaKey] = set()
        for key, due in before.items():
            if due <= now and key != claimed and key[0] != PUSH:
                # A reminder that is due already stays for the scheduler's next tick. (A push that
                # is due is moot once the learner is talking to the bot: it moves.)
                agenda[agenda_key(*key)] = due.isoformat()
                kept.add(key)
            elif key not in wanted:
                changes[key] = None
        for key, due in wanted.items():
            if key in kept:
                continue
            agenda[agenda_key(*key)] = due.isoformat()
            if before.get(key) != due or key == claimed:
                changes[key] = due
        if claimed is not None and claimed not in wanted and claimed not in kept:
            changes[claimed] = None
        state.agenda = agenda
        return changes

    def sync(self, tx: Transaction, learner_id: LearnerId, state: LearnerState, tenant: TenantPolicy, now: datetime) -> None:
        """After a turn. Most turns (a check answer, a quiz answer) change nothing the agenda
        depends on: then, while none of its rows is due, it is not worked out again."""
        inputs = self.inputs(state, tenant, now)
        if inputs == state.agenda_inputs and all(datetime.fromisoformat(v) > now for v in state.agenda.values()):
            return
        changes = self.plan(state, tenant, now)
        state.agenda_inputs = inputs
        if changes:
            tx.set_agendas([(learner_id, changes)])

    def inputs(self, state: LearnerState, tenant: TenantPolicy, now: datetime) -> str:
        """Everything in the state (and the day) that the agenda is computed from."""
        today = self.local_date(now)
        active = self.local_date(datetime.fromisoformat(state.last_active_at)) if state.last_active_at else None
        finished = sorted(
            m for m in state.plan
            if (p := state.progress.get(m)) is not None and p.participation_at is not None
        )
        return repr((
            tenant.id, today, active, state.consent_at, state.plan_accepted, state.pushes_stopped, state.snoozed_until,
            state.vacation_until, state.push_time, state.push_days, state.push_open, state.nudged, state.nudged_at,
            state.backoff, state.last_push_at, state.last_unsolicited_on, state.plan, finished,
            sorted(state.mandatory_done.items()), state.enrolled_at, sorted(state.attended),
        ))
