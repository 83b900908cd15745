"""What HR may ask for in its room: overdue mandatory trainings, a monthly summary and a CSV.

Only the room's configured HR members get answers. The summary counts completions by module
and role; any group of fewer than five people is suppressed, so that nobody can be singled out.
No report ever holds answers, check results or scores.
"""

from __future__ import annotations

import csv
import io
import re
from collections import defaultdict
from datetime import UTC, datetime, timedelta

from campusbot.content.catalog import Catalog
from campusbot.core.clock import Clock
from campusbot.core.enrolment import DEFAULT_ENROLMENT_VALIDITY, issue_codes
from campusbot.core.messages import FileMessage, Outgoing, TextMessage
from campusbot.core.ports import Transaction
from campusbot.core.pushes import HR_MANDATORY_OVERDUE
from campusbot.core.state import LearnerState
from campusbot.core.tenants import TenantPolicy
from campusbot.core.textmatch import matches_word, normalize
from campusbot.core.texts import Texts

MIN_GROUP = 5  # smaller groups are not shown in summaries
KIND_DE = {"participation": "Teilnahmebestätigung", "certificate": "Zertifikat", "mandatory": "Pflichtschulung"}
COMMANDS = {
    "overdue": ("ueberfaellig", "ueberfaellige", "overdue"),
    "summary": ("zusammenfassung", "monatsbericht", "summary"),
    "export": ("export", "csv", "csv export"),
    "codes": ("einladungscodes", "einladungscode", "codes", "code", "invitation codes"),
    "help": ("hilfe", "help"),
}
MAX_CODES = 50  # per request; more come from 'campusbot enroll-code'
_MONTH = re.compile(r"(\d{4})-(\d{2})$")


class HrReports:
    def __init__(self, catalog: Catalog, texts: Texts, clock: Clock) -> None:
        self._catalog = catalog
        self._texts = texts
        self._clock = clock

    def command(self, text: str) -> tuple[str, str] | None:
        """The HR command in a message ("zusammenfassung 2026-11"), or None for other talk."""
        words = normalize(text).split(" ")
        head, rest = " ".join(words[:1]), " ".join(words[1:]).replace(" ", "-")
        for command, names in COMMANDS.items():
            if matches_word(head, names):
                return command, rest
        return None

    def handle(self, tx: Transaction, tenant: TenantPolicy, members: frozenset[str], sender: str, text: str) -> list[Outgoing] | None:
        found = self.command(text)
        if found is None or tenant.id is None:
            return None
        if sender not in members:
            return [TextMessage(self._t("hr.not_member"))]
        command, argument = found
        if command == "overdue":
            return [TextMessage(self.overdue(tx, tenant.id))]
        if command == "summary":
            month = self._month(argument)
            if month is None:
                return [TextMessage(self._t("hr.bad_month"))]
            return [TextMessage(self.summary(tx, tenant, *month))]
        if command == "export":
            return [self.export(tx, tenant.id)]
        if command == "codes":
            count = int(argument) if argument.isdigit() else 1 if not argument else 0
            if not 1 <= count <= MAX_CODES:
                return [TextMessage(self._t("hr.bad_count", most=MAX_CODES))]
            return [TextMessage(self.codes(tx, tenant, count))]
        return [TextMessage(self._t("hr.help"))]

    def codes(self, tx: Transaction, tenant: TenantPolicy, count: int) -> str:
        """One-time codes that enrol employees of the tenant on Telegram (only their hashes are kept)."""
        now = self._clock.now()
        codes = issue_codes(tx, tenant.id, now, count=count)
        until = (now + DEFAULT_ENROLMENT_VALIDITY).strftime("%d.%m.%Y")
        lines = "\n".join(f"- {code}" for code in codes)
        return self._t("hr.codes", count=count, tenant=tenant.name, until=until) + "\n" + lines

    def _t(self, key: str, **values: object) -> str:
        return self._texts("de", key, **values)

    def _month(self, argument: str) -> tuple[datetime, datetime] | None:
        now = self._clock.now()
        year, month = now.year, now.month
        if argument:
            matched = _MONTH.match(argument)
            if matched is None or not 1 <= int(matched.group(2)) <= 12:
                return None
            year, month = int(matched.group(1)), int(matched.group(2))
        start = datetime(year, month, 1, tzinfo=UTC)
        end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        return start, end

    def _title(self, module_id: str) -> str:
        module = self._catalog.module(module_id)
        return module.title.de if module else module_id

    def overdue(self, tx: Transaction, tenant_id: str) -> str:
        notices = [n for n in tx.hr_notices(tenant_id) if n.kind == HR_MANDATORY_OVERDUE]
        learners = tx.scheduled_learners([n.learner_id for n in notices])
        lines: list[str] = []
        for notice in notices:
            learner = learners.get(notice.learner_id)
            if learner is None:
                continue
            done = learner.state.mandatory_done.get(notice.module_id)
            if done is not None and datetime.fromisoformat(done).date() > notice.due_date:
                continue  # done in the meantime
            name = learner.state.display_name or self._t("certificate.no_name")
            due = notice.due_date.strftime("%d.%m.%Y")
            lines.append(self._t("hr.overdue_line", name=name, module=self._title(notice.module_id), due=due))
        if not lines:
            return self._t("hr.overdue_none")
        return self._t("hr.overdue_title") + "\n" + "\n".join(lines)

    def summary(self, tx: Transaction, tenant: TenantPolicy, start: datetime, end: datetime) -> str:
        """Completions of a month by module, and within each by department (where the tenant has
        departments) or else by role; groups under MIN_GROUP people show no number."""
        completions = tx.tenant_completions(tenant.id or "", start, end)
        people: dict[str, set[int]] = defaultdict(set)
        groups: dict[tuple[str, str], set[int]] = defaultdict(set)
        for completion in completions:
            module_id = completion.achievement.achievement.module_id
            people[module_id].add(completion.learner_id)
            groups[(module_id, self._group(tenant, completion.state))].add(completion.learner_id)
        month = start.strftime("%m/%Y")
        title = self._t("hr.summary_title_departments", month=month) if tenant.departments else self._t("hr.summary_title", month=month)
        lines = [title]
        for module_id in sorted(people, key=self._title):
            count = len(people[module_id])
            shown = str(count) if count >= MIN_GROUP else self._t("hr.suppressed", n=MIN_GROUP)
            lines.append(f"- **{self._title(module_id)}**: {shown}")
            for (module, group), learners in sorted(groups.items()):
                if module != module_id:
                    continue
                size = str(len(learners)) if len(learners) >= MIN_GROUP else self._t("hr.suppressed", n=MIN_GROUP)
                lines.append(f"  - {group}: {size}")
        if len(lines) == 1:
            lines.append(self._t("hr.summary_none"))
        note = self._t("hr.summary_note_departments", n=MIN_GROUP) if tenant.departments else self._t("hr.summary_note", n=MIN_GROUP)
        lines.append(note)
        return "\n".join(lines)

    def _group(self, tenant: TenantPolicy, state: LearnerState) -> str:
        if tenant.departments:
            return state.department or self._t("hr.no_department")
        role = self._catalog.role(state.role_id)
        return role.title.de if role else state.role_id

    def export(self, tx: Transaction, tenant_id: str) -> FileMessage:
        """Every confirmation and certificate of the tenant's learners; a spreadsheet opens it."""
        completions = tx.tenant_completions(tenant_id, datetime(2000, 1, 1, tzinfo=UTC), self._clock.now() + timedelta(days=1))
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=";")
        writer.writerow(["Name", "Bereich", "Modul", "Art", "Datum", "Unterrichtseinheiten", "Nächste Fälligkeit", "Widerrufen"])
        for completion in completions:
            achievement = completion.achievement.achievement
            writer.writerow([
                completion.state.display_name or self._t("certificate.no_name"), completion.state.department,
                self._title(achievement.module_id),
                KIND_DE.get(achievement.kind, achievement.kind), achievement.issued_at.strftime("%d.%m.%Y"),
                f"{achievement.hours:g}".replace(".", ","), achievement.next_due.strftime("%d.%m.%Y") if achievement.next_due else "",
                "ja" if completion.achievement.revoked_at else "",
            ])
        data = ("\ufeff" + buffer.getvalue()).encode("utf-8")  # with a BOM, so spreadsheet programs read UTF-8
        return FileMessage(f"campusbot-nachweise-{tenant_id}.csv", "text/csv", data, self._t("hr.export_caption"))
