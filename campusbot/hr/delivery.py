"""Delivering HR notices from the outbox: e-mail (SMTP), webhook (signed JSON POST), xAPI LRS.

Every notice is an outbox row per route, so a failure is retried with backoff and never lost;
a notice is delivered once: the webhook gets the notice id as ``Idempotency-Key``, the e-mail
a Message-ID derived from it, and the LRS a PUT with a statement id derived from it.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import smtplib
from collections.abc import Callable
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

import aiohttp

from campusbot.config import HrSettings, Settings, SmtpSettings
from campusbot.core.clock import Clock
from campusbot.core.hr_notices import HR_NOTICE
from campusbot.core.messages import DataMessage
from campusbot.core.ports import OutboxItem, Store
from campusbot.hr.model import HrNoticeData
from campusbot.hr.xapi import StatementError, statement_for

log = logging.getLogger(__name__)

EMAIL, WEBHOOK, XAPI = "hr-email", "hr-webhook", "hr-xapi"
CHANNELS = (EMAIL, WEBHOOK, XAPI)
MAX_BACKOFF = timedelta(hours=1)
TIMEOUT = aiohttp.ClientTimeout(total=30)


class DeliveryFailed(Exception):
    """The peer refused or could not be reached; the row is retried later."""


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class HrDelivery:
    def __init__(self, settings: Settings, store: Store, clock: Clock, render_text: Callable[[HrNoticeData], str]) -> None:
        self._settings = settings
        self._store = store
        self._clock = clock
        self._render_text = render_text
        self._hr = {tenant.id: tenant.hr for tenant in settings.tenants}

    async def deliver_pending(self) -> int:
        """One pass over every HR route's due rows; returns how many were delivered."""
        delivered = 0
        async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
            for channel in CHANNELS:
                with self._store.transaction() as tx:
                    items = tx.pending_outbox(channel, 100, self._clock.now())
                for item in items:
                    delivered += await self._deliver(session, channel, item)
        return delivered

    async def run(self, interval: float = 5.0) -> None:
        while True:
            try:
                await self.deliver_pending()
            except Exception:
                log.exception("hr delivery pass failed; trying again")
            await asyncio.sleep(interval)

    async def _deliver(self, session: aiohttp.ClientSession, channel: str, item: OutboxItem) -> int:
        hr = self._hr.get(item.address)
        message = item.message
        try:
            if hr is None or not isinstance(message, DataMessage) or message.kind != HR_NOTICE:
                raise DeliveryFailed(f"no HR route {channel} for tenant {item.address!r}")
            notice = HrNoticeData.from_json(message.data)
            if channel == EMAIL:
                await asyncio.to_thread(self._email, self._settings.smtp, hr, notice)
            elif channel == WEBHOOK:
                await self._webhook(session, hr, notice)
            else:
                await self._xapi(session, hr, notice)
        except (DeliveryFailed, StatementError, OSError, smtplib.SMTPException, aiohttp.ClientError, TimeoutError) as exc:
            # StatementError: the LRS route's settings cannot make a statement; retried once they are fixed.
            wait = min(timedelta(seconds=30) * 2**item.attempts, MAX_BACKOFF)
            log.warning("hr %s: outbox %s not delivered (%s); again in %s", channel, item.id, exc, wait)
            with self._store.transaction() as tx:
                tx.mark_failed(item.id, self._clock.now() + wait)
            return 0
        with self._store.transaction() as tx:
            tx.mark_delivered(item.id)
        return 1

    def _email(self, smtp: SmtpSettings, hr: HrSettings, notice: HrNoticeData) -> None:
        mail = EmailMessage()
        mail["From"] = smtp.sender
        mail["To"] = ", ".join(hr.email)
        mail["Subject"] = f"campusbot: {notice.module_title} – {notice.learner_name}"
        mail["Date"] = formatdate(localtime=False)
        domain = smtp.sender.rpartition("@")[2] or "campusbot"
        mail["Message-ID"] = f"<{notice.id}.{notice.kind}@{domain}>"  # the same notice is the same mail
        mail.set_content(self._render_text(notice).replace("**", ""))
        with smtplib.SMTP(smtp.host, smtp.port, timeout=30) as client:
            if smtp.starttls:
                client.starttls()
            if smtp.username:
                client.login(smtp.username, smtp.password.get_secret_value())
            client.send_message(mail)

    async def _webhook(self, session: aiohttp.ClientSession, hr: HrSettings, notice: HrNoticeData) -> None:
        body = json.dumps({"type": "campusbot.hr_notice", "notice": notice.to_json()}, ensure_ascii=False, sort_keys=True).encode("utf-8")
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": notice.id,
            "X-Campusbot-Signature": signature(hr.webhook_secret.get_secret_value(), body),
        }
        async with session.post(hr.webhook_url, data=body, headers=headers) as response:
            if response.status >= 300:
                raise DeliveryFailed(f"webhook answered {response.status}")

    async def _xapi(self, session: aiohttp.ClientSession, hr: HrSettings, notice: HrNoticeData) -> None:
        statement = statement_for(
            notice, homepage=self._settings.certificates.public_url, activity_base=self._settings.certificates.public_url,
            identify_by_name=hr.lrs_identify_by_name,
        )
        if statement is None:
            return  # nothing for an LRS (an overdue training): done
        url = hr.lrs_endpoint.rstrip("/") + "/statements"
        headers = {"X-Experience-API-Version": "1.0.3"}
        if hr.lrs_username:
            headers["Authorization"] = aiohttp.encode_basic_auth(hr.lrs_username, hr.lrs_password.get_secret_value())
        # PUT with the statement's own id: a resend is the same statement (204 again, or 409).
        params = {"statementId": statement["id"]}
        async with session.put(url, params=params, json=statement, headers=headers) as response:
            if response.status in (200, 204):
                return
            if response.status != 409:
                raise DeliveryFailed(f"LRS answered {response.status}")
        # 409: the LRS has a statement with this id. Ours, from an earlier try whose answer got
        # lost, or a different one: only the first is delivered. The second stays in the outbox.
        async with session.get(url, params=params, headers=headers) as response:
            stored = await response.json() if response.status == 200 else None
        if not isinstance(stored, dict) or not same_statement(stored, statement):
            log.error("hr xapi: the LRS holds a different statement under id %s; not delivered", statement["id"])
            raise DeliveryFailed(f"LRS conflict on statement {statement['id']}")


def same_statement(stored: dict[str, Any], sent: dict[str, Any]) -> bool:
    """Does the LRS's statement say what we sent? It may add ``stored``, ``authority`` and
    ``version`` and write the timestamp differently."""
    def essence(statement: dict[str, Any]) -> tuple[Any, ...]:
        timestamp = statement.get("timestamp")
        moment = datetime.fromisoformat(timestamp) if isinstance(timestamp, str) else None
        return (*(statement.get(key) for key in ("actor", "verb", "object", "result", "context")), moment)

    try:
        return essence(stored) == essence(sent)
    except ValueError:
        return False
