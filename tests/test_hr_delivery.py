"""HR notices reach a real SMTP server, a webhook that checks the signature, and an LRS: once each."""

from __future__ import annotations

import email
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from pydantic import SecretStr

from campusbot.app import Core, build_core
from campusbot.channels.memory import MemoryChannel
from campusbot.config import HrSettings, Settings, SmtpSettings, TenantSettings
from campusbot.content.catalog import Catalog
from campusbot.core.clock import FixedClock
from campusbot.core.hr_notices import HrNotices
from campusbot.hr.delivery import HrDelivery
from campusbot.i18n import GettextTexts
from tests.support import RecordingBot
from tests.test_certificates import complete_with_exam
from tests.test_web import free_port
from tests.test_xapi import CORPUS_SCHEMA, OUR_PROFILE, errors

SECRET = "a-webhook-secret"  # noqa: S105 - a test value


class _Inbox:
    def __init__(self) -> None:
        self.mails: list[Message] = []

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.mails.append(email.message_from_bytes(envelope.content if isinstance(envelope.content, bytes) else b""))
        return "250 OK"


@dataclass
class Peers:
    smtp_port: int
    web_url: str
    inbox: _Inbox
    webhook_calls: list[tuple[int, dict[str, str], bytes]] = field(default_factory=list)
    statements: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    webhook_failures: int = 2
    stored: dict[str, dict[str, Any]] = field(default_factory=dict)  # what the LRS holds, by statement id
    lrs_lost_answers: int = 0  # answers the LRS loses after storing (the sender sees a 502)


@pytest.fixture
async def peers() -> AsyncIterator[Peers]:
    inbox = _Inbox()
    smtp_port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    web_port = free_port()
    state = Peers(smtp_port, f"http://127.0.0.1:{web_port}", inbox)

    async def webhook(request: web.Request) -> web.Response:
        body = await request.read()
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(request.headers.get("X-Campusbot-Signature", ""), expected):
            state.webhook_calls.append((401, dict(request.headers), body))
            return web.Response(status=401)
        if state.webhook_failures > 0:  # the receiver is down twice
            state.webhook_failures -= 1
            state.webhook_calls.append((503, dict(request.headers), body))
            return web.Response(status=503)
        state.webhook_calls.append((200, dict(request.headers), body))
        return web.Response(status=200)

    async def lrs(request: web.Request) -> web.Response:
        # As an LRS does (xAPI 1.0.3, Communication 2.1.2): a known id changes nothing and draws a 409.
        assert request.headers["X-Experience-API-Version"] == "1.0.3"
        statement_id, statement = request.query["statementId"], await request.json()
        state.statements.append((statement_id, statement))
        if statement_id in state.stored:
            return web.Response(status=409)
        state.stored[statement_id] = {**statement, "stored": "2026-11-23T08:30:00.000Z", "version": "1.0.3"}
        if state.lrs_lost_answers > 0:
            state.lrs_lost_answers -= 1
            return web.Response(status=502)
        return web.Response(status=204)

    async def lrs_get(request: web.Request) -> web.Response:
        stored = state.stored.get(request.query["statementId"])
        return web.json_response(stored) if stored is not None else web.Response(status=404)

    app = web.Application()
    app.add_routes([
        web.post("/hooks/hr", webhook), web.put("/xapi/statements", lrs), web.get("/xapi/statements", lrs_get),
    ])
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", web_port).start()
    try:
        yield state
    finally:
        await runner.cleanup()
        controller.stop()


def hr_settings(peers: Peers, tmp_path: Path) -> Settings:
    hr = HrSettings(
        email=["personal@kreis.example"], webhook_url=f"{peers.web_url}/hooks/hr", webhook_secret=SecretStr(SECRET),
        lrs_endpoint=f"{peers.web_url}/xapi/", lrs_username="lrs", lrs_password=SecretStr("lrs-password"),
    )
    return Settings(
        data_dir=tmp_path, smtp=SmtpSettings(host="127.0.0.1", port=peers.smtp_port, sender="campusbot@kreis.example"),
        tenants=[TenantSettings(id="kreis", name="Landkreis Beispiel", state="HE", servers=["kreis.example"], hr=hr)],
    )


@pytest.fixture
def hr_core(peers: Peers, tmp_path: Path, db_url: str, clock: FixedClock, catalog: Catalog, texts: GettextTexts) -> Core:
    return build_core(hr_settings(peers, tmp_path), clock=clock, database_url=db_url, catalog=catalog, texts=texts)


async def test_a_certificate_reaches_hr_by_mail_webhook_and_lrs_once_each(
    peers: Peers, hr_core: Core, clock: FixedClock, catalog: Catalog, tmp_path: Path,
) -> None:
    bot = RecordingBot(MemoryChannel(hr_core.turns, hr_core.store, clock, tenant_id="kreis"))
    bot.say("Hallo")
    bot.say("ja")
    assert "Personalnummer 4711-B steht" in bot.say("Meine Personalnummer ist 4711-B").text
    complete_with_exam(bot, catalog, name="Erika Mustermann")
    delivery = HrDelivery(hr_settings(peers, tmp_path), hr_core.store, clock, HrNotices(catalog, hr_core.texts).text)

    passes: list[int] = []
    for wait in (0, 60, 120, 240):  # the webhook is down twice: backoff 30 s, then 60 s
        clock.advance(timedelta(seconds=wait))
        passes.append(await delivery.deliver_pending())
    assert sum(passes) == 6  # two notices (participation, certificate) on three routes
    assert await delivery.deliver_pending() == 0

    # E-mail: two mails, German, name and module, nothing about answers or scores.
    assert len(peers.inbox.mails) == 2
    bodies = [mail.get_payload(decode=True).decode() for mail in peers.inbox.mails]  # type: ignore[union-attr]
    assert "Zertifikat erworben: Erika Mustermann" in bodies[1]
    assert "Informationssicherheit" in bodies[1]
    assert "Personalnummer: 4711-B" in bodies[1]
    assert not any("score" in body.lower() or "Punkte" in body for body in bodies)
    assert peers.inbox.mails[0]["To"] == "personal@kreis.example"

    # Webhook: signed; down twice, then each notice delivered exactly once with a stable key.
    delivered = [(headers, json.loads(body)) for status, headers, body in peers.webhook_calls if status == 200]
    assert [status for status, _, _ in peers.webhook_calls].count(503) == 2
    assert len(delivered) == 2
    keys = {h["Idempotency-Key"] for _, h, _ in peers.webhook_calls}
    assert keys == {n["notice"]["id"] for _, n in delivered}
    notice = delivered[1][1]["notice"]
    assert (notice["kind"], notice["module_id"], notice["learner_name"]) == ("certificate", "informationssicherheit", "Erika Mustermann")
    assert notice["personnel_number"] == "4711-B"
    assert "score" not in json.dumps(delivered)

    # LRS: a "completed" and a "passed" statement, the learner as a pseudonymous account.
    verbs = [statement["verb"]["id"] for _, statement in peers.statements]
    assert verbs == ["http://adlnet.gov/expapi/verbs/completed", "http://adlnet.gov/expapi/verbs/passed"]
    assert all(statement_id == statement["id"] for statement_id, statement in peers.statements)
    # What the LRS received validates against the corpus's xAPI schema and our profile.
    for _, statement in peers.statements:
        assert errors(CORPUS_SCHEMA, statement) == []
        assert errors(OUR_PROFILE, statement) == []
    actor = peers.statements[0][1]["actor"]
    assert "name" not in actor
    assert "Erika" not in json.dumps(actor)


async def test_a_webhook_with_a_wrong_secret_is_retried_not_lost(
    peers: Peers, hr_core: Core, clock: FixedClock, catalog: Catalog, tmp_path: Path,
) -> None:
    bot = RecordingBot(MemoryChannel(hr_core.turns, hr_core.store, clock, tenant_id="kreis"))
    complete_with_exam(bot, catalog)
    settings = hr_settings(peers, tmp_path)
    wrong = settings.model_copy(update={"tenants": [settings.tenants[0].model_copy(update={
        "hr": settings.tenants[0].hr.model_copy(update={"webhook_secret": SecretStr("not-the-secret")}),
    })]})
    delivery = HrDelivery(wrong, hr_core.store, clock, HrNotices(catalog, hr_core.texts).text)
    await delivery.deliver_pending()
    assert [status for status, _, _ in peers.webhook_calls] == [401, 401]  # refused by the receiver
    with hr_core.store.transaction() as tx:
        waiting = tx.pending_outbox("hr-webhook", 10, clock.now() + timedelta(hours=2))
    assert len(waiting) == 2  # still in the outbox, to be retried


async def test_an_lrs_conflict_is_delivered_only_when_the_lrs_holds_the_same_statement(
    peers: Peers, hr_core: Core, clock: FixedClock, catalog: Catalog, tmp_path: Path, caplog: pytest.LogCaptureFixture,
) -> None:
    bot = RecordingBot(MemoryChannel(hr_core.turns, hr_core.store, clock, tenant_id="kreis"))
    complete_with_exam(bot, catalog)
    delivery = HrDelivery(hr_settings(peers, tmp_path), hr_core.store, clock, HrNotices(catalog, hr_core.texts).text)
    peers.lrs_lost_answers = 2  # both statements are stored, but their answers get lost
    await delivery.deliver_pending()
    assert len(peers.stored) == 2
    # The certificate's statement is changed in the LRS meanwhile (say, by hand).
    certificate_id = peers.statements[1][0]
    peers.stored[certificate_id]["verb"] = {"id": "http://adlnet.gov/expapi/verbs/failed"}
    clock.advance(timedelta(minutes=5))
    await delivery.deliver_pending()
    # The participation's retry met a 409 for the same statement: delivered. The certificate's did
    # not: it stays in the outbox, and the operator reads why.
    with hr_core.store.transaction() as tx:
        waiting = tx.pending_outbox("hr-xapi", 10, clock.now() + timedelta(days=1))
    assert len(waiting) == 1
    assert f"the LRS holds a different statement under id {certificate_id}" in caplog.text
    assert [status for status, _, _ in peers.webhook_calls].count(200) == 2  # the other routes are not held up
