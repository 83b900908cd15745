"""Every error campusbot raises derives from ``CampusbotError``."""

from __future__ import annotations


class CampusbotError(Exception):
    """Root of campusbot's own errors."""


class ContentError(CampusbotError):
    """Content files are invalid; ``problems`` holds one line per problem (file:line: field: message)."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class ConfigError(CampusbotError):
    """The configuration is invalid; the message names the key."""


class StoreError(CampusbotError):
    """The store cannot be used (wrong URL, schema too old, ...)."""


class TransportError(CampusbotError):
    """A chat network failed in a way that retrying will not fix (bad credentials, ...)."""


class Unavailable(CampusbotError):
    """A peer (a homeserver, a chat API) cannot be reached right now; a later attempt may succeed."""
