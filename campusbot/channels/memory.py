"""An in-memory channel: hands messages to the core and collects what the bot sends.

Used by tests (a recording bot) and by the benchmarks; it drains the real outbox.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from campusbot.core.clock import Clock
from campusbot.core.messages import ChannelName, Incoming, IncomingKind, Outgoing
from campusbot.core.ports import Store
from campusbot.core.turns import TurnService

MEMORY = ChannelName("memory")
_event_ids = itertools.count(1)


@dataclass(slots=True)
class MemoryChannel:
    turns: TurnService
    store: Store
    clock: Clock
    name: ChannelName = MEMORY
    tenant_id: str | None = None  # the municipality new learners on this channel belong to
    sent: dict[str, list[Outgoing]] = field(default_factory=dict)

    def deliver(
        self,
        user: str,
        text: str = "",
        *,
        kind: IncomingKind = "message",
        choice_id: str = "",
        option_keys: tuple[str, ...] = (),
        event_id: str | None = None,
        lang: str | None = None,
    ) -> list[Outgoing]:
        """One learner event through a whole turn; returns what the bot sent in reply."""
        incoming = Incoming(
            channel=self.name, sender=user, address=f"{self.name}:{user}",
            event_id=event_id or f"ev-{next(_event_ids)}", text=text, kind=kind,
            choice_id=choice_id, option_keys=option_keys, lang_hint=lang, tenant_id=self.tenant_id,
        )
        self.turns.handle(incoming)
        return self.drain(incoming.address)

    def drain(self, address: str) -> list[Outgoing]:
        with self.store.transaction() as tx:
            items = tx.pending_outbox(self.name, 1000, self.clock.now(), address=address)
            for item in items:
                tx.mark_delivered(item.id)
        messages = [item.message for item in items]
        self.sent.setdefault(address, []).extend(messages)
        return messages
