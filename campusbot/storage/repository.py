"""The SQL implementation of the core's ``Store`` port."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, Engine, Executable, Table, bindparam, delete, insert, select, update
from sqlalchemy.dialects.postgresql import Insert as PostgresqlInsert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from campusbot.core.engine import Achievement
from campusbot.core.enrolment import RedeemedCode
from campusbot.core.messages import LearnerId, Outgoing, decode_message, encode_message
from campusbot.core.ports import (
    AgendaKey,
    DueWork,
    HrNotice,
    Identity,
    LearnerRecord,
    OutboxItem,
    ScheduledLearner,
    StoredAchievement,
    TenantCompletion,
)
from campusbot.core.state import LearnerState
from campusbot.storage.rows import Base

_learner = Base.metadata.tables["learner"]
_identity = Base.metadata.tables["identity"]
_state = Base.metadata.tables["learner_state"]
_inbound = Base.metadata.tables["inbound_event"]
_outbox = Base.metadata.tables["outbox"]
_achievement = Base.metadata.tables["achievement"]
_cursor = Base.metadata.tables["channel_cursor"]
_due = Base.metadata.tables["due_work"]
_card = Base.metadata.tables["review_card"]
_hr = Base.metadata.tables["hr_notice"]
_code = Base.metadata.tables["enrolment_code"]

# The statements of a turn are built once: building them costs more than running them on SQLite.
_FIND_LEARNER = (
    select(_identity.c.learner_id, _state.c.data, _learner.c.tenant_id, _identity.c.last_seen_at, _identity.c.unreachable_at)
    .join(_state, _state.c.learner_id == _identity.c.learner_id)
    .join(_learner, _learner.c.id == _identity.c.learner_id)
    .where(_identity.c.channel == bindparam("channel"), _identity.c.external_id == bindparam("external_id"))
)
_FIND_LEARNER_LOCKED = _FIND_LEARNER.with_for_update(of=_state)
_SAVE_STATE = update(_state).where(_state.c.learner_id == bindparam("lid")).values(data=bindparam("data"), updated_at=bindparam("now"))
_ENQUEUE = insert(_outbox).returning(_outbox.c.id, sort_by_parameter_order=True)
_ENQUEUE_MANY = insert(_outbox)
_PENDING = (
    select(_outbox.c.id, _outbox.c.channel, _outbox.c.address, _outbox.c.payload, _outbox.c.attempts)
    .where(_outbox.c.channel == bindparam("channel"), _outbox.c.next_attempt_at <= bindparam("now"))
    .order_by(_outbox.c.id)
    .limit(bindparam("limit"))
)
_PENDING_TO = _PENDING.where(_outbox.c.address == bindparam("address"))
_DELIVERED = delete(_outbox).where(_outbox.c.id == bindparam("oid"))
# The scheduler's claim: FOR UPDATE SKIP LOCKED on PostgreSQL (several workers never take the same
# row); SQLite has no row locks and ignores it, its BEGIN IMMEDIATE serialises workers instead.
_CLAIM = (
    select(_due.c.id, _due.c.learner_id, _due.c.kind, _due.c.ref, _due.c.due_at)
    .where(_due.c.due_at <= bindparam("now"), _due.c.id.not_in(bindparam("skip", expanding=True)))
    .order_by(_due.c.due_at, _due.c.id)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
_DROP_AGENDA = delete(_due).where(
    _due.c.learner_id == bindparam("lid"), _due.c.kind == bindparam("kind"), _due.c.ref == bindparam("ref")
)
_SAVE_STATES = update(_state).where(_state.c.learner_id == bindparam("lid")).values(data=bindparam("data"), updated_at=bindparam("now"))
_LEARNERS = (
    select(_learner.c.id, _learner.c.tenant_id, _state.c.data)
    .join(_state, _state.c.learner_id == _learner.c.id)
    .where(_learner.c.id.in_(bindparam("ids", expanding=True)))
)
# Where to reach a learner: the identity they used last (the newest, until channels record use).
# A learner in the middle of a turn on another process is skipped, not waited for: their row stays
# due and the next tick takes it (waiting here while the turn waits for our due rows would deadlock).
_LEARNERS_LOCKED = _LEARNERS.with_for_update(of=_state, skip_locked=True)
_ADDRESSES = (
    select(_identity.c.learner_id, _identity.c.channel, _identity.c.address)
    .where(_identity.c.learner_id.in_(bindparam("ids", expanding=True)), _identity.c.unreachable_at.is_(None))
    .order_by(_identity.c.learner_id, _identity.c.last_seen_at.asc().nulls_first(), _identity.c.id)
)
_DUE_REVIEWS = (
    select(_card.c.learner_id, _card.c.item_id)
    .where(_card.c.learner_id.in_(bindparam("ids", expanding=True)), _card.c.due_at <= bindparam("now"))
    .order_by(_card.c.learner_id, _card.c.due_at, _card.c.item_id)
)


def _per_dialect(table: Table, finish: Callable[[SqliteInsert | PostgresqlInsert], Executable]) -> dict[str, Executable]:
    """The same upsert for each backend: ON CONFLICT lives in the dialects' own insert constructs."""
    return {"sqlite": finish(sqlite_insert(table)), "postgresql": finish(postgresql_insert(table))}


# INSERT ... ON CONFLICT DO NOTHING: cheaper than a savepoint around a failing insert.
# RETURNING tells a new row from a conflict on every backend (psycopg's rowcount is -1 here).
_REMEMBER_INBOUND = _per_dialect(
    _inbound, lambda insert_: insert_.on_conflict_do_nothing(index_elements=["channel", "event_id"]).returning(_inbound.c.event_id)
)
_SET_AGENDA = _per_dialect(
    _due,
    lambda insert_: insert_.on_conflict_do_update(index_elements=["learner_id", "kind", "ref"], set_={"due_at": insert_.excluded.due_at}),
)
_SAVE_CARD = _per_dialect(
    _card,
    lambda insert_: insert_.on_conflict_do_update(
        index_elements=["learner_id", "item_id"], set_={"card": insert_.excluded.card, "due_at": insert_.excluded.due_at}
    ),
)
_RECORD_HR_NOTICE = _per_dialect(
    _hr, lambda insert_: insert_.on_conflict_do_nothing(index_elements=["learner_id", "kind", "module_id", "due_date"]).returning(_hr.c.id)
)
_SAVE_CURSOR = _per_dialect(
    _cursor,
    lambda insert_: insert_.on_conflict_do_update(
        index_elements=["name"], set_={"value": insert_.excluded.value, "updated_at": insert_.excluded.updated_at}
    ),
)


class SqlTransaction:
    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._dialect = connection.dialect.name

    def remember_inbound(self, channel: str, event_id: str, now: datetime) -> bool:
        result = self._connection.execute(
            _REMEMBER_INBOUND[self._dialect], {"channel": channel, "event_id": event_id, "received_at": now}
        )
        return result.first() is not None

    def find_learner(self, channel: str, external_id: str) -> LearnerRecord | None:
        # On PostgreSQL the state row is locked for the turn; SQLite's BEGIN IMMEDIATE locks the whole file.
        query = _FIND_LEARNER_LOCKED if self._dialect == "postgresql" else _FIND_LEARNER
        row = self._connection.execute(query, {"channel": channel, "external_id": external_id}).first()
        if row is None:
            return None
        return LearnerRecord(
            LearnerId(row.learner_id), LearnerState.from_dict(json.loads(row.data)), row.tenant_id, row.last_seen_at,
            row.unreachable_at is not None,
        )

    def create_learner(self, identity: Identity, state: LearnerState, now: datetime, tenant_id: str | None = None) -> LearnerId:
        learner_id = LearnerId(self._connection.execute(
            insert(_learner).values(created_at=now, tenant_id=tenant_id).returning(_learner.c.id)
        ).scalar_one())
        self.add_identity(learner_id, identity, now)
        self._connection.execute(insert(_state).values(learner_id=learner_id, data=_dump(state), updated_at=now))
        return learner_id

    def add_identity(self, learner_id: LearnerId, identity: Identity, now: datetime) -> None:
        self._connection.execute(
            insert(_identity).values(
                learner_id=learner_id, channel=identity.channel, external_id=identity.external_id,
                address=identity.address, created_at=now, last_seen_at=now,
            )
        )

    def touch_identity(self, channel: str, external_id: str, now: datetime) -> None:
        self._connection.execute(
            update(_identity).where(_identity.c.channel == channel, _identity.c.external_id == external_id)
            .values(last_seen_at=now, unreachable_at=None)
        )

    def mark_unreachable(self, channel: str, address: str, now: datetime) -> None:
        self._connection.execute(
            update(_identity).where(_identity.c.channel == channel, _identity.c.address == address).values(unreachable_at=now)
        )

    def save_enrolment_code(
        self, code_hash: str, tenant_id: str | None, learner_id: LearnerId | None, now: datetime, expires_at: datetime,
    ) -> None:
        self._connection.execute(
            insert(_code).values(code_hash=code_hash, tenant_id=tenant_id, learner_id=learner_id, created_at=now, expires_at=expires_at)
        )

    def redeem_enrolment_code(self, code_hash: str, now: datetime) -> RedeemedCode | None:
        # One UPDATE ... RETURNING: of two processes redeeming the same code, one gets it.
        row = self._connection.execute(
            update(_code).where(_code.c.code_hash == code_hash, _code.c.used_at.is_(None), _code.c.expires_at > now)
            .values(used_at=now).returning(_code.c.tenant_id, _code.c.learner_id)
        ).first()
        if row is None:
            return None
        return RedeemedCode(row.tenant_id, LearnerId(row.learner_id) if row.learner_id is not None else None)

    def save_state(self, learner_id: LearnerId, state: LearnerState, now: datetime) -> None:
        self._connection.execute(_SAVE_STATE, {"lid": learner_id, "data": _dump(state), "now": now})

    def enqueue(self, learner_id: LearnerId | None, channel: str, address: str, messages: Sequence[Outgoing], now: datetime) -> list[int]:
        return self._enqueue([(learner_id, channel, address, m) for m in messages], now)

    def enqueue_many(self, items: Sequence[tuple[LearnerId, str, str, Outgoing]], now: datetime) -> None:
        if items:
            # No ids wanted back: a plain executemany, about twice as fast as one with RETURNING.
            self._connection.execute(_ENQUEUE_MANY, _outbox_rows(items, now))

    def _enqueue(self, items: Sequence[tuple[LearnerId | None, str, str, Outgoing]], now: datetime) -> list[int]:
        if not items:
            return []
        return list(self._connection.execute(_ENQUEUE, _outbox_rows(items, now)).scalars())

    def record_achievement(self, learner_id: LearnerId, achievement: Achievement) -> str:
        ident = str(uuid.uuid4())
        self._connection.execute(
            insert(_achievement).values(
                id=ident, learner_id=learner_id, module_id=achievement.module_id, kind=achievement.kind,
                issued_at=achievement.issued_at, hours=achievement.hours, competences=list(achievement.competences),
                score=achievement.score, next_due=achievement.next_due,
            )
        )
        return ident

    def achievements(self, learner_id: LearnerId) -> list[StoredAchievement]:
        rows = self._connection.execute(
            select(_achievement).where(_achievement.c.learner_id == learner_id).order_by(_achievement.c.issued_at, _achievement.c.id)
        )
        return [_stored_achievement(row) for row in rows]

    def achievement(self, achievement_id: str) -> StoredAchievement | None:
        row = self._connection.execute(select(_achievement).where(_achievement.c.id == achievement_id)).first()
        return None if row is None else _stored_achievement(row)

    def save_credential(self, achievement_id: str, credential: dict[str, Any]) -> None:
        self._connection.execute(
            update(_achievement).where(_achievement.c.id == achievement_id).values(credential=json.dumps(credential, ensure_ascii=False))
        )

    def revoke_achievement(self, achievement_id: str, now: datetime) -> bool:
        result = self._connection.execute(
            update(_achievement).where(_achievement.c.id == achievement_id, _achievement.c.revoked_at.is_(None))
            .values(revoked_at=now).returning(_achievement.c.id)
        )
        return result.first() is not None

    def identities(self, learner_id: LearnerId) -> list[Identity]:
        rows = self._connection.execute(select(_identity).where(_identity.c.learner_id == learner_id).order_by(_identity.c.id))
        return [Identity(r.channel, r.external_id, r.address) for r in rows]

    def personal_data(self, learner_id: LearnerId) -> dict[str, Any]:
        created_at = self._connection.execute(select(_learner.c.created_at).where(_learner.c.id == learner_id)).scalar_one_or_none()
        return {
            "learner_id": learner_id,
            "created_at": created_at.isoformat() if created_at else None,
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
            "schedule": [
                {"kind": kind, "ref": ref, "due_at": due_at.isoformat()} for (kind, ref), due_at in sorted(self.agenda(learner_id).items())
            ],
            "review_cards": [
                {"item_id": r.item_id, "due_at": r.due_at.isoformat(), "card": json.loads(r.card)}
                for r in self._connection.execute(select(_card).where(_card.c.learner_id == learner_id).order_by(_card.c.item_id))
            ],
            "hr_notices": [
                {"kind": n.kind, "module_id": n.module_id, "due_date": n.due_date.isoformat(), "created_at": n.created_at.isoformat()}
                for n in self._hr_notices(_hr.c.learner_id == learner_id)
            ],
        }

    def erase_learner(self, learner_id: LearnerId, keep_issued_until: date | None = None) -> int:
        kept = 0
        if keep_issued_until is not None:
            # The tenant must keep issued certificates: the records stay, without the learner.
            kept = len(self._connection.execute(
                update(_achievement).where(_achievement.c.learner_id == learner_id, _achievement.c.credential.is_not(None))
                .values(learner_id=None, retained_until=keep_issued_until).returning(_achievement.c.id)
            ).all())
        # Explicit deletes rather than relying on ON DELETE CASCADE alone: the outcome must not
        # depend on a backend's foreign-key setting.
        for table in (_achievement, _identity, _state, _outbox, _due, _card, _hr, _code):
            self._connection.execute(delete(table).where(table.c.learner_id == learner_id))
        self._connection.execute(delete(_learner).where(_learner.c.id == learner_id))
        return kept

    def purge_retained(self, today: date) -> int:
        expired = _achievement.c.learner_id.is_(None) & (_achievement.c.retained_until < today)
        result = self._connection.execute(delete(_achievement).where(expired).returning(_achievement.c.id))
        return len(result.all())

    def pending_outbox(self, channel: str, limit: int, now: datetime, address: str | None = None) -> list[OutboxItem]:
        params: dict[str, object] = {"channel": channel, "now": now, "limit": limit}
        if address is not None:
            params["address"] = address
        rows = self._connection.execute(_PENDING if address is None else _PENDING_TO, params)
        return [OutboxItem(r.id, r.channel, r.address, decode_message(r.payload), r.attempts) for r in rows]

    def mark_delivered(self, outbox_id: int) -> None:
        self._connection.execute(_DELIVERED, {"oid": outbox_id})

    def mark_failed(self, outbox_id: int, retry_at: datetime) -> None:
        self._connection.execute(
            update(_outbox).where(_outbox.c.id == outbox_id).values(attempts=_outbox.c.attempts + 1, next_attempt_at=retry_at)
        )


    def cursor(self, name: str) -> str | None:
        value: str | None = self._connection.execute(select(_cursor.c.value).where(_cursor.c.name == name)).scalar_one_or_none()
        return value

    def save_cursor(self, name: str, value: str, now: datetime) -> None:
        self._connection.execute(_SAVE_CURSOR[self._dialect], {"name": name, "value": value, "updated_at": now})

    # -- scheduling --------------------------------------------------------------------------

    def set_agendas(self, changes: Sequence[tuple[LearnerId, Mapping[AgendaKey, datetime | None]]]) -> None:
        upserts = [
            {"learner_id": lid, "kind": kind, "ref": ref, "due_at": due}
            for lid, rows in changes for (kind, ref), due in rows.items() if due is not None
        ]
        drops = [{"lid": lid, "kind": kind, "ref": ref} for lid, rows in changes for (kind, ref), due in rows.items() if due is None]
        if upserts:
            self._connection.execute(_SET_AGENDA[self._dialect], upserts)
        if drops:
            self._connection.execute(_DROP_AGENDA, drops)

    def agenda(self, learner_id: LearnerId) -> dict[AgendaKey, datetime]:
        rows = self._connection.execute(select(_due.c.kind, _due.c.ref, _due.c.due_at).where(_due.c.learner_id == learner_id))
        return {(r.kind, r.ref): r.due_at for r in rows}

    def claim_due(self, now: datetime, limit: int, skip: Collection[int] = ()) -> list[DueWork]:
        rows = self._connection.execute(_CLAIM, {"now": now, "limit": limit, "skip": list(skip)})
        return [DueWork(r.id, LearnerId(r.learner_id), r.kind, r.ref, r.due_at) for r in rows]

    def scheduled_learners(self, learner_ids: Sequence[LearnerId]) -> dict[LearnerId, ScheduledLearner]:
        if not learner_ids:
            return {}
        ids = list(set(learner_ids))
        reach: dict[int, tuple[str, str]] = {}
        for row in self._connection.execute(_ADDRESSES, {"ids": ids}):
            reach[row.learner_id] = (row.channel, row.address)  # the newest identity wins
        result: dict[LearnerId, ScheduledLearner] = {}
        query = _LEARNERS_LOCKED if self._dialect == "postgresql" else _LEARNERS
        for row in self._connection.execute(query, {"ids": ids}):
            channel, address = reach.get(row.id, ("", ""))  # none reachable: every messenger refuses them
            state = LearnerState.from_dict(json.loads(row.data))
            result[LearnerId(row.id)] = ScheduledLearner(LearnerId(row.id), row.tenant_id, state, channel, address)
        return result

    def save_states(self, states: Sequence[tuple[LearnerId, LearnerState]], now: datetime) -> None:
        if states:
            self._connection.execute(_SAVE_STATES, [{"lid": lid, "data": _dump(state), "now": now} for lid, state in states])

    def review_card(self, learner_id: LearnerId, item_id: str) -> dict[str, Any] | None:
        raw = self._connection.execute(
            select(_card.c.card).where(_card.c.learner_id == learner_id, _card.c.item_id == item_id)
        ).scalar_one_or_none()
        if raw is None:
            return None
        card: dict[str, Any] = json.loads(raw)
        return card

    def save_review_card(self, learner_id: LearnerId, item_id: str, card: dict[str, Any], due_at: datetime) -> None:
        self._connection.execute(
            _SAVE_CARD[self._dialect], {"learner_id": learner_id, "item_id": item_id, "card": json.dumps(card), "due_at": due_at}
        )

    def due_reviews(self, learner_ids: Sequence[LearnerId], now: datetime) -> dict[LearnerId, list[str]]:
        result: dict[LearnerId, list[str]] = {}
        if learner_ids:
            for row in self._connection.execute(_DUE_REVIEWS, {"ids": list(set(learner_ids)), "now": now}):
                result.setdefault(LearnerId(row.learner_id), []).append(row.item_id)
        return result

    def record_hr_notice(self, notice: HrNotice) -> bool:
        result = self._connection.execute(
            _RECORD_HR_NOTICE[self._dialect],
            {"tenant_id": notice.tenant_id, "learner_id": notice.learner_id, "kind": notice.kind, "module_id": notice.module_id,
             "due_date": notice.due_date, "created_at": notice.created_at},
        )
        return result.first() is not None

    def tenant_completions(self, tenant_id: str, since: datetime, until: datetime) -> list[TenantCompletion]:
        rows = self._connection.execute(
            select(_achievement, _state.c.data)
            .join(_learner, _learner.c.id == _achievement.c.learner_id)
            .join(_state, _state.c.learner_id == _achievement.c.learner_id)
            .where(_learner.c.tenant_id == tenant_id, _achievement.c.issued_at >= since, _achievement.c.issued_at < until)
            .order_by(_achievement.c.issued_at, _achievement.c.id)
        )
        return [
            TenantCompletion(LearnerId(row.learner_id), LearnerState.from_dict(json.loads(row.data)), _stored_achievement(row))
            for row in rows
        ]

    def hr_notices(self, tenant_id: str | None) -> list[HrNotice]:
        return self._hr_notices(_hr.c.tenant_id.is_(None) if tenant_id is None else _hr.c.tenant_id == tenant_id)

    def _hr_notices(self, where: Any) -> list[HrNotice]:
        rows = self._connection.execute(select(_hr).where(where).order_by(_hr.c.id))
        return [HrNotice(r.id, r.tenant_id, LearnerId(r.learner_id), r.kind, r.module_id, r.due_date, r.created_at) for r in rows]


def _stored_achievement(row: Any) -> StoredAchievement:
    achievement = Achievement(
        module_id=row.module_id, kind=row.kind, issued_at=row.issued_at, hours=row.hours,
        competences=tuple(row.competences), score=row.score, next_due=row.next_due,
    )
    credential = json.loads(row.credential) if row.credential else None
    return StoredAchievement(row.id, achievement, credential, row.revoked_at)


def _outbox_rows(items: Sequence[tuple[LearnerId | None, str, str, Outgoing]], now: datetime) -> list[dict[str, Any]]:
    return [
        {"learner_id": learner_id, "channel": channel, "address": address, "payload": encode_message(message),
         "created_at": now, "next_attempt_at": now, "attempts": 0}
        for learner_id, channel, address, message in items
    ]


def _dump(state: LearnerState) -> str:
    return json.dumps(state.to_dict(), ensure_ascii=False, separators=(",", ":"))


class SqlStore:
    """A store on one SQLAlchemy engine (SQLite file or PostgreSQL)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @contextmanager
    def transaction(self) -> Iterator[SqlTransaction]:
        with self.engine.begin() as connection:
            yield SqlTransaction(connection)
