"""HR is told what a learner completed, and which mandatory training is overdue, through every
route the municipality configured. A notice never holds answers, check results or scores."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from campusbot.content.catalog import Catalog
from campusbot.core.engine import Achievement
from campusbot.core.messages import DataMessage, LearnerId, Outgoing, TextMessage
from campusbot.core.state import LearnerState
from campusbot.core.tenants import TenantPolicy
from campusbot.core.texts import Texts
from campusbot.hr.model import HrNoticeData

# Pseudonyms and overdue-notice ids are name-based UUIDs in this namespace (stable, not reversible
# without the database).
NAMESPACE = uuid.UUID("5f0c7a52-9d1e-4c1b-8f3e-2a6b4c8d0e11")
HR_NOTICE = "hr_notice"


def pseudonym(tenant_id: str | None, learner_id: LearnerId) -> str:
    return str(uuid.uuid5(NAMESPACE, f"learner:{tenant_id}:{learner_id}"))


class HrNotices:
    def __init__(self, catalog: Catalog, texts: Texts) -> None:
        self._catalog = catalog
        self._texts = texts

    def for_achievement(
        self, achievement_id: str, achievement: Achievement, learner_id: LearnerId, state: LearnerState, tenant: TenantPolicy,
    ) -> HrNoticeData:
        module = self._catalog.module(achievement.module_id)
        return HrNoticeData(
            id=achievement_id, tenant_id=tenant.id, kind=achievement.kind,
            learner_name=state.display_name or self._texts("de", "certificate.no_name"),
            learner_pseudonym=pseudonym(tenant.id, learner_id), personnel_number=state.personnel_number or None,
            module_id=achievement.module_id, module_title=module.title.de if module else achievement.module_id,
            occurred_at=achievement.issued_at, hours=achievement.hours, competences=achievement.competences,
            next_due=achievement.next_due, due_date=None,
        )

    def for_overdue(
        self, module_id: str, due: date, learner_id: LearnerId, state: LearnerState, tenant: TenantPolicy, now: datetime,
    ) -> HrNoticeData:
        module = self._catalog.module(module_id)
        return HrNoticeData(
            id=str(uuid.uuid5(NAMESPACE, f"overdue:{tenant.id}:{learner_id}:{module_id}:{due.isoformat()}")),
            tenant_id=tenant.id, kind="mandatory_overdue",
            learner_name=state.display_name or self._texts("de", "certificate.no_name"),
            learner_pseudonym=pseudonym(tenant.id, learner_id), personnel_number=state.personnel_number or None,
            module_id=module_id, module_title=module.title.de if module else module_id,
            occurred_at=now, hours=None, competences=(), next_due=None, due_date=due,
        )

    def text(self, notice: HrNoticeData) -> str:
        """The notice as HR reads it in their Matrix room or e-mail (German: HR is the tenant's)."""
        values = {
            "name": notice.learner_name, "module": notice.module_title,
            "date": notice.occurred_at.strftime("%d.%m.%Y"),
            "hours": f"{notice.hours:g}".replace(".", ",") if notice.hours is not None else "–",
            "next_due": notice.next_due.strftime("%d.%m.%Y") if notice.next_due else "–",
            "due": notice.due_date.strftime("%d.%m.%Y") if notice.due_date else "–",
        }
        text = self._texts("de", f"hr.notice.{notice.kind}", **values)
        if notice.personnel_number:
            text += "\n" + self._texts("de", "hr.notice.personnel_number", number=notice.personnel_number)
        return text

    def messages(self, notice: HrNoticeData, tenant: TenantPolicy) -> list[tuple[str, str, Outgoing]]:
        """One outbox row per HR route of the tenant: (channel, address, message)."""
        rows: list[tuple[str, str, Outgoing]] = []
        for channel, address in tenant.hr_routes:
            message: Outgoing = TextMessage(self.text(notice)) if channel == "matrix" else DataMessage(HR_NOTICE, notice.to_json())
            rows.append((channel, address, message))
        return rows
