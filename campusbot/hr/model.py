"""One HR notice, as every delivery channel (Matrix room, e-mail, webhook, xAPI LRS) receives it.

It holds what HR may know: who, which module, what kind, when, how many hours, the next due
date of a mandatory training. Never answers, check results or scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

NoticeKind = Literal["participation", "certificate", "mandatory", "mandatory_overdue"]


@dataclass(frozen=True, slots=True)
class HrNoticeData:
    id: str  # stable across retries and channels: the idempotency key
    tenant_id: str | None
    kind: NoticeKind
    learner_name: str
    learner_pseudonym: str  # a stable pseudonymous id of the learner for this tenant (no Matrix id)
    personnel_number: str | None
    module_id: str
    module_title: str  # German
    occurred_at: datetime  # aware: completion time, or when the training became overdue
    hours: float | None
    competences: tuple[str, ...]  # DigComp codes
    next_due: date | None
    due_date: date | None  # mandatory_overdue: the date that was missed

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id, "tenant_id": self.tenant_id, "kind": self.kind, "learner_name": self.learner_name,
            "learner_pseudonym": self.learner_pseudonym, "personnel_number": self.personnel_number,
            "module_id": self.module_id, "module_title": self.module_title, "occurred_at": self.occurred_at.isoformat(),
            "hours": self.hours, "competences": list(self.competences),
            "next_due": self.next_due.isoformat() if self.next_due else None,
            "due_date": self.due_date.isoformat() if self.due_date else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> HrNoticeData:
        return cls(
            id=data["id"], tenant_id=data["tenant_id"], kind=data["kind"], learner_name=data["learner_name"],
            learner_pseudonym=data["learner_pseudonym"], personnel_number=data.get("personnel_number"),
            module_id=data["module_id"], module_title=data["module_title"], occurred_at=datetime.fromisoformat(data["occurred_at"]),
            hours=data.get("hours"), competences=tuple(data.get("competences", ())),
            next_due=date.fromisoformat(data["next_due"]) if data.get("next_due") else None,
            due_date=date.fromisoformat(data["due_date"]) if data.get("due_date") else None,
        )
