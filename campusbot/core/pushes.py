"""Due work, handled in batches: pushes, nudges, tutorial and mandatory-training reminders.

The scheduler claims due rows; for each, the learner's state decides what (if anything) is
said, the state and the agenda are updated and the messages go to the outbox, all in the
transaction that claimed the rows. A row is handled once: it moves to its next due time or goes.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from campusbot.content.catalog import Catalog
from campusbot.core.agenda import MANDATORY, PUSH, TUTORIAL, Agenda
from campusbot.core.clock import Clock
from campusbot.core.engine import DialogEngine
from campusbot.core.hr_notices import HrNotices
from campusbot.core.messages import LearnerId, Outgoing
from campusbot.core.ports import AgendaKey, DueWork, HrNotice, ScheduledLearner, Transaction
from campusbot.core.state import LearnerState
from campusbot.core.tenants import TenantDirectory, TenantPolicy

log = logging.getLogger(__name__)

HR_MANDATORY_OVERDUE = "mandatory_overdue"
# The first reminder comes 30 days ahead, earlier over weekends and holidays; beyond this the
# training was completed in the meantime.
REMINDER_HORIZON_DAYS = 45


@dataclass(frozen=True, slots=True)
class BatchResult:
    claimed: int
    messages: int
    channels: frozenset[str]
    busy: tuple[int, ...] = ()  # rows of learners busy in a turn elsewhere: left due for the next tick


class PushService:
    def __init__(
        self, catalog: Catalog, engine: DialogEngine, tenants: TenantDirectory, clock: Clock, hr: HrNotices | None = None,
    ) -> None:
        self._hr = hr
        self._catalog = catalog
        self._engine = engine
        self._agenda: Agenda = engine.agenda
        self._tenants = tenants
        self._clock = clock
        self._tutorials = {t.id: t for t in catalog.tutorials}

    def today(self) -> date:
        return self._agenda.local_date(self._clock.now())

    def run_batch(self, tx: Transaction, limit: int, skip: Collection[int] = ()) -> BatchResult:
        """Claim up to ``limit`` due rows (not those in ``skip``) and handle them inside ``tx``."""
        now = self._clock.now()
        works = tx.claim_due(now, limit, skip)
        if not works:
            return BatchResult(0, 0, frozenset())
        learners = tx.scheduled_learners([w.learner_id for w in works])
        reviews = tx.due_reviews([w.learner_id for w in works if w.kind == PUSH], now)
        states: dict[LearnerId, LearnerState] = {}
        outbox: list[tuple[LearnerId, str, str, Outgoing]] = []
        agenda_changes: list[tuple[LearnerId, Mapping[AgendaKey, datetime | None]]] = []
        busy: list[int] = []
        for work in works:
            learner = learners.get(work.learner_id)
            if learner is None:
                busy.append(work.id)  # in a turn on another process: the row stays due for the next tick
                continue
            state = states.setdefault(learner.learner_id, learner.state)
            tenant = self._tenants.get(learner.tenant_id)
            try:
                # A learner no messenger takes messages for (they blocked the bot) gets nothing; their
                # rows move on as if handled. Overdue mandatory trainings still reach HR.
                handle = learner.reachable or work.kind == MANDATORY
                messages = self._handle(tx, work, learner, state, tenant, now, reviews.get(learner.learner_id, [])) if handle else []
            except Exception:
                # One broken learner must not stop everyone else's pushes; the row moves on.
                log.exception("due work %s (%s %s) for learner %s failed", work.id, work.kind, work.ref, work.learner_id)
                messages = []
            if not learner.reachable:
                messages = []
            if messages:
                state.last_unsolicited_on = self._agenda.local_date(now).isoformat()
            outbox += [(learner.learner_id, learner.channel, learner.address, m) for m in messages]
            changes = self._agenda.plan(state, tenant, now, claimed=(work.kind, work.ref))
            if changes:
                agenda_changes.append((learner.learner_id, changes))
        tx.set_agendas(agenda_changes)
        tx.save_states(list(states.items()), now)
        tx.enqueue_many(outbox, now)
        return BatchResult(len(works), len(outbox), frozenset(channel for _, channel, _, _ in outbox), tuple(busy))

    def _handle(
        self, tx: Transaction, work: DueWork, learner: ScheduledLearner, state: LearnerState, tenant: TenantPolicy,
        now: datetime, due_reviews: Sequence[str],
    ) -> list[Outgoing]:
        if work.kind == PUSH:
            return self._push(state, tenant, now, due_reviews)
        if work.kind == TUTORIAL:
            tutorial_id, _, which = work.ref.rpartition(":")
            tutorial = self._tutorials.get(tutorial_id)
            if tutorial is None or tutorial.module not in state.plan or state.pushes_stopped:
                return []
            if which == "after":
                return self._engine.attendance_question(state, tutorial, now)
            if tutorial.starts_at <= now:
                return []
            return self._engine.tutorial_reminder(state, tutorial, now, soon=which == "soon")
        if work.kind == MANDATORY:
            return self._mandatory(tx, work, learner, state, tenant, now)
        log.warning("unknown due work kind %r (row %s)", work.kind, work.id)
        return []

    def _push(self, state: LearnerState, tenant: TenantPolicy, now: datetime, due_reviews: Sequence[str]) -> list[Outgoing]:
        if state.consent_at is None or not state.plan_accepted or state.pushes_stopped:
            return []
        local = now.astimezone(self._agenda.local_zone)
        today = local.date().isoformat()
        # A snoozed push was asked for; any other counts against one unsolicited message a day.
        asked_for = state.snoozed_until is not None and datetime.fromisoformat(state.snoozed_until) <= now
        state.snoozed_until = None
        if self._agenda.rules.quiet.contains(local.time()) or (state.last_unsolicited_on == today and not asked_for):
            return []  # caught up too late in the day, or already written to today: the agenda moves on
        if state.vacation_until is not None and today <= state.vacation_until:
            return []
        if state.push_open and not state.nudged:
            state.nudged, state.nudged_at = True, now.isoformat()
            return self._engine.nudge(state, now)
        messages = self._engine.push(state, now, tenant, due_reviews[0] if due_reviews else None)
        if messages:
            if state.push_open:
                state.backoff += 1  # unanswered after the nudge: the next push comes later still
            state.push_open = True
            state.last_push_at = now.isoformat()
        return messages

    def _mandatory(
        self, tx: Transaction, work: DueWork, learner: ScheduledLearner, state: LearnerState, tenant: TenantPolicy, now: datetime,
    ) -> list[Outgoing]:
        module = self._catalog.module(work.ref)
        if module is None or module.mandatory is None or not tenant.requires(module.id) or state.consent_at is None:
            return []
        due = self._engine.plans.mandatory_due(state, module)
        today = self._agenda.local_date(now)
        if due is None or (due - today).days > REMINDER_HORIZON_DAYS:
            return []  # done for this year in the meantime
        if due < today:
            notice = HrNotice(0, learner.tenant_id, learner.learner_id, HR_MANDATORY_OVERDUE, module.id, due, now)
            if not tx.record_hr_notice(notice):
                return []
            if self._hr is not None:
                data = self._hr.for_overdue(module.id, due, learner.learner_id, state, tenant, now)
                for channel, address, message in self._hr.messages(data, tenant):
                    tx.enqueue(learner.learner_id, channel, address, [message], now)
        if state.pushes_stopped and due >= today:
            return []
        return self._engine.mandatory_reminder(state, module, due, now)
