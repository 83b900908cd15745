"""The verification page, health and metrics, served for real on a free port."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import update

from campusbot.app import Core
from campusbot.certificates.issuer_keys import IssuerKeys
from campusbot.content.catalog import Catalog
from campusbot.storage.rows import Base
from campusbot.web.server import WebServer
from tests.support import RecordingBot
from tests.test_certificates import complete_with_exam


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture
async def server(core: Core, tmp_path: Path) -> AsyncIterator[str]:
    web_server = WebServer(core.store, IssuerKeys(tmp_path / "issuer"), core.clock)
    port = free_port()
    await web_server.start("127.0.0.1", port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await web_server.stop()


async def get(url: str, **headers: str) -> tuple[int, str, str]:
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        return response.status, response.content_type, await response.text()


async def test_verify_says_valid_then_revoked_and_refuses_a_changed_record(
    server: str, bot: RecordingBot, core: Core, catalog: Catalog,
) -> None:
    files = complete_with_exam(bot, catalog, name="Anna <b>Müller</b>")
    credential = json.loads(files[3].data)
    achievement_id = credential["id"].removeprefix("urn:uuid:")

    status, content_type, body = await get(f"{server}/verify/{achievement_id}")
    assert (status, content_type) == (200, "text/html")
    assert "Nachweis: <span class=\"status-valid\">Gültig</span>" in body
    assert "Anna &lt;b&gt;Müller&lt;/b&gt;" in body  # the learner's text, escaped
    assert "<b>Müller" not in body
    status, content_type, body = await get(f"{server}/verify/{achievement_id}?format=json")
    summary = json.loads(body)
    assert (status, content_type) == (200, "application/json")
    assert (summary["status"], summary["kind"], summary["module_id"]) == ("valid", "certificate", "informationssicherheit")
    assert "score" not in summary  # what was certified, not how well
    _, _, body = await get(f"{server}/verify/{achievement_id}", Accept="application/json")
    assert json.loads(body)["status"] == "valid"

    with core.store.transaction() as tx:
        assert tx.revoke_achievement(achievement_id, datetime.now(UTC))
    _, _, body = await get(f"{server}/verify/{achievement_id}?format=json")
    assert json.loads(body)["status"] == "revoked"

    # One byte of the record changed behind the operator's back: the signature no longer matches.
    changed = json.dumps(credential).replace("informationssicherheit", "Informationssicherheit", 1)
    achievement = Base.metadata.tables["achievement"]
    with core.store.engine.begin() as connection:
        connection.execute(update(achievement).where(achievement.c.id == achievement_id).values(credential=changed, revoked_at=None))
    _, _, body = await get(f"{server}/verify/{achievement_id}?format=json")
    assert json.loads(body) == {"status": "invalid", "reason": "signature does not match"}


async def test_unknown_ids_are_unknown(server: str) -> None:
    for achievement_id in ("00000000-0000-4000-8000-000000000000", "not-an-id", "%3Cscript%3E"):
        status, _, body = await get(f"{server}/verify/{achievement_id}")
        assert status == 404
        assert "Unbekannt" in body
        assert "<script>" not in body


async def test_health_and_metrics(server: str, bot: RecordingBot) -> None:
    bot.say("Hallo")
    status, _, body = await get(f"{server}/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    status, content_type, body = await get(f"{server}/metrics")
    assert status == 200
    assert content_type == "text/plain"
    assert "campusbot_learners 1.0" in body
    assert "campusbot_outbox_pending 0.0" in body
    assert "campusbot_due_work_due" in body
