"""The shipped catalogue is complete, and broken files get errors with file, line and field."""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from campusbot.content.catalog import Catalog
from campusbot.content.loader import default_content_root, load_catalog
from campusbot.errors import ContentError


def test_framework_follows_digcomp_2_2(catalog: Catalog) -> None:
    areas = catalog.framework.areas
    assert [a.code for a in areas] == ["1", "2", "3", "4", "5"]
    assert [len(a.competences) for a in areas] == [3, 6, 4, 4, 4]
    assert [lv.level for lv in catalog.framework.levels] == list(range(1, 9))
    assert "CC BY 4.0" in catalog.framework.attribution.de
    assert "Joint Research Centre" in catalog.framework.attribution.en


def test_check_has_self_assessment_and_knowledge_items_in_every_area(catalog: Catalog) -> None:
    for area in catalog.framework.areas:
        assert any(i.area == area.code for i in catalog.check.self_assessment)
        assert any(i.area == area.code for i in catalog.check.knowledge)


def test_demo_catalogue_is_what_a_municipality_needs_on_day_one(catalog: Catalog) -> None:
    assert {"buergerservice", "fuehrungskraft", "digitalisierung", "allgemein"} <= {r.id for r in catalog.roles}
    regular = [m for m in catalog.modules if m.mandatory is None]
    assert len(regular) >= 8
    for module in catalog.modules:
        assert len(module.units) >= 3
        assert len(module.quiz) >= 5
        assert module.evaluation in catalog.evaluations
        for unit in module.units:
            words = len(unit.body.de.split())
            assert 250 <= words <= 700, f"{module.id}/{unit.id} has {words} words"
    assert len([m for m in regular if m.exam is not None]) >= 2
    mandatory = {m.id: m.mandatory for m in catalog.modules if m.mandatory is not None}
    assert set(mandatory) >= {"pflicht-datenschutz", "pflicht-informationssicherheit"}
    assert all(m.recurrence_months == 12 for m in mandatory.values())


@pytest.fixture
def content(tmp_path: Path) -> Path:
    root = tmp_path / "dialogs"
    shutil.copytree(default_content_root(), root)
    return root


def problems(root: Path) -> list[str]:
    with pytest.raises(ContentError) as caught:
        load_catalog(root)
    return caught.value.problems


def replace(path: Path, old: str, new: str) -> int:
    """Replace the first occurrence and return its 1-based line number."""
    text = path.read_text(encoding="utf-8")
    index = text.index(old)
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return text[:index].count("\n") + 1


def test_shipped_content_loads(content: Path) -> None:
    assert len(load_catalog(content).modules) >= 10


def test_unknown_key_names_file_line_and_field(content: Path) -> None:
    path = content / "modules" / "datenschutz.yaml"
    line = replace(path, "\nhours:", "\nhuors:") + 1
    found = problems(content)
    assert f"{path}:{line}: huors: Extra inputs are not permitted" in found
    assert f"{path}:1: hours: Field required" in found


def test_missing_translation_points_at_the_text(content: Path) -> None:
    path = content / "roles" / "roles.yaml"
    line = replace(path, "title: {de: Führungskraft, en: Manager}", "title: {en: Manager}")
    [problem] = problems(content)
    assert problem == f"{path}:{line}: roles[1].title.de: Field required"


def test_a_correct_answer_that_is_not_an_option(content: Path) -> None:
    path = content / "modules" / "projektmanagement.yaml"
    line = replace(path, "correct: 2", "correct: 7")
    [problem] = problems(content)
    assert problem.startswith(f"{path}:")
    assert "quiz[0]" in problem
    assert "correct is 7 but there are only" in problem
    assert int(problem.split(":")[1]) <= line


def test_broken_yaml_names_the_line(content: Path) -> None:
    path = content / "modules" / "projektmanagement.yaml"
    line = replace(path, "\nlevel: 4", "\nlevel: [4")
    [problem] = problems(content)
    assert problem.startswith(f"{path}:")
    assert "invalid YAML" in problem
    assert int(problem.split(":")[1]) >= line


def test_references_are_checked(content: Path) -> None:
    path = content / "modules" / "ki-in-der-verwaltung.yaml"
    line = replace(path, "- datenschutz\n", "- datenschutz-alt\n") if "- datenschutz\n" in path.read_text() else replace(
        path, "[datenschutz]", "[datenschutz-alt]"
    )
    found = problems(content)
    assert f"{path}:{line}: prerequisites[0]: unknown module 'datenschutz-alt'" in found


def test_unknown_competence_and_area(content: Path) -> None:
    path = content / "modules" / "datenschutz.yaml"
    replace(path, '"4.2"', '"4.9"')
    found = problems(content)
    assert any(p.startswith(f"{path}:") and "competences[0]: unknown competence '4.9'" in p for p in found)


def test_content_check_command_exits_non_zero_with_readable_errors(content: Path) -> None:
    path = content / "modules" / "datenschutz.yaml"
    replace(path, "\nhours:", "\nhuors:")
    bad = subprocess.run([sys.executable, "-m", "campusbot", "content", "check", str(content)], capture_output=True, text=True, check=False)
    assert bad.returncode == 1
    assert f"{path}:" in bad.stderr
    assert "huors" in bad.stderr
    good = subprocess.run([sys.executable, "-m", "campusbot", "content", "check"], capture_output=True, text=True, check=False)
    assert good.returncode == 0, good.stderr
    assert "ok:" in good.stdout


def test_shipped_tutorials_are_sorted_and_belong_to_modules(catalog: Catalog) -> None:
    tutorials = catalog.tutorials
    assert len(tutorials) >= 4
    assert [t.starts_at for t in tutorials] == sorted(t.starts_at for t in tutorials)
    assert tutorials[0].starts_at.date() == date(2026, 12, 9)
    for tutorial in tutorials:
        assert catalog.module(tutorial.module) is not None
        assert tutorial.starts_at.utcoffset() is not None
        assert tutorial.join_url.startswith("https://")
        assert tutorial in catalog.tutorials_for(tutorial.module)
    assert {"ozg-digitale-verwaltung", "informationssicherheit", "ki-in-der-verwaltung"} <= {t.module for t in tutorials}
    assert catalog.tutorials_for("projektmanagement") == tuple(t for t in tutorials if t.module == "projektmanagement")


def test_content_without_tutorials_file_still_loads(content: Path) -> None:
    (content / "tutorials.yaml").unlink()
    assert load_catalog(content).tutorials == ()


def test_tutorial_start_without_offset_names_file_line_and_field(content: Path) -> None:
    path = content / "tutorials.yaml"
    line = replace(path, "starts_at: 2027-02-10T10:00:00+01:00", "starts_at: 2027-02-10T10:00:00")
    [problem] = problems(content)
    assert problem == f"{path}:{line}: tutorials[1].starts_at: Input should have timezone info"


def test_tutorial_for_unknown_module_names_file_line_and_field(content: Path) -> None:
    path = content / "tutorials.yaml"
    line = replace(path, "module: ki-in-der-verwaltung", "module: ki-grundkurs")
    [problem] = problems(content)
    assert problem == f"{path}:{line}: tutorials[3].module: unknown module 'ki-grundkurs'"


def test_tutorial_join_url_must_be_https(content: Path) -> None:
    path = content / "tutorials.yaml"
    line = replace(path, "join_url: https://meet.example.org/campusbot/phishing-live", "join_url: http://meet.example.org/campusbot/phishing-live")
    [problem] = problems(content)
    assert problem == f"{path}:{line}: tutorials[2].join_url: Value error, must be an https:// URL"


def test_duplicate_tutorial_id_is_rejected(content: Path) -> None:
    path = content / "tutorials.yaml"
    line = replace(path, "id: phishing-live-2027-03", "id: ozg-fragestunde-2027-02")
    [problem] = problems(content)
    assert problem.startswith(f"{path}:{line}: tutorials[2].id: duplicate tutorial 'ozg-fragestunde-2027-02', first in {path}:")
