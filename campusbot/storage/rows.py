"""ORM rows. They never leave the storage package."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, Date, DateTime, Dialect, Float, ForeignKey, Index, Integer, String, Text, TypeDecorator, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class AwareDateTime(TypeDecorator[datetime]):
    """Stores UTC and always gives back aware datetimes, also on SQLite (which keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: AwareDateTime}


class LearnerRow(Base):
    __tablename__ = "learner"
    # Ids are never reused after an erasure or a delivery (SQLite reuses the highest rowid otherwise).
    __table_args__ = {"sqlite_autoincrement": True}  # noqa: RUF012 - SQLAlchemy reads it as is

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    created_at: Mapped[datetime] = mapped_column()
    # The municipality the learner works for (config `tenants`): holidays, mandatory trainings, HR.
    tenant_id: Mapped[str | None] = mapped_column(String(64), index=True)


class IdentityRow(Base):
    __tablename__ = "identity"
    __table_args__ = (UniqueConstraint("channel", "external_id", name="uq_identity_channel_external_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learner.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(255))
    address: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column()
    # When the learner last wrote through this identity (kept to the day): pushes go to the latest.
    last_seen_at: Mapped[datetime | None] = mapped_column()
    # Set when the network refuses delivery for good (a Telegram user blocked the bot).
    unreachable_at: Mapped[datetime | None] = mapped_column()


class EnrolmentCodeRow(Base):
    """A one-time code: enrolment into a tenant, or (with ``learner_id``) linking another account."""

    __tablename__ = "enrolment_code"

    code_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    tenant_id: Mapped[str | None] = mapped_column(String(64))
    learner_id: Mapped[int | None] = mapped_column(ForeignKey("learner.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()


class LearnerStateRow(Base):
    __tablename__ = "learner_state"

    learner_id: Mapped[int] = mapped_column(ForeignKey("learner.id", ondelete="CASCADE"), primary_key=True)
    data: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column()


class InboundEventRow(Base):
    """Ids of handled inbound events; no link to the learner, so nothing personal stays after erasure."""

    __tablename__ = "inbound_event"

    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(255), primary_key=True)
    received_at: Mapped[datetime] = mapped_column()


class OutboxRow(Base):
    __tablename__ = "outbox"
    # The outbox id is the Matrix transaction id: it must never be reused (SQLite would, without AUTOINCREMENT).
    __table_args__ = (Index("ix_outbox_channel_next_attempt", "channel", "next_attempt_at"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    learner_id: Mapped[int | None] = mapped_column(ForeignKey("learner.id", ondelete="SET NULL"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(255))
    payload: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column()
    next_attempt_at: Mapped[datetime] = mapped_column()
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class AchievementRow(Base):
    """A participation confirmation, certificate or mandatory-training completion."""

    __tablename__ = "achievement"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    # None once the learner erased their data and the tenant's retention rule keeps the record.
    learner_id: Mapped[int | None] = mapped_column(ForeignKey("learner.id", ondelete="CASCADE"), index=True)
    module_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    issued_at: Mapped[datetime] = mapped_column()
    hours: Mapped[float] = mapped_column(Float)
    competences: Mapped[list[str]] = mapped_column(JSON)
    score: Mapped[float | None] = mapped_column(Float)
    next_due: Mapped[date | None] = mapped_column(Date)
    credential: Mapped[str | None] = mapped_column(Text)  # the signed Open Badges 3.0 credential (JSON)
    revoked_at: Mapped[datetime | None] = mapped_column()
    retained_until: Mapped[date | None] = mapped_column(Date)  # kept after an erasure until then


class ChannelCursorRow(Base):
    """Where a channel resumes reading (a Matrix sync token); saved only after a batch is handled."""

    __tablename__ = "channel_cursor"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column()


class DueWorkRow(Base):
    """Who is due for what, when: the next push, a tutorial or mandatory-training reminder.

    The scheduler claims rows by ``due_at``; its cost follows the number due, not the number enrolled.
    """

    __tablename__ = "due_work"
    __table_args__ = (
        UniqueConstraint("learner_id", "kind", "ref", name="uq_due_work_learner_kind_ref"),
        Index("ix_due_work_due_at", "due_at"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learner.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    ref: Mapped[str] = mapped_column(String(128))
    due_at: Mapped[datetime] = mapped_column()


class ReviewCardRow(Base):
    """One spaced-repetition card (FSRS) per learner and quiz item."""

    __tablename__ = "review_card"
    __table_args__ = (Index("ix_review_card_learner_due", "learner_id", "due_at"),)

    learner_id: Mapped[int] = mapped_column(ForeignKey("learner.id", ondelete="CASCADE"), primary_key=True)
    item_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    card: Mapped[str] = mapped_column(Text)
    due_at: Mapped[datetime] = mapped_column()


class HrNoticeRow(Base):
    """Something HR of the learner's municipality is to be told, e.g. an overdue mandatory training."""

    __tablename__ = "hr_notice"
    __table_args__ = (
        UniqueConstraint("learner_id", "kind", "module_id", "due_date", name="uq_hr_notice_once"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[str | None] = mapped_column(String(64), index=True)
    learner_id: Mapped[int] = mapped_column(ForeignKey("learner.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    module_id: Mapped[str] = mapped_column(String(64))
    due_date: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column()
    delivered_at: Mapped[datetime | None] = mapped_column()
