"""Matrix rendering: the core's messages as Element shows them, and learner events read back.

Bot messages are ``m.notice`` with a plain ``body`` and a ``formatted_body`` in
the spec's HTML subset. Every piece of text is escaped before any markup is
added, so learner text that the core echoes can never inject HTML. Choices are
MSC3381 polls in the unstable form Element sends and renders today.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from campusbot.core.messages import BOLD, ChoiceMessage

_REPLY = re.compile(r"<mx-reply>.*?</mx-reply>", re.DOTALL | re.IGNORECASE)

POLL_START = "org.matrix.msc3381.poll.start"
POLL_END = "org.matrix.msc3381.poll.end"
POLL_RESPONSE_TYPES = ("org.matrix.msc3381.poll.response", "m.poll.response")
_POLL_KIND = "org.matrix.msc3381.poll.disclosed"
_TEXT = "org.matrix.msc1767.text"
# Answer ids carry the question they belong to, so a response needs no lookup table.
_ANSWER_SEPARATOR = "|"


def plain_text(text: str) -> str:
    return BOLD.sub(r"\1", text)


def _inline(text: str) -> str:
    return BOLD.sub(r"<strong>\1</strong>", html.escape(text, quote=False))


def to_html(text: str) -> str:
    """Light markup (paragraphs, "- " lists, **bold**) as spec HTML; all text escaped first."""
    blocks: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        for is_list, run in groupby(paragraph.split("\n"), key=lambda line: line.startswith("- ")):
            if is_list:
                blocks.append("<ul>" + "".join(f"<li>{_inline(line[2:])}</li>" for line in run) + "</ul>")
            else:
                blocks.append("<p>" + "<br>".join(_inline(line) for line in run) + "</p>")
    return "".join(blocks)


def _mentions() -> dict[str, Any]:
    # The bot never pings anyone: an empty m.mentions says so explicitly (MSC3952).
    return {}


def notice_content(text: str) -> dict[str, Any]:
    return {
        "msgtype": "m.notice",
        "body": plain_text(text),
        "format": "org.matrix.custom.html",
        "formatted_body": to_html(text),
        "m.mentions": _mentions(),
    }


def question_text(choice: ChoiceMessage) -> str:
    """A question with numbered options, in light markup: for typed answers."""
    return choice.prompt + "\n\n" + "\n".join(f"{o.key}. {o.label}" for o in choice.options)


def poll_start_content(choice: ChoiceMessage) -> dict[str, Any]:
    question = plain_text(choice.prompt)
    fallback = question + "\n" + "\n".join(f"{o.key}. {o.label}" for o in choice.options)
    return {
        _TEXT: fallback,
        POLL_START: {
            "kind": _POLL_KIND,
            "max_selections": len(choice.options) if choice.multiple else 1,
            "question": {_TEXT: question},
            "answers": [{"id": f"{choice.choice_id}{_ANSWER_SEPARATOR}{o.key}", _TEXT: o.label} for o in choice.options[:20]],
        },
        "m.mentions": _mentions(),
    }


def poll_end_content(poll_event_id: str, text: str) -> dict[str, Any]:
    return {
        "m.relates_to": {"rel_type": "m.reference", "event_id": poll_event_id},
        _TEXT: text,
        POLL_END: {},
        "m.mentions": _mentions(),
    }


@dataclass(frozen=True, slots=True)
class PollAnswer:
    poll_event_id: str
    choice_id: str
    option_keys: tuple[str, ...]


def parse_poll_response(event_type: str, content: dict[str, Any]) -> PollAnswer | None:
    """Read a poll response in the unstable or the stable form; None if it is not one of ours."""
    relates = content.get("m.relates_to")
    if event_type not in POLL_RESPONSE_TYPES or not isinstance(relates, dict):
        return None
    poll_event_id = relates.get("event_id")
    if event_type == "m.poll.response":
        answers = content.get("m.selections")
    else:
        body = content.get("org.matrix.msc3381.poll.response")
        answers = body.get("answers") if isinstance(body, dict) else None
    if not isinstance(poll_event_id, str) or not isinstance(answers, list):
        return None
    choice_ids: set[str] = set()
    keys: list[str] = []
    for answer in answers:
        if not isinstance(answer, str) or _ANSWER_SEPARATOR not in answer:
            return None
        choice_id, _, key = answer.rpartition(_ANSWER_SEPARATOR)
        choice_ids.add(choice_id)
        keys.append(key)
    if len(choice_ids) != 1:
        # An empty selection ("unvote") or answers from different questions: nothing to act on.
        return None
    return PollAnswer(poll_event_id, choice_ids.pop(), tuple(keys))


def learner_text(content: dict[str, Any]) -> str:
    """The text a learner typed, without a rich-reply fallback."""
    body = content.get("body")
    text = body if isinstance(body, str) else ""
    relates = content.get("m.relates_to")
    if isinstance(relates, dict) and "m.in_reply_to" in relates:
        # The fallback is the quoted lines ("> ...") and one blank line before the reply itself.
        lines = text.split("\n")
        while lines and lines[0].startswith(">"):
            lines.pop(0)
        if lines and not lines[0].strip():
            lines.pop(0)
        text = "\n".join(lines)
        formatted = content.get("formatted_body")
        if not text.strip() and isinstance(formatted, str):
            text = html.unescape(re.sub(r"<[^>]+>", "", _REPLY.sub("", formatted)))
    return text


def file_content(
    filename: str, mimetype: str, size: int, caption: str, url: str | None, encrypted_file: dict[str, Any] | None
) -> dict[str, Any]:
    content: dict[str, Any] = {
        "msgtype": "m.file",
        "body": filename,
        "filename": filename,
        "info": {"mimetype": mimetype, "size": size},
        "m.mentions": _mentions(),
    }
    if caption:
        # A caption is the body when a filename is given (Matrix 1.10 media captions).
        content["body"] = plain_text(caption)
        content["format"] = "org.matrix.custom.html"
        content["formatted_body"] = to_html(caption)
    if encrypted_file is not None:
        content["file"] = encrypted_file
    else:
        content["url"] = url
    return content
