"""Channel-neutral messages: what a learner sends and what the bot says.

Texts carry light markup only: paragraphs separated by a blank line, lines
starting with "- " as a list, and ``**bold**``. Every transport renders this
in its own idiom and escapes it for HTML itself.
"""

from __future__ import annotations

import base64
import json
import re
from dataclasses import dataclass
from typing import Any, Literal, NewType

LearnerId = NewType("LearnerId", int)
ChannelName = NewType("ChannelName", str)

IncomingKind = Literal["message", "choice", "open"]

# The light markup's only inline element: **bold**.
BOLD = re.compile(r"\*\*(.+?)\*\*", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Incoming:
    """One event from a learner.

    ``kind`` is "message" for typed text, "choice" when the learner tapped an
    option (a poll answer or a button: ``choice_id`` names the question and
    ``option_keys`` the chosen options) and "open" when a conversation was opened
    (an invite, /start): the bot greets or shows where the learner left off.
    """

    channel: ChannelName
    sender: str
    address: str
    event_id: str
    text: str = ""
    kind: IncomingKind = "message"
    choice_id: str = ""
    option_keys: tuple[str, ...] = ()
    lang_hint: str | None = None
    tenant_id: str | None = None  # the municipality the channel placed the sender in, if any
    display_name: str | None = None  # the sender's name as the network shows it, if any


@dataclass(frozen=True, slots=True)
class Option:
    key: str
    label: str


@dataclass(frozen=True, slots=True)
class TextMessage:
    text: str


@dataclass(frozen=True, slots=True)
class ChoiceMessage:
    """A question with options; transports show a poll, buttons or a numbered list.

    The learner may always answer by typing the number, letter or text instead.
    """

    choice_id: str
    prompt: str
    options: tuple[Option, ...]
    multiple: bool = False
    quiz: bool = False


@dataclass(frozen=True, slots=True)
class FileMessage:
    filename: str
    mimetype: str
    data: bytes
    caption: str = ""


@dataclass(frozen=True, slots=True)
class DataMessage:
    """Structured data for a machine on the other end (an HR notice for a webhook or an LRS)."""

    kind: str
    data: dict[str, Any]


Outgoing = TextMessage | ChoiceMessage | FileMessage | DataMessage


def encode_message(message: Outgoing) -> str:
    """Serialise a message for the outbox."""
    payload: dict[str, Any]
    match message:
        case TextMessage(text=text):
            payload = {"type": "text", "text": text}
        case ChoiceMessage():
            payload = {
                "type": "choice",
                "choice_id": message.choice_id,
                "prompt": message.prompt,
                "options": [[o.key, o.label] for o in message.options],
                "multiple": message.multiple,
                "quiz": message.quiz,
            }
        case FileMessage():
            payload = {
                "type": "file",
                "filename": message.filename,
                "mimetype": message.mimetype,
                "data": base64.b64encode(message.data).decode("ascii"),
                "caption": message.caption,
            }
        case DataMessage():
            payload = {"type": "data", "kind": message.kind, "data": message.data}
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def decode_message(raw: str) -> Outgoing:
    payload = json.loads(raw)
    kind = payload["type"]
    if kind == "text":
        return TextMessage(payload["text"])
    if kind == "choice":
        return ChoiceMessage(
            choice_id=payload["choice_id"],
            prompt=payload["prompt"],
            options=tuple(Option(k, label) for k, label in payload["options"]),
            multiple=payload["multiple"],
            quiz=payload["quiz"],
        )
    if kind == "data":
        return DataMessage(payload["kind"], payload["data"])
    if kind == "file":
        return FileMessage(
            filename=payload["filename"],
            mimetype=payload["mimetype"],
            data=base64.b64decode(payload["data"]),
            caption=payload["caption"],
        )
    raise ValueError(f"unknown outbox message type {kind!r}")
