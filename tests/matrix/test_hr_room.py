"""The HR room on a real Synapse: notices arrive there; reports only for HR members."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from nio.responses import RoomCreateResponse

from campusbot.app import Core, build_core
from campusbot.channels.matrix.channel import MatrixChannel
from campusbot.channels.memory import MemoryChannel
from campusbot.config import HrSettings, Settings
from campusbot.content.catalog import Catalog
from campusbot.core.clock import Clock
from campusbot.core.hr_reports import HrReports
from campusbot.i18n import GettextTexts
from tests.matrix.conftest import MakeLearner, Register
from tests.matrix.learner import text_of
from tests.matrix.synapse import Account, Synapse
from tests.matrix.test_bot import bot_settings
from tests.support import RecordingBot, ShiftedClock
from tests.test_certificates import complete_with_exam


@contextlib.asynccontextmanager
async def hr_bot(
    settings: Settings, catalog: Catalog, texts: GettextTexts, clock: Clock | None = None,
) -> AsyncIterator[tuple[Core, MatrixChannel]]:
    core = build_core(settings, catalog=catalog, texts=texts, clock=clock)
    channel = MatrixChannel(settings, core.turns, core.store, core.clock, HrReports(core.catalog, core.texts, core.clock))
    task = asyncio.create_task(channel.run())
    try:
        await asyncio.wait_for(channel.ready.wait(), timeout=60)
        yield core, channel
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        core.store.engine.dispose()


async def test_hr_room_gets_notices_and_answers_only_its_members(
    synapse: Synapse, register: Register, make_learner: MakeLearner, tmp_path: Path, catalog: Catalog, texts: GettextTexts,
) -> None:
    account: Account = register("campusbot")
    hr, colleague = await make_learner(register("hr")), await make_learner(register("colleague"))
    created = await hr.client.room_create(name="Personalstelle", invite=[colleague.user_id])
    assert isinstance(created, RoomCreateResponse)
    room_id = created.room_id
    await colleague.join(room_id)
    base = bot_settings(synapse, account, tmp_path / "bot")
    assert base.matrix is not None
    tenant = base.tenants[0].model_copy(update={"hr": HrSettings(room=room_id, members=[hr.user_id])})
    settings = base.model_copy(update={"matrix": base.matrix.model_copy(update={"group_rooms": [room_id]}), "tenants": [tenant]})
    # The learner's module has a live tutorial: the bot's clock runs on from after it.
    async with hr_bot(settings, catalog, texts, ShiftedClock()) as (core, channel):
        await hr.client.room_invite(room_id, account.user_id)
        await hr.wait_for_member(room_id, account.user_id)

        # A learner of this municipality completes a module (in-process; the dialog over Matrix is
        # covered elsewhere): the notice goes to the HR room.
        learner = RecordingBot(MemoryChannel(core.turns, core.store, core.clock, tenant_id=tenant.id), user="erika")
        complete_with_exam(learner, catalog, name="Erika Mustermann")
        channel.poke()
        notices = await hr.wait_for_messages(room_id, 2, timeout=20)
        texts_seen = [text_of(n) for n in notices]
        assert "Fortbildung abgeschlossen: Erika Mustermann" in texts_seen[0].replace("**", "")
        assert "Zertifikat erworben" in texts_seen[1]
        assert not any("Punkte" in t or "Prüfung mit" in t for t in texts_seen)  # no scores, no answers
        await colleague.wait_for_messages(room_id, 2, timeout=20)

        # A colleague in the room who is not HR gets no report.
        await colleague.send_text(room_id, "zusammenfassung")
        said, refusal = await hr.wait_for_messages(room_id, 2, timeout=20)
        assert (said.sender, refusal.sender) == (colleague.user_id, account.user_id)
        assert "nur für Mitglieder der Personalstelle" in text_of(refusal)

        # HR gets the monthly summary: one person is a group under five, so it is suppressed.
        await hr.send_text(room_id, "zusammenfassung")
        [summary] = await hr.wait_for_messages(room_id, 1, timeout=20)
        assert "Informationssicherheit" in text_of(summary)
        assert "weniger als 5" in text_of(summary)
        assert "Erika" not in text_of(summary)

        # And the CSV export as a file.
        await hr.send_text(room_id, "export")
        [export] = await hr.wait_for_messages(room_id, 1, timeout=20)
        assert export.source["content"]["msgtype"] == "m.file"
        assert export.source["content"]["filename"] == "campusbot-nachweise-testkreis.csv"
