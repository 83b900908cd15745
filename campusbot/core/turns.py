"""One learner turn = one store transaction: dedupe, state change, outbox."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from campusbot.core.clock import Clock
from campusbot.core.engine import Achievement, DialogEngine, EraseRequested, ExportRequested, Reviewed
from campusbot.core.hr_notices import HrNotices
from campusbot.core.messages import FileMessage, Incoming, LearnerId, Outgoing, TextMessage
from campusbot.core.plan import add_months
from campusbot.core.ports import CertificateIssuer, Identity, OutboxItem, Store, Transaction
from campusbot.core.review import ReviewService
from campusbot.core.state import LearnerState
from campusbot.core.tenants import TenantDirectory
from campusbot.core.texts import Texts

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TurnResult:
    duplicate: bool
    outbox: tuple[OutboxItem, ...] = ()  # the replies, as committed to the outbox

    @property
    def outbox_ids(self) -> tuple[int, ...]:
        return tuple(item.id for item in self.outbox)


def _queued(ids: list[int], channel: str, address: str, messages: list[Outgoing]) -> tuple[OutboxItem, ...]:
    return tuple(OutboxItem(i, channel, address, m, 0) for i, m in zip(ids, messages, strict=True))


class TurnService:
    """Runs the dialog engine inside one transaction per inbound event.

    This is the error boundary of a turn: whatever goes wrong, the learner gets a
    polite answer in their language and the failure is logged with context.
    """

    def __init__(
        self, store: Store, engine: DialogEngine, texts: Texts, clock: Clock, default_lang: str = "de",
        tenants: TenantDirectory | None = None, reviews: ReviewService | None = None, issuer: CertificateIssuer | None = None,
        hr: HrNotices | None = None,
    ) -> None:
        self._store = store
        self._engine = engine
        self._texts = texts
        self._clock = clock
        self._default_lang = default_lang
        self._tenants = tenants or TenantDirectory()
        self._reviews = reviews or ReviewService()
        self._issuer = issuer
        self._hr = hr

    def handle(self, incoming: Incoming) -> TurnResult:
        try:
            return self._handle(incoming)
        except Exception:
            log.exception("turn failed for %s event %s", incoming.channel, incoming.event_id)
            return self._apologise(incoming)

    def _handle(self, incoming: Incoming) -> TurnResult:
        now = self._clock.now()
        with self._store.transaction() as tx:
            if not tx.remember_inbound(incoming.channel, incoming.event_id, now):
                return TurnResult(duplicate=True)
            record = tx.find_learner(incoming.channel, incoming.sender)
            tenant_id = record.tenant_id if record else incoming.tenant_id
            tenant = self._tenants.get(tenant_id)
            outcome = self._engine.turn(record.state if record else None, incoming, tenant)
            learner_id: LearnerId | None = record.learner_id if record else None
            if outcome.state is not None:
                if learner_id is None:
                    identity = Identity(incoming.channel, incoming.sender, incoming.address)
                    learner_id = tx.create_learner(identity, outcome.state, now, tenant_id)
                # The agenda (next push, reminders) follows the state; only changes are written.
                self._engine.agenda.sync(tx, learner_id, outcome.state, tenant, now)
                tx.save_state(learner_id, outcome.state, now)
            messages: list[Outgoing] = list(outcome.messages)
            for effect in outcome.effects:
                if learner_id is None:
                    continue
                match effect:
                    case Reviewed():
                        card, due = self._reviews.review(tx.review_card(learner_id, effect.item_id), effect.correct, now)
                        tx.save_review_card(learner_id, effect.item_id, card, due)
                    case Achievement():
                        achievement_id = tx.record_achievement(learner_id, effect)
                        if outcome.state is not None:
                            messages += self._issue(tx, achievement_id, effect, outcome.state, tenant.name)
                            if self._hr is not None:
                                notice = self._hr.for_achievement(achievement_id, effect, learner_id, outcome.state, tenant)
                                for channel, address, message in self._hr.messages(notice, tenant):
                                    tx.enqueue(learner_id, channel, address, [message], now)
                    case ExportRequested() if outcome.state is not None:
                        messages.append(self._export(tx, learner_id, outcome.state))
                    case EraseRequested():
                        keep = add_months(now.date(), 12 * tenant.retention_years) if tenant.retention_years else None
                        tx.erase_learner(learner_id, keep)
                        learner_id = None
            ids = tx.enqueue(learner_id, incoming.channel, incoming.address, messages, now)
            return TurnResult(duplicate=False, outbox=_queued(ids, incoming.channel, incoming.address, messages))

    def _issue(
        self, tx: Transaction, achievement_id: str, achievement: Achievement, state: LearnerState, tenant_name: str,
    ) -> list[Outgoing]:
        """The learner's PDF and signed credential. A failure here must not cost the learner the
        achievement itself: it is recorded either way, and the failure is logged."""
        if self._issuer is None:
            return []
        try:
            issued = self._issuer.issue(achievement_id, achievement, state, tenant_name)
        except Exception:
            log.exception("could not issue the files for achievement %s", achievement_id)
            return []
        if issued.credential is not None:
            tx.save_credential(achievement_id, issued.credential)
        return list(issued.files)

    def _export(self, tx: Transaction, learner_id: LearnerId, state: LearnerState) -> FileMessage:
        data: dict[str, Any] = {
            "format": "campusbot-export/1",
            "exported_at": self._clock.now().isoformat(),
            "learner": tx.personal_data(learner_id),
        }
        data["learner"]["state"] = state.to_dict()
        body = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")
        caption = self._texts(state.lang, "export.caption")
        return FileMessage("campusbot-daten.json" if state.lang == "de" else "campusbot-data.json", "application/json", body, caption)

    def _apologise(self, incoming: Incoming) -> TurnResult:
        lang = incoming.lang_hint or self._default_lang
        try:
            with self._store.transaction() as tx:
                record = tx.find_learner(incoming.channel, incoming.sender)
                if record is not None:
                    lang = record.state.lang
                apology: list[Outgoing] = [TextMessage(self._texts(lang, "error.internal"))]
                learner_id = record.learner_id if record else None
                ids = tx.enqueue(learner_id, incoming.channel, incoming.address, apology, self._clock.now())
                # The failed event is recorded so that a redelivery does not fail the same way again.
                tx.remember_inbound(incoming.channel, incoming.event_id, self._clock.now())
                return TurnResult(duplicate=False, outbox=_queued(ids, incoming.channel, incoming.address, apology))
        except Exception:
            log.exception("could not even apologise for %s event %s", incoming.channel, incoming.event_id)
            return TurnResult(duplicate=False)
