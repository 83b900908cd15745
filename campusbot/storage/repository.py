"""The SQL implementation of the core's ``Store`` port."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from campusbot.core.engine import Achievement
from campusbot.core.messages import LearnerId, Outgoing, decode_message, encode_message
from campusbot.core.ports import Identity, LearnerRecord, OutboxItem, StoredAchievement
from campusbot.core.state import LearnerState
from campusbot.storage.rows import AchievementRow, IdentityRow, InboundEventRow, LearnerRow, LearnerStateRow, OutboxRow


class SqlTransaction:
    def __init__(self, session: Session) -> None:
        self._session = session

    def remember_inbound(self, channel: str, event_id: str, now: datetime) -> bool:
        try:
            with self._session.begin_nested():
                self._session.execute(insert(InboundEventRow).values(channel=channel, event_id=event_id, received_at=now))
        except IntegrityError:
            return False
        return True

    def find_learner(self, channel: str, external_id: str) -> LearnerRecord | None:
        query = (
            select(IdentityRow.learner_id, LearnerStateRow.data)
            .join(LearnerStateRow, LearnerStateRow.learner_id == IdentityRow.learner_id)
            .where(IdentityRow.channel == channel, IdentityRow.external_id == external_id)
        )
        if self._session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update(of=LearnerStateRow)
        row = self._session.execute(query).first()
        if row is None:
            return None
        return LearnerRecord(LearnerId(row.learner_id), LearnerState.from_dict(json.loads(row.data)))

    def create_learner(self, identity: Identity, state: LearnerState, now: datetime) -> LearnerId:
        learner_id = self._session.execute(insert(LearnerRow).values(created_at=now).returning(LearnerRow.id)).scalar_one()
        self._session.execute(
            insert(IdentityRow).values(
                learner_id=learner_id, channel=identity.channel, external_id=identity.external_id,
                address=identity.address, created_at=now,
            )
        )
        self._session.execute(insert(LearnerStateRow).values(learner_id=learner_id, data=_dump(state), updated_at=now))
        return LearnerId(learner_id)

    def save_state(self, learner_id: LearnerId, state: LearnerState, now: datetime) -> None:
        self._session.execute(
            update(LearnerStateRow).where(LearnerStateRow.learner_id == learner_id).values(data=_dump(state), updated_at=now)
        )

    def enqueue(self, learner_id: LearnerId | None, channel: str, address: str, messages: Sequence[Outgoing], now: datetime) -> list[int]:
        if not messages:
            return []
        rows = [
            {"learner_id": learner_id, "channel": channel, "address": address, "payload": encode_message(m),
             "created_at": now, "next_attempt_at": now, "attempts": 0}
            for m in messages
        ]
        # One row at a time keeps the ids in message order on every backend.
        return [self._session.execute(insert(OutboxRow).values(**row).returning(OutboxRow.id)).scalar_one() for row in rows]

    def record_achievement(self, learner_id: LearnerId, achievement: Achievement) -> str:
        ident = str(uuid.uuid4())
        self._session.execute(
            insert(AchievementRow).values(
                id=ident, learner_id=learner_id, module_id=achievement.module_id, kind=achievement.kind,
                issued_at=achievement.issued_at, hours=achievement.hours, competences=list(achievement.competences),
                score=achievement.score, next_due=achievement.next_due,
            )
        )
        return ident

    def achievements(self, learner_id: LearnerId) -> list[StoredAchievement]:
        rows = self._session.scalars(
            select(AchievementRow).where(AchievementRow.learner_id == learner_id).order_by(AchievementRow.issued_at, AchievementRow.id)
        )
        return [
            StoredAchievement(
                row.id,
                Achievement(
                    module_id=row.module_id, kind=row.kind,  # type: ignore[arg-type]
                    issued_at=row.issued_at, hours=row.hours, competences=tuple(row.competences),
                    score=row.score, next_due=row.next_due,
                ),
            )
            for row in rows
        ]

    def identities(self, learner_id: LearnerId) -> list[Identity]:
        rows = self._session.scalars(select(IdentityRow).where(IdentityRow.learner_id == learner_id).order_by(IdentityRow.id))
        return [Identity(r.channel, r.external_id, r.address) for r in rows]

    def personal_data(self, learner_id: LearnerId) -> dict[str, Any]:
        learner = self._session.get(LearnerRow, learner_id)
        return {
            "learner_id": learner_id,
            "created_at": learner.created_at.isoformat() if learner else None,
            "identities": [
                {"channel": i.channel, "external_id": i.external_id, "address": i.address} for i in self.identities(learner_id)
            ],
            "achievements": [
                {
                    "id": a.id, "module_id": a.achievement.module_id, "kind": a.achievement.kind,
                    "issued_at": a.achievement.issued_at.isoformat(), "hours": a.achievement.hours,
                    "competences": list(a.achievement.competences), "score": a.achievement.score,
                    "next_due": a.achievement.next_due.isoformat() if a.achievement.next_due else None,
                }
                for a in self.achievements(learner_id)
            ],
        }

    def erase_learner(self, learner_id: LearnerId) -> None:
        # Explicit deletes rather than relying on ON DELETE CASCADE alone: the outcome must not
        # depend on a backend's foreign-key setting.
        for table in (AchievementRow, IdentityRow, LearnerStateRow):
            self._session.execute(delete(table).where(table.learner_id == learner_id))
        self._session.execute(delete(OutboxRow).where(OutboxRow.learner_id == learner_id))
        self._session.execute(delete(LearnerRow).where(LearnerRow.id == learner_id))

    def pending_outbox(self, channel: str, limit: int, now: datetime, address: str | None = None) -> list[OutboxItem]:
        query = select(OutboxRow).where(OutboxRow.channel == channel, OutboxRow.next_attempt_at <= now)
        if address is not None:
            query = query.where(OutboxRow.address == address)
        rows = self._session.scalars(query.order_by(OutboxRow.id).limit(limit))
        return [OutboxItem(r.id, r.channel, r.address, decode_message(r.payload), r.attempts) for r in rows]

    def mark_delivered(self, outbox_id: int) -> None:
        self._session.execute(delete(OutboxRow).where(OutboxRow.id == outbox_id))

    def mark_failed(self, outbox_id: int, retry_at: datetime) -> None:
        self._session.execute(
            update(OutboxRow).where(OutboxRow.id == outbox_id).values(attempts=OutboxRow.attempts + 1, next_attempt_at=retry_at)
        )


def _dump(state: LearnerState) -> str:
    return json.dumps(state.to_dict(), ensure_ascii=False, separators=(",", ":"))


class SqlStore:
    """A store on one SQLAlchemy engine (SQLite file or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[SqlTransaction]:
        with self._sessions.begin() as session:
            yield SqlTransaction(session)
