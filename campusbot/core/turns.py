"""One learner turn = one store transaction: dedupe, state change, outbox."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from campusbot.content.models import LANGUAGES
from campusbot.core.clock import Clock
from campusbot.core.engine import Achievement, DialogEngine, EraseRequested, ExportRequested, LinkRequested, Reviewed
from campusbot.core.enrolment import LINK_CODE_VALIDITY, code_hash, find_code, issue_codes, normalize_code
from campusbot.core.hr_notices import HrNotices
from campusbot.core.messages import FileMessage, Incoming, LearnerId, Outgoing, TextMessage
from campusbot.core.plan import add_months
from campusbot.core.ports import CertificateIssuer, Identity, LearnerRecord, OutboxItem, Store, Transaction
from campusbot.core.review import ReviewService
from campusbot.core.state import LearnerState
from campusbot.core.tenants import TenantDirectory
from campusbot.core.texts import Texts

log = logging.getLogger(__name__)

SEEN_GRANULARITY = timedelta(hours=1)  # how fresh an identity's last_seen_at is kept (one write an hour)


@dataclass(frozen=True, slots=True)
class TurnResult:
    duplicate: bool
    outbox: tuple[OutboxItem, ...] = ()  # the replies, as committed to the outbox
    # Replies to someone who is no learner (no enrolment yet): sent once, stored nowhere.
    unstored: tuple[Outgoing, ...] = ()

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
        hr: HrNotices | None = None, enrolment_channels: frozenset[str] = frozenset(), link_bot: str | None = None,
    ) -> None:
        """``enrolment_channels``: where an account is no learner until it redeems a code;
        ``link_bot``: the Telegram bot (its username) learners may link their account to."""
        self._store = store
        self._engine = engine
        self._texts = texts
        self._clock = clock
        self._default_lang = default_lang
        self._tenants = tenants or TenantDirectory()
        self._reviews = reviews or ReviewService()
        self._issuer = issuer
        self._hr = hr
        self._enrolment_channels = enrolment_channels
        self._link_bot = link_bot

    def handle(self, incoming: Incoming) -> TurnResult:
        try:
            return self._handle(incoming)
        except Exception:
            log.exception("turn failed for %s event %s", incoming.channel, incoming.event_id)
            return self._apologise(incoming)

    def _handle(self, incoming: Incoming) -> TurnResult:
        now = self._clock.now()
        with self._store.transaction() as tx:
            gated = incoming.channel in self._enrolment_channels
            record = tx.find_learner(incoming.channel, incoming.sender) if gated else None
            if gated and record is None:
                return self._enrol(tx, incoming, now)
            if not tx.remember_inbound(incoming.channel, incoming.event_id, now):
                return TurnResult(duplicate=True)
            if not gated:
                record = tx.find_learner(incoming.channel, incoming.sender)
            if record is not None and (record.unreachable or record.last_seen_at is None or now - record.last_seen_at > SEEN_GRANULARITY):
                tx.touch_identity(incoming.channel, incoming.sender, now)
            return self._turn(tx, incoming, record, now)

    def _enrol(self, tx: Transaction, incoming: Incoming, now: datetime) -> TurnResult:
        """Someone who is no learner yet writes on a channel that needs a code: with a valid code
        they become a learner (or link to theirs); without one they are told how, and nothing is stored."""
        lang = incoming.lang_hint if incoming.lang_hint in LANGUAGES else self._default_lang
        code = find_code(incoming.text) if incoming.kind == "message" else None
        redeemed = tx.redeem_enrolment_code(code_hash(code), now) if code else None
        if redeemed is None:
            explanation = self._texts(lang, "enrolment.invalid") if code else self._texts(lang, "enrolment.required")
            return TurnResult(duplicate=False, unstored=(TextMessage(explanation),))
        tx.remember_inbound(incoming.channel, incoming.event_id, now)
        opened = replace(incoming, kind="open", text="", tenant_id=redeemed.tenant_id)
        if redeemed.learner_id is None:
            return self._turn(tx, opened, None, now)
        tx.add_identity(redeemed.learner_id, Identity(incoming.channel, incoming.sender, incoming.address), now)
        record = tx.find_learner(incoming.channel, incoming.sender)
        linked = TextMessage(self._texts(record.state.lang if record else lang, "enrolment.linked"))
        return self._turn(tx, opened, record, now, first=[linked])

    def _turn(
        self, tx: Transaction, incoming: Incoming, record: LearnerRecord | None, now: datetime, first: Sequence[Outgoing] = (),
    ) -> TurnResult:
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
        messages: list[Outgoing] = [*first, *outcome.messages]
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
                case LinkRequested() if outcome.state is not None:
                    messages.append(self._link_code(tx, learner_id, tenant_id, outcome.state.lang, now))
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

    def _link_code(self, tx: Transaction, learner_id: LearnerId, tenant_id: str | None, lang: str, now: datetime) -> TextMessage:
        if self._link_bot is None:
            return TextMessage(self._texts(lang, "link.unavailable"))
        [code] = issue_codes(tx, tenant_id, now, learner_id=learner_id, validity=LINK_CODE_VALIDITY)
        minutes = int(LINK_CODE_VALIDITY.total_seconds() // 60)
        url = f"https://t.me/{self._link_bot}?start={normalize_code(code)}"
        return TextMessage(self._texts(lang, "link.code", code=code, minutes=minutes, bot=f"@{self._link_bot}", url=url))

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
