"""The composition root: builds store, content, texts, engine and turn service."""

from __future__ import annotations

from dataclasses import dataclass

from campusbot.certificates.issuer import CertificateService
from campusbot.config import Settings
from campusbot.content.catalog import Catalog
from campusbot.content.loader import default_content_root, load_catalog
from campusbot.core.agenda import Agenda, ScheduleRules, parse_time
from campusbot.core.calendar import QuietHours
from campusbot.core.clock import Clock, SystemClock
from campusbot.core.engine import DialogEngine
from campusbot.core.hr_notices import HrNotices
from campusbot.core.plan import PlanService
from campusbot.core.pushes import PushService
from campusbot.core.tenants import TenantDirectory, TenantPolicy
from campusbot.core.turns import TurnService
from campusbot.errors import ConfigError, StoreError
from campusbot.i18n import GettextTexts
from campusbot.storage.database import is_current, make_engine, upgrade
from campusbot.storage.repository import SqlStore

ENROLMENT_CHANNELS = frozenset({"telegram"})


@dataclass(frozen=True, slots=True)
class Core:
    catalog: Catalog
    texts: GettextTexts
    store: SqlStore
    engine: DialogEngine
    turns: TurnService
    clock: Clock
    pushes: PushService
    tenants: TenantDirectory


def tenant_directory(settings: Settings, catalog: Catalog) -> TenantDirectory:
    policies = []
    for index, tenant in enumerate(settings.tenants):
        for module_id in tenant.mandatory or ():
            module = catalog.module(module_id)
            if module is None or module.mandatory is None:
                raise ConfigError(f"key tenants[{index}].mandatory: {module_id!r} is not a mandatory training in the content")
        mandatory = tuple(tenant.mandatory) if tenant.mandatory is not None else None
        policies.append(TenantPolicy(
            tenant.id, tenant.name, tenant.state, mandatory, hr_routes(settings, index), tenant.retention_years, tuple(tenant.departments),
        ))
    return TenantDirectory(policies)


def hr_routes(settings: Settings, index: int) -> tuple[tuple[str, str], ...]:
    tenant, hr = settings.tenants[index], settings.tenants[index].hr
    if hr.room and (settings.matrix is None or hr.room not in settings.matrix.group_rooms):
        raise ConfigError(f"key tenants[{index}].hr.room: {hr.room} must also be in matrix.group_rooms")
    routes = [("matrix", hr.room)] if hr.room else []
    routes += [(channel, tenant.id) for channel, wanted in (
        ("hr-email", bool(hr.email)), ("hr-webhook", bool(hr.webhook_url)), ("hr-xapi", bool(hr.lrs_endpoint)),
    ) if wanted]
    return tuple(routes)


def schedule_rules(settings: Settings) -> ScheduleRules:
    schedule = settings.schedule
    return ScheduleRules(QuietHours(parse_time(schedule.quiet_start), parse_time(schedule.quiet_end)), schedule.timezone)


def build_core(
    settings: Settings,
    *,
    clock: Clock | None = None,
    database_url: str | None = None,
    catalog: Catalog | None = None,
    texts: GettextTexts | None = None,
) -> Core:
    """Load content and texts, open (and for embedded SQLite, migrate) the store."""
    clock = clock or SystemClock()
    catalog = catalog or load_catalog(settings.content_dir or default_content_root())
    texts = texts or GettextTexts()
    url = database_url or settings.database_url()
    sql_engine = make_engine(url)
    if sql_engine.dialect.name == "sqlite":
        upgrade(sql_engine)
    elif not is_current(sql_engine):
        raise StoreError("the database schema is not current: run 'campusbot db upgrade' first")
    store = SqlStore(sql_engine)
    lang = settings.bot.default_language
    tenants = tenant_directory(settings, catalog)
    agenda = Agenda(catalog, PlanService(catalog), schedule_rules(settings))
    engine = DialogEngine(catalog, texts, clock, default_lang=lang, agenda=agenda)
    certificates = CertificateService.in_data_dir(
        settings.data_dir, catalog, texts, clock, settings.certificates.public_url, settings.certificates.cooperative,
        settings.schedule.timezone,
    )
    hr = HrNotices(catalog, texts)
    turns = TurnService(
        store, engine, texts, clock, default_lang=lang, tenants=tenants, issuer=certificates, hr=hr,
        # A Telegram account is nobody's by itself: it needs an enrolment or link code.
        enrolment_channels=ENROLMENT_CHANNELS, link_bot=settings.telegram.username if settings.telegram else None,
    )
    return Core(catalog, texts, store, engine, turns, clock, PushService(catalog, engine, tenants, clock, hr), tenants)
