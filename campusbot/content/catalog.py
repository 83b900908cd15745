"""The validated content, with lookups the core needs."""

from __future__ import annotations

from dataclasses import dataclass, field

from campusbot.content.models import Area, CheckItems, EvaluationSet, Framework, Interest, Module, Role, Tutorial


@dataclass(frozen=True, slots=True)
class Catalog:
    framework: Framework
    check: CheckItems
    roles: tuple[Role, ...]
    interests: tuple[Interest, ...]
    evaluations: dict[str, EvaluationSet]
    modules: tuple[Module, ...]
    # Sorted by start on construction, whatever order the file has.
    tutorials: tuple[Tutorial, ...] = ()
    _modules_by_id: dict[str, Module] = field(init=False, repr=False)
    _areas_by_code: dict[str, Area] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_modules_by_id", {m.id: m for m in self.modules})
        object.__setattr__(self, "_areas_by_code", {a.code: a for a in self.framework.areas})
        object.__setattr__(self, "tutorials", tuple(sorted(self.tutorials, key=lambda t: (t.starts_at, t.id))))

    def module(self, module_id: str) -> Module | None:
        return self._modules_by_id.get(module_id)

    def tutorials_for(self, module_id: str) -> tuple[Tutorial, ...]:
        """The module's live tutorials, earliest first (past ones included)."""
        return tuple(t for t in self.tutorials if t.module == module_id)

    def area(self, code: str) -> Area | None:
        return self._areas_by_code.get(code)

    def role(self, role_id: str) -> Role | None:
        return next((r for r in self.roles if r.id == role_id), None)
