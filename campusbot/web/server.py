"""``GET /verify/{id}`` (HTML, or JSON when asked for), ``/healthz`` and Prometheus ``/metrics``."""

from __future__ import annotations

import asyncio
import html
import logging
import re
from collections.abc import Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text

from campusbot.certificates.issuer_keys import IssuerKeys
from campusbot.certificates.verification import Check, check_id
from campusbot.core.clock import Clock
from campusbot.storage.repository import SqlStore
from campusbot.storage.rows import Base

log = logging.getLogger(__name__)

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
STATUS_DE = {
    "valid": "Gültig", "revoked": "Widerrufen", "invalid": "Ungültig", "unknown": "Unbekannt",
}
KIND_DE = {"participation": "Teilnahmebestätigung", "certificate": "Zertifikat", "mandatory": "Pflichtschulung abgeschlossen"}
_achievement, _outbox, _due, _learner = (Base.metadata.tables[n] for n in ("achievement", "outbox", "due_work", "learner"))


class _StoreCollector(Collector):
    """Gauges read from the database when Prometheus scrapes: every process reports the same."""

    def __init__(self, store: SqlStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = self._clock.now()
        with self._store.engine.connect() as connection:
            learners = connection.execute(select(func.count()).select_from(_learner)).scalar_one()
            outbox = connection.execute(select(func.count()).select_from(_outbox)).scalar_one()
            due = connection.execute(select(func.count()).select_from(_due).where(_due.c.due_at <= now)).scalar_one()
            issued = connection.execute(select(_achievement.c.kind, func.count()).group_by(_achievement.c.kind)).all()
        yield GaugeMetricFamily("campusbot_learners", "Enrolled learners.", value=learners)
        yield GaugeMetricFamily("campusbot_outbox_pending", "Messages waiting in the outbox.", value=outbox)
        yield GaugeMetricFamily("campusbot_due_work_due", "Scheduled work that is due now.", value=due)
        achievements = GaugeMetricFamily("campusbot_achievements", "Confirmations and certificates issued.", labels=["kind"])
        for kind, count in issued:
            achievements.add_metric([kind], count)
        yield achievements


class WebServer:
    def __init__(self, store: SqlStore, keys: IssuerKeys, clock: Clock) -> None:
        self._store = store
        self._keys = keys
        self._registry = CollectorRegistry(auto_describe=False)
        self._registry.register(_StoreCollector(store, clock))
        self.app = web.Application()
        self.app.add_routes([
            web.get("/verify/{id}", self.verify),
            web.get("/healthz", self.healthz),
            web.get("/metrics", self.metrics),
        ])
        self._runner: web.AppRunner | None = None

    async def start(self, host: str, port: int) -> None:
        self._runner = web.AppRunner(self.app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host, port).start()
        log.info("web: listening on %s:%d", host, port)

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def verify(self, request: web.Request) -> web.Response:
        achievement_id = request.match_info["id"].lower()
        if UUID.match(achievement_id):
            check = await asyncio.to_thread(check_id, achievement_id, self._keys, self._store)
        else:
            check = Check("unknown", "no such confirmation or certificate")
        status = 200 if check.status != "unknown" else 404
        wants_json = request.query.get("format") == "json" or "application/json" in request.headers.get("Accept", "")
        if wants_json:
            return web.json_response(check.summary(), status=status)
        return web.Response(text=_page(check), content_type="text/html", charset="utf-8", status=status)

    async def healthz(self, _request: web.Request) -> web.Response:
        try:
            await asyncio.to_thread(self._ping)
        except Exception as exc:  # any database failure means unhealthy
            return web.json_response({"status": "error", "database": str(type(exc).__name__)}, status=503)
        return web.json_response({"status": "ok"})

    def _ping(self) -> None:
        with self._store.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    async def metrics(self, _request: web.Request) -> web.Response:
        body = await asyncio.to_thread(generate_latest, self._registry)
        return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})


def _page(check: Check) -> str:
    """A plain, accessible page; every value from the record is escaped."""
    summary = check.summary()
    rows = ""
    if check.stored is not None:
        values = [
            ("Art", KIND_DE.get(str(summary.get("kind")), str(summary.get("kind")))),
            ("Inhaber/in", summary.get("holder") or "–"),
            ("Modul", summary.get("title") or summary.get("module_id")),
            ("Ausgestellt am", str(summary.get("issued_at", ""))[:10]),
            ("Ausgestellt von", summary.get("issuer") or "–"),
            ("Unterrichtseinheiten", str(summary.get("hours")).replace(".", ",")),
            ("Kompetenzen (DigComp 2.2)", ", ".join(summary.get("competences", []))),
        ]
        if summary.get("revoked_at"):
            values.append(("Widerrufen am", str(summary["revoked_at"])[:10]))
        rows = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>" for k, v in values)
    state = STATUS_DE[check.status]
    return (
        '<!doctype html><html lang="de"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Nachweis prüfen: {html.escape(state)}</title></head><body>"
        f'<h1>Nachweis: <span class="status-{check.status}">{html.escape(state)}</span></h1>'
        f"<p>{html.escape(check.reason)}</p><table>{rows}</table></body></html>"
    )
