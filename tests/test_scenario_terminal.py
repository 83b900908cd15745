"""The shared journey (tests/scenario.py) in the terminal channel: typed lines, numbered options."""

from __future__ import annotations

import io
import re
from collections import deque
from pathlib import Path

from campusbot.app import Core
from campusbot.channels.terminal import TerminalChannel
from campusbot.content.catalog import Catalog
from tests.scenario import Said, journey

_OPTION = re.compile(r"^  (\d+)\) (.*)$")
_SAVED = re.compile(r"\[Datei gespeichert: (.+)\]$")


class _Writes(io.StringIO):
    """Standard output that keeps each message the channel prints (one write each)."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: deque[str] = deque()

    def write(self, text: str) -> int:
        self.messages.append(text)
        return super().write(text)


class TerminalLearner:
    def __init__(self, core: Core, files_dir: Path) -> None:
        self.out = _Writes()
        self.channel = TerminalChannel(
            core.turns, core.store, core.texts, core.clock, user="erika", lang=None, out=self.out, files_dir=files_dir,
        )

    async def open(self) -> None:
        self.channel.say("Hallo")

    async def say(self, text: str) -> None:
        self.channel.say(text)

    async def choose(self, *numbers: int) -> None:
        self.channel.say(", ".join(str(n) for n in numbers))  # the terminal's way to tap: type the numbers

    async def next(self) -> Said:
        assert self.out.messages, "the bot said nothing more"
        lines = self.out.messages.popleft().rstrip("\n").split("\n")
        saved = _SAVED.search(lines[-1])
        if saved is not None:
            return Said("\n".join(lines[:-1]), filename=Path(saved.group(1)).name)
        options = [m.group(2) for m in (_OPTION.match(line) for line in lines) if m]
        text = "\n".join(line for line in lines if not _OPTION.match(line))
        return Said(text, tuple(options))


async def test_journey_in_the_terminal(core: Core, catalog: Catalog, tmp_path: Path) -> None:
    learner = TerminalLearner(core, tmp_path / "files")
    files = await journey(learner, catalog)
    # The terminal saves files to disk: both are there, and the credential is JSON.
    saved = {path.suffix: path for path in (tmp_path / "files").iterdir()}
    assert saved[".pdf"].read_bytes().startswith(b"%PDF")
    assert saved[".json"].read_text(encoding="utf-8").lstrip().startswith("{")
    assert {f.filename for f in files} == {p.name for p in saved.values()}
