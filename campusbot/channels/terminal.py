"""The terminal channel: one learner talking to the bot on standard input and output.

On a terminal it is interactive; otherwise it reads one learner message per line
and prints the bot's messages, so that it can be scripted.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from campusbot.core.clock import Clock
from campusbot.core.messages import BOLD, ChannelName, ChoiceMessage, FileMessage, Incoming, IncomingKind, Outgoing, TextMessage
from campusbot.core.ports import Store
from campusbot.core.texts import Texts
from campusbot.core.turns import TurnService

CHANNEL = ChannelName("terminal")


def render_text(text: str, *, ansi: bool) -> str:
    return BOLD.sub(lambda m: f"\033[1m{m.group(1)}\033[0m" if ansi else m.group(1), text)


class TerminalChannel:
    def __init__(
        self,
        turns: TurnService,
        store: Store,
        texts: Texts,
        clock: Clock,
        *,
        user: str,
        lang: str | None,
        out: TextIO,
        files_dir: Path,
        ansi: bool = False,
    ) -> None:
        self._turns = turns
        self._store = store
        self._texts = texts
        self._clock = clock
        self._user = user
        self._address = f"terminal:{user}"
        self._lang = lang
        self._out = out
        self._files_dir = files_dir
        self._ansi = ansi

    def say(self, text: str, kind: IncomingKind = "message") -> None:
        """Hand one learner message to the core, then print what the bot answers."""
        incoming = Incoming(
            channel=CHANNEL, sender=self._user, address=self._address, event_id=uuid.uuid4().hex,
            text=text, kind=kind, lang_hint=self._lang,
        )
        self._turns.handle(incoming)
        self.drain()

    def run(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.say(line.rstrip("\r\n"))

    def drain(self) -> None:
        """Print every queued message for this learner, in order, and remove it from the outbox."""
        with self._store.transaction() as tx:
            for item in tx.pending_outbox(CHANNEL, 1000, self._clock.now(), address=self._address):
                self._print(item.message)
                tx.mark_delivered(item.id)
        self._out.flush()

    def _print(self, message: Outgoing) -> None:
        match message:
            case TextMessage(text=text):
                self._out.write(render_text(text, ansi=self._ansi) + "\n\n")
            case ChoiceMessage(prompt=prompt, options=options):
                lines = [render_text(prompt, ansi=self._ansi)] + [f"  {o.key}) {o.label}" for o in options]
                self._out.write("\n".join(lines) + "\n\n")
            case FileMessage():
                path = self._save(message)
                caption = f"{message.caption}\n" if message.caption else ""
                self._out.write(caption + self._texts(self._lang or "de", "terminal.file_saved", path=path) + "\n\n")

    def _save(self, message: FileMessage) -> Path:
        self._files_dir.mkdir(parents=True, exist_ok=True)
        stem, _, suffix = message.filename.rpartition(".")
        path = self._files_dir / message.filename
        counter = 1
        while path.exists():
            counter += 1
            path = self._files_dir / f"{stem}-{counter}.{suffix}"
        path.write_bytes(message.data)
        return path
