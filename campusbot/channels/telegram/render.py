"""Telegram rendering: the core's light markup in Telegram's HTML, choices as inline keyboards.

Telegram's HTML knows no paragraphs or lists: line breaks stay line breaks,
"- " items become bullets, ``**bold**`` becomes ``<b>``. All text is escaped
first, so learner text the core echoes can never inject markup.
"""

from __future__ import annotations

import html
import re

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from campusbot.core.messages import BOLD, ChoiceMessage

MAX_TEXT = 4096  # Telegram's limit per message, counted after entity parsing
MAX_CALLBACK_DATA = 64  # bytes
# Callback data: "a:<key>:<question>" answers, "t:<key>:<question>" ticks, "d::<question>" confirms
# the ticks, "x" is a used keyboard. The question (the core's choice id) rides along, so a button
# pressed after a restart still says what it answers; an id too long for 64 bytes is left out.
ANSWER, TOGGLE, DONE, USED = "a", "t", "d", "x"
CHECKED = "✓ "
DONE_LABEL = "✅ OK"


def callback_data(kind: str, key: str, choice_id: str) -> str:
    data = f"{kind}:{key}:{choice_id}"
    return data if len(data.encode("utf-8")) <= MAX_CALLBACK_DATA else f"{kind}:{key}:"


def parse_callback(data: str) -> tuple[str, str, str | None]:
    """(kind, option key, question id or None if it did not fit) of a button's data."""
    kind, _, rest = data.partition(":")
    key, _, choice_id = rest.partition(":")
    return kind, key, choice_id or None


def to_html(text: str) -> str:
    """Light markup as Telegram HTML; everything escaped before any tag is added."""
    lines = []
    for line in text.strip().split("\n"):
        if line.startswith("- "):
            line = "• " + line[2:]
        lines.append(BOLD.sub(r"<b>\1</b>", html.escape(line, quote=False)))
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Light-markup text in pieces Telegram accepts, cut at paragraphs, else lines, else hard."""
    pieces: list[str] = []
    rest = text.strip()
    while len(to_html(rest)) > limit:
        cut = _cut(rest, limit)
        pieces.append(rest[:cut].strip())
        rest = rest[cut:].strip()
    pieces.append(rest)
    return [p for p in pieces if p]


def _cut(text: str, limit: int) -> int:
    # Escaping can grow text up to five times ("&amp;"); cut by the rendered length.
    for separator in ("\n\n", "\n", " "):
        position = text.rfind(separator, 0, limit)
        while position > 0 and len(to_html(text[:position])) > limit:
            position = text.rfind(separator, 0, position)
        if position > 0:
            return position
    end = limit
    while end > 1 and len(to_html(text[:end])) > limit:
        end -= 1
    return end


def keyboard(choice: ChoiceMessage) -> InlineKeyboardMarkup:
    """One button per option; several answers are ticked, then confirmed with OK."""
    kind = TOGGLE if choice.multiple else ANSWER
    rows = [
        [InlineKeyboardButton(option.label, callback_data=callback_data(kind, option.key, choice.choice_id))]
        for option in choice.options
    ]
    if choice.multiple:
        rows.append([InlineKeyboardButton(DONE_LABEL, callback_data=callback_data(DONE, "", choice.choice_id))])
    return InlineKeyboardMarkup(rows)


def toggled(markup: InlineKeyboardMarkup, data: str) -> InlineKeyboardMarkup:
    """The keyboard with the option whose button has ``data`` ticked or unticked."""
    rows = []
    for row in markup.inline_keyboard:
        buttons = []
        for button in row:
            if button.callback_data == data:
                text = button.text.removeprefix(CHECKED) if button.text.startswith(CHECKED) else CHECKED + button.text
                button = InlineKeyboardButton(text, callback_data=button.callback_data)
            buttons.append(button)
        rows.append(buttons)
    return InlineKeyboardMarkup(rows)


def ticked(markup: InlineKeyboardMarkup) -> list[tuple[str, str]]:
    """(key, label) of the ticked options of a several-answers keyboard."""
    return [
        (parse_callback(str(button.callback_data))[1], button.text.removeprefix(CHECKED))
        for row in markup.inline_keyboard for button in row
        if str(button.callback_data).startswith(f"{TOGGLE}:") and button.text.startswith(CHECKED)
    ]


def label_of(markup: InlineKeyboardMarkup, data: str) -> str:
    return next((b.text for row in markup.inline_keyboard for b in row if b.callback_data == data), "")


def used(labels: list[str]) -> InlineKeyboardMarkup:
    """What is left of a keyboard once answered: the chosen answer, ticked, doing nothing."""
    text = CHECKED + ", ".join(labels) if labels else CHECKED.strip()
    return InlineKeyboardMarkup([[InlineKeyboardButton(text[:120], callback_data=USED)]])
