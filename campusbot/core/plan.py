"""The learning plan: modules ranked by mandatory deadlines, gap to the role's target,
interests and prerequisites, each with the reasons it was suggested."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from campusbot.content.catalog import Catalog
from campusbot.content.models import Module
from campusbot.core.state import LearnerState

# A new learner has four weeks for a mandatory training they have never done.
FIRST_MANDATORY_DUE = timedelta(days=28)
# A mandatory training is back in the plan this long before it is due again.
MANDATORY_LEAD = timedelta(days=60)

ReasonKind = Literal["mandatory", "gap", "interest", "prerequisite", "deepen"]


@dataclass(frozen=True, slots=True)
class Reason:
    kind: ReasonKind
    subject: str = ""
    level: int = 0
    target: int = 0
    due: date | None = None


@dataclass(frozen=True, slots=True)
class PlanSuggestion:
    module: Module
    reasons: tuple[Reason, ...]


def add_months(day: date, months: int) -> date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    for candidate in (day.day, 30, 29, 28):
        try:
            return date(year, month, candidate)
        except ValueError:
            continue
    raise AssertionError("unreachable")


class PlanService:
    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog

    def mandatory_due(self, state: LearnerState, module: Module) -> date | None:
        if module.mandatory is None:
            return None
        done = state.mandatory_done.get(module.id)
        if done is not None:
            return add_months(datetime.fromisoformat(done).date(), module.mandatory.recurrence_months)
        return (datetime.fromisoformat(state.enrolled_at) + FIRST_MANDATORY_DUE).date()

    def is_finished(self, state: LearnerState, module: Module, today: date) -> bool:
        """Done for now: a mandatory training until it is nearly due again, any other module once completed."""
        if module.mandatory is not None:
            due = self.mandatory_due(state, module)
            return module.id in state.mandatory_done and due is not None and due - today > MANDATORY_LEAD
        progress = state.progress.get(module.id)
        return progress is not None and progress.participation_at is not None

    def reasons(self, state: LearnerState, module: Module, today: date) -> tuple[Reason, ...]:
        reasons: list[Reason] = []
        due = self.mandatory_due(state, module)
        if due is not None:
            reasons.append(Reason("mandatory", due=due))
        role = self._catalog.role(state.role_id)
        if role is not None:
            for area in module.areas:
                level = state.levels.get(area, 1)
                target = min(role.targets.get(area, 0), module.level)
                if target > level:
                    reasons.append(Reason("gap", subject=area, level=level, target=role.targets[area]))
                    break
        reasons += [Reason("interest", subject=i) for i in module.interests if i in state.interests][:1]
        return tuple(reasons)

    def suggest(self, state: LearnerState, now: datetime) -> list[PlanSuggestion]:
        """Rank the open modules; prerequisites are pulled in and put first."""
        today = now.date()
        scored: list[tuple[tuple[int, int, str], PlanSuggestion]] = []
        for module in self._catalog.modules:
            if self.is_finished(state, module, today):
                continue
            reasons = self.reasons(state, module, today)
            if not reasons:
                continue
            rank = self._rank(module, reasons)
            scored.append((rank, PlanSuggestion(module, reasons)))
        if not scored:
            # Every target is met: offer what deepens the learner's knowledge.
            scored = [
                ((0, m.level, m.id), PlanSuggestion(m, (Reason("deepen"),)))
                for m in self._catalog.modules if not self.is_finished(state, m, today)
            ]
        scored.sort(key=lambda pair: pair[0])
        return self._with_prerequisites([s for _, s in scored], state, today)

    def _rank(self, module: Module, reasons: tuple[Reason, ...]) -> tuple[int, int, str]:
        due = next((r.due for r in reasons if r.due is not None), None)
        if due is not None:
            return (-10_000_000 + due.toordinal(), 0, module.id)
        gap = max((r.target - r.level for r in reasons if r.kind == "gap"), default=0)
        interest = any(r.kind == "interest" for r in reasons)
        return (-(gap * 10 + (5 if interest else 0)), module.level, module.id)

    def _with_prerequisites(self, ranked: list[PlanSuggestion], state: LearnerState, today: date) -> list[PlanSuggestion]:
        ordered: list[PlanSuggestion] = []
        placed: set[str] = set()

        def place(suggestion: PlanSuggestion) -> None:
            if suggestion.module.id in placed:
                return
            placed.add(suggestion.module.id)
            for prerequisite_id in suggestion.module.prerequisites:
                prerequisite = self._catalog.module(prerequisite_id)
                if prerequisite is None or self.is_finished(state, prerequisite, today):
                    continue
                existing = next((s for s in ranked if s.module.id == prerequisite_id), None)
                needed = PlanSuggestion(prerequisite, (Reason("prerequisite", subject=suggestion.module.id),))
                place(existing or needed)
            ordered.append(suggestion)

        for suggestion in ranked:
            place(suggestion)
        return ordered

    def explain(self, state: LearnerState, module: Module, today: date) -> tuple[Reason, ...]:
        """Why a module stands in the learner's plan."""
        reasons = self.reasons(state, module, today)
        if reasons:
            return reasons
        for other_id in state.plan:
            other = self._catalog.module(other_id)
            if other is not None and module.id in other.prerequisites:
                return (Reason("prerequisite", subject=other.id),)
        return (Reason("deepen"),)
