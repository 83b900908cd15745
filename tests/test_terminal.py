"""The scripted terminal chat, as a newcomer would run it: one subprocess per session."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from campusbot.content.catalog import Catalog


def chat(tmp_path: Path, lines: list[str], *extra: str) -> str:
    env = {**os.environ, "CAMPUSBOT_DATA_DIR": str(tmp_path / "data")}
    result = subprocess.run(
        [sys.executable, "-m", "campusbot", "chat", "--user", "erika", "--db", str(tmp_path / "chat.sqlite3"), *extra],
        input="\n".join(lines) + "\n", capture_output=True, text=True, env=env, timeout=120, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    return result.stdout


def check_answers(catalog: Catalog) -> list[str]:
    """Self-assessments "Mit Hilfe", knowledge items answered right, by letter."""
    answers = []
    for area in catalog.framework.areas:
        answers += ["2"] * len([i for i in catalog.check.self_assessment if i.area == area.code])
        answers += ["abcdef"[k.correct - 1] for k in catalog.check.knowledge if k.area == area.code]
    return answers


@pytest.mark.slow
def test_whole_journey_in_the_terminal_across_a_restart(tmp_path: Path, catalog: Catalog) -> None:
    first = chat(tmp_path, ["Hallo", "Ja", "Fuehrungskraft", "Informationssicherheit, KI", "starten", *check_answers(catalog)[:7]])
    assert "Sind Sie damit einverstanden?\n  1) Ja, einverstanden\n  2) Nein" in first
    assert "Frage 8 von 20" in first.rsplit("\n\n", 3)[-3]

    # A new process continues the check where the first one stopped.
    second_lines = [*check_answers(catalog)[7:], "annehmen"]
    module = catalog.module("pflicht-datenschutz")
    assert module is not None
    assert module.exam is not None
    evaluation = catalog.evaluations[module.evaluation]
    for number in range(len(module.units)):
        second_lines += ["weiter", "fertig gelesen"]
        second_lines += ["4" if q.kind == "rating" else "-" for q in evaluation.questions]
        second_lines += [str(q.correct) for i, q in enumerate(module.quiz) if i % len(module.units) == number]
    second_lines += ["Jetzt starten", *[str(item.correct) for item in module.exam.items], "status", "export"]
    second = chat(tmp_path, second_lines)
    # Its first line answered question 8, so the bot goes on with question 9.
    assert second.startswith("Frage 9 von 20")
    assert "Ihr Ergebnis" in second
    assert "Ihr Lernplan" in second
    assert "weil" in second
    assert "1. Pflichtunterweisung Datenschutz (jährlich)" in second
    assert f"Einheit 1 von 3: {module.units[0].title.de}" in second
    assert "Richtig!" in second
    assert "Bestanden! 5 von 5" in second
    assert "Die nächste ist fällig am" in second
    assert f"- {module.title.de}: 3 von 3 Einheiten" in second
    marker = "[Datei gespeichert: "
    saved = [line.removeprefix(marker).rstrip("]") for line in second.splitlines() if line.startswith(marker)]
    # The completed trainings came with their confirmations: a PDF and a signed credential each.
    assert any(path.endswith(".pdf") for path in saved)
    assert any(path.endswith(".credential.json") for path in saved)
    export = json.loads(Path(next(path for path in saved if "campusbot-daten" in path)).read_text(encoding="utf-8"))
    assert export["learner"]["achievements"][0]["kind"] == "mandatory"
    assert export["learner"]["state"]["role_id"] == "fuehrungskraft"

    third = chat(tmp_path, ["löschen", "ja", "status"])
    assert "Alle Ihre Daten sind gelöscht" in third
    assert "Sind Sie damit einverstanden?" in third  # after erasure, a message starts from scratch


@pytest.mark.slow
def test_terminal_speaks_english_when_asked(tmp_path: Path) -> None:
    out = chat(tmp_path, ["hello", "yes", "5", "none", "later", "help"], "--lang", "en")
    assert "Do you agree?" in out
    assert "Which role fits your work best?" in out
    assert "How to talk to me" in out
    assert "\n  1) Continue learning" in out
