"""What the core needs from a store. The storage package implements it; the core never
imports it."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from campusbot.core.engine import Achievement
from campusbot.core.enrolment import RedeemedCode
from campusbot.core.messages import LearnerId, Outgoing
from campusbot.core.state import LearnerState


@dataclass(frozen=True, slots=True)
class Identity:
    channel: str
    external_id: str
    address: str


@dataclass(frozen=True, slots=True)
class LearnerRecord:
    learner_id: LearnerId
    state: LearnerState
    tenant_id: str | None = None
    last_seen_at: datetime | None = None  # of the identity the record was found by
    unreachable: bool = False  # that identity refused delivery (a blocked Telegram bot)


@dataclass(frozen=True, slots=True)
class DueWork:
    """One claimed row of due work: ``kind`` is "push", "tutorial" or "mandatory"; ``ref`` says which."""

    id: int
    learner_id: LearnerId
    kind: str
    ref: str
    due_at: datetime


@dataclass(frozen=True, slots=True)
class ScheduledLearner:
    """A learner as the scheduler sees them: state, municipality and where to reach them
    (channel and address are empty when no messenger takes messages for them: blocked)."""

    learner_id: LearnerId
    tenant_id: str | None
    state: LearnerState
    channel: str
    address: str

    @property
    def reachable(self) -> bool:
        return bool(self.address)


@dataclass(frozen=True, slots=True)
class HrNotice:
    id: int
    tenant_id: str | None
    learner_id: LearnerId
    kind: str
    module_id: str
    due_date: date
    created_at: datetime


AgendaKey = tuple[str, str]  # (kind, ref) of a due-work row


@dataclass(frozen=True, slots=True)
class TenantCompletion:
    """One issued confirmation or certificate of a tenant's learner, as HR may see it."""

    learner_id: LearnerId
    state: LearnerState  # for the name and the role; HR reports never show more of it
    achievement: StoredAchievement


@dataclass(frozen=True, slots=True)
class StoredAchievement:
    id: str
    achievement: Achievement
    credential: dict[str, Any] | None = None  # the signed credential issued for it
    revoked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    channel: str
    address: str
    message: Outgoing
    attempts: int


class Transaction(Protocol):
    """One unit of work: everything done through it commits together or not at all."""

    def remember_inbound(self, channel: str, event_id: str, now: datetime) -> bool:
        """Record an inbound event id; False if it was seen before (a duplicate)."""
        ...

    def find_learner(self, channel: str, external_id: str) -> LearnerRecord | None:
        """The learner behind a channel identity, with their state, locked for this turn."""
        ...

    def create_learner(self, identity: Identity, state: LearnerState, now: datetime, tenant_id: str | None = None) -> LearnerId: ...

    def save_state(self, learner_id: LearnerId, state: LearnerState, now: datetime) -> None: ...

    def enqueue(self, learner_id: LearnerId | None, channel: str, address: str, messages: Sequence[Outgoing], now: datetime) -> list[int]:
        """Write messages to the outbox in order; returns their outbox ids."""
        ...

    def record_achievement(self, learner_id: LearnerId, achievement: Achievement) -> str:
        """Store a confirmation or certificate record; returns its id."""
        ...

    def achievements(self, learner_id: LearnerId) -> list[StoredAchievement]: ...

    def achievement(self, achievement_id: str) -> StoredAchievement | None: ...

    def save_credential(self, achievement_id: str, credential: dict[str, Any]) -> None: ...

    def revoke_achievement(self, achievement_id: str, now: datetime) -> bool:
        """Mark an issued confirmation or certificate revoked; False if unknown or revoked already."""
        ...

    def identities(self, learner_id: LearnerId) -> list[Identity]: ...

    def add_identity(self, learner_id: LearnerId, identity: Identity, now: datetime) -> None:
        """Another account of the same learner (linked by a code): one plan, one progress."""
        ...

    def touch_identity(self, channel: str, external_id: str, now: datetime) -> None:
        """The learner wrote through this identity: it is reachable, and the latest one used."""
        ...

    def mark_unreachable(self, channel: str, address: str, now: datetime) -> None:
        """The network refuses delivery to this address for good; the scheduler skips it."""
        ...

    def save_enrolment_code(
        self, code_hash: str, tenant_id: str | None, learner_id: LearnerId | None, now: datetime, expires_at: datetime,
    ) -> None: ...

    def redeem_enrolment_code(self, code_hash: str, now: datetime) -> RedeemedCode | None:
        """Use up a valid code; None if it is unknown, used or expired."""
        ...

    def personal_data(self, learner_id: LearnerId) -> dict[str, Any]:
        """Every row about the learner, as plain data for an export."""
        ...

    def erase_learner(self, learner_id: LearnerId, keep_issued_until: date | None = None) -> int:
        """Delete every row about the learner. With ``keep_issued_until``, issued confirmations and
        certificates stay (without the learner) until that day; returns how many stayed."""
        ...

    def purge_retained(self, today: date) -> int:
        """Delete kept records whose retention has run out; returns how many."""
        ...

    def pending_outbox(self, channel: str, limit: int, now: datetime, address: str | None = None) -> list[OutboxItem]:
        """Messages due for sending on a channel (optionally to one address), oldest first."""
        ...

    def mark_delivered(self, outbox_id: int) -> None: ...

    def mark_failed(self, outbox_id: int, retry_at: datetime) -> None: ...

    def cursor(self, name: str) -> str | None:
        """A channel's saved reading position (e.g. a Matrix sync token)."""
        ...

    def save_cursor(self, name: str, value: str, now: datetime) -> None: ...

    # -- scheduling --------------------------------------------------------------------------

    def set_agendas(self, changes: Sequence[tuple[LearnerId, Mapping[AgendaKey, datetime | None]]]) -> None:
        """Create, move (a datetime) or remove (None) learners' due-work rows."""
        ...

    def agenda(self, learner_id: LearnerId) -> dict[AgendaKey, datetime]: ...

    def claim_due(self, now: datetime, limit: int, skip: Collection[int] = ()) -> list[DueWork]:
        """Due rows, oldest first, locked for this transaction; rows other workers hold are skipped,
        and so are the rows ``skip`` names."""
        ...

    def scheduled_learners(self, learner_ids: Sequence[LearnerId]) -> dict[LearnerId, ScheduledLearner]: ...

    def save_states(self, states: Sequence[tuple[LearnerId, LearnerState]], now: datetime) -> None: ...

    def enqueue_many(self, items: Sequence[tuple[LearnerId, str, str, Outgoing]], now: datetime) -> None:
        """Outbox rows for several learners: (learner, channel, address, message), in order."""
        ...

    def review_card(self, learner_id: LearnerId, item_id: str) -> dict[str, Any] | None: ...

    def save_review_card(self, learner_id: LearnerId, item_id: str, card: dict[str, Any], due_at: datetime) -> None: ...

    def due_reviews(self, learner_ids: Sequence[LearnerId], now: datetime) -> dict[LearnerId, list[str]]:
        """Quiz items due for review per learner, most overdue first."""
        ...

    def record_hr_notice(self, notice: HrNotice) -> bool:
        """Store a notice for HR (its id is ignored); False if the same notice exists already."""
        ...

    def hr_notices(self, tenant_id: str | None) -> list[HrNotice]: ...

    def tenant_completions(self, tenant_id: str, since: datetime, until: datetime) -> list[TenantCompletion]:
        """Confirmations and certificates issued to the tenant's learners in [since, until)."""
        ...


@dataclass(frozen=True, slots=True)
class IssuedFiles:
    """What a learner receives for an achievement, and the credential to keep on record."""

    files: tuple[Outgoing, ...]
    credential: dict[str, Any] | None


class CertificateIssuer(Protocol):
    """Turns a recorded achievement into the learner's files (PDF, signed credential)."""

    def issue(self, achievement_id: str, achievement: Achievement, state: LearnerState, tenant_name: str) -> IssuedFiles: ...


class Store(Protocol):
    def transaction(self) -> AbstractContextManager[Transaction]:
        """Open a transaction that commits when the block ends without error."""
        ...
