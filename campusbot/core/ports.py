"""What the core needs from a store. The storage package implements it; the core never
imports it."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from campusbot.core.engine import Achievement
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


@dataclass(frozen=True, slots=True)
class StoredAchievement:
    id: str
    achievement: Achievement


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

    def create_learner(self, identity: Identity, state: LearnerState, now: datetime) -> LearnerId: ...

    def save_state(self, learner_id: LearnerId, state: LearnerState, now: datetime) -> None: ...

    def enqueue(self, learner_id: LearnerId | None, channel: str, address: str, messages: Sequence[Outgoing], now: datetime) -> list[int]:
        """Write messages to the outbox in order; returns their outbox ids."""
        ...

    def record_achievement(self, learner_id: LearnerId, achievement: Achievement) -> str:
        """Store a confirmation or certificate record; returns its id."""
        ...

    def achievements(self, learner_id: LearnerId) -> list[StoredAchievement]: ...

    def identities(self, learner_id: LearnerId) -> list[Identity]: ...

    def personal_data(self, learner_id: LearnerId) -> dict[str, Any]:
        """Every row about the learner, as plain data for an export."""
        ...

    def erase_learner(self, learner_id: LearnerId) -> None:
        """Delete every row about the learner."""
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


class Store(Protocol):
    def transaction(self) -> AbstractContextManager[Transaction]:
        """Open a transaction that commits when the block ends without error."""
        ...
