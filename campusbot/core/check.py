"""The competency check: self-assessment and knowledge items per area, and their result."""

from __future__ import annotations

from dataclasses import dataclass

from campusbot.content.catalog import Catalog
from campusbot.content.models import KnowledgeItem, SelfAssessmentItem


@dataclass(frozen=True, slots=True)
class AreaResult:
    area: str
    level: int
    target: int | None

    @property
    def gap(self) -> int:
        return max(0, (self.target or 0) - self.level)


class CompetencyCheckService:
    """Orders the check items by area and turns answers into a level per area."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        items: list[SelfAssessmentItem | KnowledgeItem] = []
        for area in catalog.framework.areas:
            items += [i for i in catalog.check.self_assessment if i.area == area.code]
            items += [i for i in catalog.check.knowledge if i.area == area.code]
        self.items: tuple[SelfAssessmentItem | KnowledgeItem, ...] = tuple(items)

    def option_labels(self, item: SelfAssessmentItem | KnowledgeItem, lang: str) -> list[str]:
        if isinstance(item, KnowledgeItem):
            return [o.get(lang) for o in item.options]
        return [step.label.get(lang) for step in self._catalog.check.scale]

    def answer_value(self, item: SelfAssessmentItem | KnowledgeItem, option_index: int) -> int:
        """What is stored for an answer: the scale level, or the chosen option's number."""
        if isinstance(item, KnowledgeItem):
            return option_index + 1
        return self._catalog.check.scale[option_index].level

    def results(self, answers: dict[str, int], targets: dict[str, int]) -> list[AreaResult]:
        """Mean of self-assessed levels and the hardest knowledge item answered right, rounded half up."""
        results = []
        for area in self._catalog.framework.areas:
            own = [answers[i.id] for i in self.items if isinstance(i, SelfAssessmentItem) and i.area == area.code and i.id in answers]
            known = [
                i.level for i in self.items
                if isinstance(i, KnowledgeItem) and i.area == area.code and answers.get(i.id) == i.correct
            ]
            self_level = sum(own) / len(own) if own else 1.0
            knowledge_level = max(known, default=1)
            level = int((self_level + knowledge_level) / 2 + 0.5)
            results.append(AreaResult(area.code, max(1, min(8, level)), targets.get(area.code)))
        return results
