"""A recording test bot: say something, then assert on what the bot sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from campusbot.channels.memory import MemoryChannel
from campusbot.content.catalog import Catalog
from campusbot.core.clock import FixedClock
from campusbot.core.messages import ChoiceMessage, FileMessage, Outgoing, TextMessage


@dataclass(frozen=True)
class Reply:
    messages: list[Outgoing]

    @property
    def text(self) -> str:
        parts: list[str] = []
        for message in self.messages:
            if isinstance(message, TextMessage):
                parts.append(message.text)
            elif isinstance(message, ChoiceMessage):
                parts.append(message.prompt)
                parts += [f"{o.key}) {o.label}" for o in message.options]
            elif isinstance(message, FileMessage):
                parts.append(f"[file {message.filename}] {message.caption}")
        return "\n".join(parts)

    @property
    def choice(self) -> ChoiceMessage:
        choices = [m for m in self.messages if isinstance(m, ChoiceMessage)]
        assert choices, f"no question was asked; the bot said:\n{self.text}"
        return choices[-1]

    def asks(self, step: str) -> bool:
        """Does the reply end with a question of this dialog step ("quiz", "evaluation", ...)?"""
        choices = [m for m in self.messages if isinstance(m, ChoiceMessage)]
        return bool(choices) and choices[-1].choice_id.startswith(f"{step}:")

    @property
    def files(self) -> list[FileMessage]:
        return [m for m in self.messages if isinstance(m, FileMessage)]


class RecordingBot:
    def __init__(self, channel: MemoryChannel, user: str = "anna", lang: str | None = None) -> None:
        self.channel = channel
        self.user = user
        self.lang = lang
        self.last: Reply = Reply([])

    def say(self, text: str, *, event_id: str | None = None) -> Reply:
        self.last = Reply(self.channel.deliver(self.user, text, event_id=event_id, lang=self.lang))
        return self.last

    def tap(self, *keys: str) -> Reply:
        """Answer the last question as a poll or button would."""
        choice = self.last.choice
        self.last = Reply(self.channel.deliver(self.user, kind="choice", choice_id=choice.choice_id, option_keys=keys, lang=self.lang))
        return self.last

    def open(self) -> Reply:
        self.last = Reply(self.channel.deliver(self.user, kind="open", lang=self.lang))
        return self.last


def onboard(bot: RecordingBot, role: str = "1", interests: str = "2, 7") -> Reply:
    """Greeting, consent, role and interests; ends at the check's start question."""
    bot.say("Hallo")
    bot.say("ja")
    bot.say(role)
    return bot.say(interests)


def answer_check(bot: RecordingBot, catalog: Catalog, *, self_level: str = "2", knowledge_right: bool = False) -> Reply:
    """Answer every check item; self-assessments with ``self_level``, knowledge items right or wrong."""
    reply = bot.last
    by_prompt = {k.prompt.de: k for k in catalog.check.knowledge} | {k.prompt.en: k for k in catalog.check.knowledge}
    while any(isinstance(m, ChoiceMessage) and m.choice_id.startswith("check:") for m in reply.messages):
        prompt = reply.choice.prompt.split("\n\n", 1)[1]
        item = by_prompt.get(prompt)
        answer = self_level if item is None else str(item.correct if knowledge_right else item.correct % len(item.options) + 1)
        reply = bot.say(answer)
    return reply


def study_units(bot: RecordingBot, units: int, *, quiz_answer: str = "1") -> Reply:
    """Go through units: read, pick the first evaluation option, skip free text, answer the quiz."""
    reply = bot.last
    for _ in range(units):
        bot.say("weiter")
        reply = bot.say("fertig")
        while reply.asks("evaluation") or "„-“ zum Überspringen" in reply.text:
            reply = bot.say("1" if reply.asks("evaluation") else "-")
        while reply.asks("quiz"):
            reply = bot.say(quiz_answer)
    return reply


class ShiftedClock:
    """Wall-clock time (outbox retries come due), which a test can move ahead (codes expire,
    live tutorials take place)."""

    def __init__(self) -> None:
        self.offset = timedelta()

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


def after_tutorial(bot: RecordingBot, catalog: Catalog, module_id: str) -> None:
    """Move the bot's clock to the end of the module's first live tutorial."""
    clock = bot.channel.clock
    assert isinstance(clock, FixedClock | ShiftedClock)
    move_past_tutorial(clock, catalog, module_id)


def move_past_tutorial(clock: FixedClock | ShiftedClock, catalog: Catalog, module_id: str) -> None:
    tutorial = catalog.tutorials_for(module_id)[0]
    end = tutorial.starts_at + timedelta(minutes=tutorial.minutes)
    if clock.now() < end:
        clock.advance(end - clock.now())
