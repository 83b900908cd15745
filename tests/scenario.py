"""One learner journey, written once and run on every channel: terminal, Matrix and Telegram.

Each channel's test supplies a ``Learner``: it sends what the learner says or taps
in that channel's own way (a typed line, a poll response, an inline-keyboard
press) and reads back what the bot sent, one message at a time, as ``Said``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePath
from typing import Protocol

from campusbot.content.catalog import Catalog


@dataclass(frozen=True)
class Said:
    """One bot message as the learner sees it: plain text, a question's options, a file."""

    text: str
    options: tuple[str, ...] = ()
    filename: str | None = None

    @property
    def is_question(self) -> bool:
        return bool(self.options)


class Learner(Protocol):
    async def open(self) -> None:
        """Start the conversation the channel's way (open a DM, redeem a code, say hello)."""

    async def say(self, text: str) -> None: ...

    async def choose(self, *numbers: int) -> None:
        """Answer the open question by tapping options (1-based), as the channel lets one tap."""

    async def next(self) -> Said:
        """The bot's next message (bounded wait)."""


async def question(learner: Learner) -> tuple[Said, list[Said]]:
    """Read up to the next question; returns it and what came before it."""
    before: list[Said] = []
    while True:
        said = await learner.next()
        if said.is_question:
            return said, before
        before.append(said)


async def journey(learner: Learner, catalog: Catalog) -> list[Said]:
    """Greeting, consent, role, interests, the check (tapped and typed), the plan, the units of
    the first module with evaluations and quiz, its exam, and the confirmation with its files.
    Returns the files the learner received."""
    await learner.open()
    asked, before = await question(learner)
    assert any("campusbot" in s.text for s in before), before
    assert "Sind Sie damit einverstanden?" in asked.text
    await learner.choose(1)
    asked, _ = await question(learner)
    assert "Welche Rolle" in asked.text
    await learner.say("Führungskraft")
    asked, _ = await question(learner)
    assert "Welche Themen" in asked.text
    await learner.choose(2, 7)
    asked, _ = await question(learner)
    await learner.say("starten")
    total = len(catalog.check.self_assessment) + len(catalog.check.knowledge)
    for number in range(1, total + 1):
        asked, _ = await question(learner)
        assert f"Frage {number} von {total}" in asked.text
        if number % 2:
            await learner.choose(2)
        else:
            await learner.say("b")
    asked, before = await question(learner)
    assert any("Ihr Ergebnis" in s.text for s in before)
    assert any("Ihr Lernplan" in s.text and "weil" in s.text for s in before)
    await learner.say("annehmen")
    asked, _ = await question(learner)
    await learner.choose(1)  # "Weiter lernen"
    return await _first_module(learner, catalog)


async def _first_module(learner: Learner, catalog: Catalog) -> list[Said]:
    """Work through units, evaluations, quiz and exam until the confirmation's two files arrive."""
    exam_answers = {item.prompt.de: item.correct for module in catalog.modules if module.exam for item in module.exam.items}
    seen: dict[str, int] = {}
    files: list[Said] = []
    completed = False
    while len(files) < 2:
        said = await learner.next()
        if said.filename:
            files.append(said)
            continue
        for marker in ("Einheit 1 von", "Auswertung 1 von", "Quizfrage 1 von", "Prüfungsfrage 1 von"):
            if marker in said.text:
                seen[marker] = seen.get(marker, 0) + 1
        if not said.is_question:
            completed |= any(done in said.text for done in ("ist erledigt", "ist vermerkt"))
            if "„-“ zum Überspringen" in said.text:
                await learner.say("-")
            continue
        text = said.text
        if completed:
            continue  # the confirmation came: only its files are still to arrive
        if "Haben Sie die Einheit gelesen?" in text:
            await learner.say("fertig")
        elif "Auswertung" in text:
            await learner.choose(4)
        elif "Quizfrage" in text:
            await learner.choose(1)
        elif "Prüfungsfrage" in text:
            prompt = text.split("\n\n", 1)[1].strip()
            await learner.choose(exam_answers[prompt])
        else:  # the exam's introduction ("Jetzt starten"), "Was möchten Sie tun?" ("Weiter lernen")
            await learner.choose(1)
    assert completed
    assert seen.get("Einheit 1 von", 0) >= 1
    assert seen.get("Auswertung 1 von", 0) >= 1
    assert seen.get("Quizfrage 1 von", 0) >= 1
    assert sorted(PurePath(f.filename or "").suffix for f in files) == [".json", ".pdf"]
    return files
