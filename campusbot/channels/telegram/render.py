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
ANSWER, TOGGLE, DONE, USED = "a", "t", "d", "x"  # callback data kinds: "a:<key>", "t:<key>", "d", "x"
CHECKED = "✓ "
DONE_LABEL = "✅ OK"


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
    rows = [[InlineKeyboardButton(option.label, callback_data=f"{kind}:{option.key}")] for option in choice.options]
    if choice.multiple:
        rows.append([InlineKeyboardButton(DONE_LABEL, callback_data=DONE)])
    return InlineKeyboardMarkup(rows)


def toggled(markup: InlineKeyboardMarkup, key: str) -> InlineKeyboardMarkup:
    """The keyboard with the option ``key`` ticked or unticked."""
    rows = []
    for row in markup.inline_keyboard:
        buttons = []
        for button in row:
            if button.callback_data == f"{TOGGLE}:{key}":
                text = button.text.removeprefix(CHECKED) if button.text.startswith(CHECKED) else CHECKED + button.text
                button = InlineKeyboardButton(text, callback_data=button.callback_data)
            buttons.append(button)
        rows.append(buttons)
    return InlineKeyboardMarkup(rows)


def ticked(markup: InlineKeyboardMarkup) -> list[tuple[str, str]]:
    """(key, label) of the ticked options of a several-answers keyboard."""
    return [
        (str(button.callback_data)[2:], button.text.removeprefix(CHECKED))
        for row in markup.inline_keyboard for button in row
        if str(button.callback_data).startswith(f"{TOGGLE}:") and button.text.startswith(CHECKED)
    ]


def label_of(markup: InlineKeyboardMarkup, data: str) -> str:
    return next((b.text for row in markup.inline_keyboard for b in row if b.callback_data == data), "")


def used(labels: list[str]) -> InlineKeyboardMarkup:
    """What is left of a keyboard once answered: the chosen answer, ticked, doing nothing."""
    text = CHECKED + ", ".join(labels) if labels else CHECKED.strip()
    return InlineKeyboardMarkup([[InlineKeyboardButton(text[:120], callback_data=USED)]])
