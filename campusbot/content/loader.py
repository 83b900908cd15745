"""Loads and validates the content folder; every error names file, line and field."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from campusbot.content.catalog import Catalog
from campusbot.content.models import CheckItems, EvaluationSet, Framework, Module, Roles, Tutorials
from campusbot.errors import ContentError

Loc = tuple[str | int, ...]
ModelT = TypeVar("ModelT", bound=BaseModel)
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ContentProblem:
    path: Path
    line: int
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}"
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class _Collector:
    def __init__(self) -> None:
        self.problems: list[ContentProblem] = []

    def add(self, path: Path, line: int, field: str, message: str) -> None:
        self.problems.append(ContentProblem(path, line, field, message))


class _Document:
    """A parsed YAML file that remembers the line of every key and list item."""

    def __init__(self, path: Path, data: Any, lines: dict[Loc, int]) -> None:
        self.path = path
        self.data = data
        self._lines = lines

    def line_of(self, loc: Loc) -> int:
        # A missing key has no line of its own: report the nearest parent that exists.
        for end in range(len(loc), -1, -1):
            line = self._lines.get(loc[:end])
            if line is not None:
                return line
        return 1


# libyaml's parser where it is compiled in; the pure-Python one otherwise.
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _construct(node: yaml.Node, loc: Loc, lines: dict[Loc, int], scalars: yaml.constructor.SafeConstructor) -> Any:
    lines[loc] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = scalars.construct_object(key_node, deep=True)
            key_loc = (*loc, str(key))
            mapping[key] = _construct(value_node, key_loc, lines, scalars)
            lines[key_loc] = key_node.start_mark.line + 1
        return mapping
    if isinstance(node, yaml.SequenceNode):
        return [_construct(item, (*loc, index), lines, scalars) for index, item in enumerate(node.value)]
    return scalars.construct_object(node, deep=True)


def _parse(path: Path, problems: _Collector) -> _Document | None:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.add(path, 1, "", f"cannot read file: {exc}")
        return None
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 1
        problems.add(path, line, "", f"invalid YAML: {exc.problem}")
        return None
    if node is None:
        problems.add(path, 1, "", "the file is empty")
        return None
    lines: dict[Loc, int] = {}
    return _Document(path, _construct(node, (), lines, yaml.constructor.SafeConstructor()), lines)


def _field_name(loc: Loc) -> str:
    name = ""
    for part in loc:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else part)
    return name


def _validate(doc: _Document, model: type[ModelT], problems: _Collector) -> ModelT | None:
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        for error in exc.errors():
            # Pydantic appends the failing union/type branch to loc; keep the data path only.
            loc = tuple(part for part in error["loc"] if isinstance(part, int | str))
            problems.add(doc.path, doc.line_of(loc), _field_name(loc), error["msg"])
        return None


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.yaml") if p.is_file()) if folder.is_dir() else []


@dataclass(frozen=True, slots=True)
class _Located(Generic[T]):
    doc: _Document
    value: T


def _load_all(folder: Path, model: type[ModelT], problems: _Collector) -> Iterator[_Located[ModelT]]:
    for path in _files(folder):
        doc = _parse(path, problems)
        if doc is None:
            continue
        value = _validate(doc, model, problems)
        if value is not None:
            yield _Located(doc, value)


def _load_optional(path: Path, model: type[ModelT], problems: _Collector) -> _Located[ModelT] | None:
    """A single file that older content folders do not have yet: missing is fine, broken is not."""
    if not path.exists():
        return None
    doc = _parse(path, problems)
    if doc is None:
        return None
    value = _validate(doc, model, problems)
    return _Located(doc, value) if value is not None else None


def _unique(items: Iterable[tuple[str, _Document, Loc]], kind: str, problems: _Collector) -> None:
    seen: dict[str, str] = {}
    for ident, doc, loc in items:
        if ident in seen:
            problems.add(doc.path, doc.line_of(loc), _field_name(loc), f"duplicate {kind} {ident!r}, first in {seen[ident]}")
        else:
            seen[ident] = f"{doc.path}:{doc.line_of(loc)}"


def load_catalog(root: Path) -> Catalog:
    """Load every content file below ``root``; raise ``ContentError`` listing all problems."""
    problems = _Collector()
    if not root.is_dir():
        raise ContentError([f"{root}: not a content folder"])

    frameworks = list(_load_all(root / "framework", Framework, problems))
    checks = list(_load_all(root / "check", CheckItems, problems))
    roles_files = list(_load_all(root / "roles", Roles, problems))
    evaluations = list(_load_all(root / "evaluations", EvaluationSet, problems))
    modules = list(_load_all(root / "modules", Module, problems))
    tutorials = _load_optional(root / "tutorials.yaml", Tutorials, problems)

    for folder, found, kind in (
        ("framework", frameworks, "framework"),
        ("check", checks, "competency check"),
    ):
        if len(found) != 1 and not any(p.path.parent.name == folder for p in problems.problems):
            problems.add(root / folder, 1, "", f"expected exactly one {kind} file, found {len(found)}")
    if not roles_files and not any(p.path.parent.name == "roles" for p in problems.problems):
        problems.add(root / "roles", 1, "", "no roles file")
    if not modules and not any(p.path.parent.name == "modules" for p in problems.problems):
        problems.add(root / "modules", 1, "", "no module files")

    if problems.problems:
        raise ContentError([str(p) for p in problems.problems])

    framework = frameworks[0]
    check = checks[0]
    _check_references(framework, check, roles_files, evaluations, modules, problems)
    if tutorials is not None:
        _check_tutorials(tutorials, {m.value.id for m in modules}, problems)
    if problems.problems:
        raise ContentError([str(p) for p in problems.problems])

    return Catalog(
        framework=framework.value,
        check=check.value,
        roles=tuple(r for f in roles_files for r in f.value.roles),
        interests=tuple(i for f in roles_files for i in f.value.interests),
        evaluations={e.value.id: e.value for e in evaluations},
        modules=tuple(m.value for m in modules),
        tutorials=tuple(tutorials.value.tutorials) if tutorials is not None else (),
    )


def _check_references(
    framework: _Located[Framework],
    check: _Located[CheckItems],
    roles_files: list[_Located[Roles]],
    evaluations: list[_Located[EvaluationSet]],
    modules: list[_Located[Module]],
    problems: _Collector,
) -> None:
    areas = {a.code for a in framework.value.areas}
    competences = {c.code for a in framework.value.areas for c in a.competences}
    levels = {lv.level for lv in framework.value.levels}
    interests = {i.id for f in roles_files for i in f.value.interests}
    evaluation_ids = {e.value.id for e in evaluations}
    module_ids = {m.value.id for m in modules}

    def bad(doc: _Document, loc: Loc, message: str) -> None:
        problems.add(doc.path, doc.line_of(loc), _field_name(loc), message)

    for index, sa in enumerate(check.value.self_assessment):
        if sa.area not in areas:
            bad(check.doc, ("self_assessment", index, "area"), f"unknown area {sa.area!r}")
    for index, kn in enumerate(check.value.knowledge):
        if kn.area not in areas:
            bad(check.doc, ("knowledge", index, "area"), f"unknown area {kn.area!r}")
    for index, step in enumerate(check.value.scale):
        if step.level not in levels:
            bad(check.doc, ("scale", index, "level"), f"level {step.level} is not in the framework")
    check_ids = [(item.id, ("self_assessment", index, "id")) for index, item in enumerate(check.value.self_assessment)]
    check_ids += [(item.id, ("knowledge", index, "id")) for index, item in enumerate(check.value.knowledge)]
    _unique(((ident, check.doc, loc) for ident, loc in check_ids), "check item", problems)

    for f in roles_files:
        for index, role in enumerate(f.value.roles):
            missing = sorted(areas - role.targets.keys())
            if missing:
                bad(f.doc, ("roles", index, "targets"), f"no target for area(s) {', '.join(missing)}")
            for area in role.targets:
                if area not in areas:
                    bad(f.doc, ("roles", index, "targets", area), f"unknown area {area!r}")
    _unique(((r.id, f.doc, ("roles", i, "id")) for f in roles_files for i, r in enumerate(f.value.roles)), "role", problems)
    _unique(((r.id, f.doc, ("interests", i, "id")) for f in roles_files for i, r in enumerate(f.value.interests)), "interest", problems)
    _unique(((e.value.id, e.doc, ("id",)) for e in evaluations), "evaluation set", problems)
    _unique(((m.value.id, m.doc, ("id",)) for m in modules), "module", problems)

    for m in modules:
        module, doc = m.value, m.doc
        if doc.path.stem != module.id:
            bad(doc, ("id",), f"module id {module.id!r} must match the file name {doc.path.name!r}")
        for index, area in enumerate(module.areas):
            if area not in areas:
                bad(doc, ("areas", index), f"unknown area {area!r}")
        for index, code in enumerate(module.competences):
            if code not in competences:
                bad(doc, ("competences", index), f"unknown competence {code!r}")
        for index, interest in enumerate(module.interests):
            if interest not in interests:
                bad(doc, ("interests", index), f"unknown interest {interest!r}")
        for index, prerequisite in enumerate(module.prerequisites):
            if prerequisite not in module_ids or prerequisite == module.id:
                bad(doc, ("prerequisites", index), f"unknown module {prerequisite!r}")
        if module.evaluation not in evaluation_ids:
            bad(doc, ("evaluation",), f"unknown evaluation set {module.evaluation!r}")
        _unique(((u.id, doc, ("units", i, "id")) for i, u in enumerate(module.units)), "unit", problems)
        questions = [("quiz", i, q.id) for i, q in enumerate(module.quiz)]
        if module.exam:
            questions += [("exam", i, q.id) for i, q in enumerate(module.exam.items)]
        _unique(
            ((qid, doc, (section, i, "id") if section == "quiz" else ("exam", "items", i, "id")) for section, i, qid in questions),
            "question", problems,
        )
    _check_prerequisite_cycles(modules, problems)


def _check_tutorials(tutorials: _Located[Tutorials], module_ids: set[str], problems: _Collector) -> None:
    doc = tutorials.doc
    for index, tutorial in enumerate(tutorials.value.tutorials):
        if tutorial.module not in module_ids:
            loc: Loc = ("tutorials", index, "module")
            problems.add(doc.path, doc.line_of(loc), _field_name(loc), f"unknown module {tutorial.module!r}")
    _unique(((t.id, doc, ("tutorials", i, "id")) for i, t in enumerate(tutorials.value.tutorials)), "tutorial", problems)


def _check_prerequisite_cycles(modules: list[_Located[Module]], problems: _Collector) -> None:
    graph = {m.value.id: m.value.prerequisites for m in modules}
    docs = {m.value.id: m.doc for m in modules}
    state: dict[str, int] = {}

    def visit(node: str) -> bool:
        state[node] = 1
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1 or (state.get(nxt) is None and nxt in graph and visit(nxt)):
                return True
        state[node] = 2
        return False

    for ident in graph:
        if state.get(ident) is None and visit(ident):
            doc = docs[ident]
            problems.add(doc.path, doc.line_of(("prerequisites",)), "prerequisites", "prerequisites form a cycle")
            return


def default_content_root() -> Path:
    """The shipped ``dialogs/``: next to the package in a checkout, else under ``<prefix>/share/campusbot``."""
    here = Path(__file__).resolve().parent.parent
    for candidate in (here.parent / "dialogs", Path(sys.prefix) / "share" / "campusbot" / "dialogs"):
        if candidate.is_dir():
            return candidate
    return here.parent / "dialogs"
