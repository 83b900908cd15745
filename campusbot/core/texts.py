"""The bot's own interface strings, looked up by key in the learner's language."""

from __future__ import annotations

from typing import Protocol


class Texts(Protocol):
    def __call__(self, lang: str, key: str, /, **values: object) -> str:
        """The text for ``key`` in ``lang`` with ``{name}`` placeholders filled."""
        ...
