"""The ``campusbot`` command."""

from __future__ import annotations

import argparse
import getpass
import logging
import sys
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from campusbot.config import Settings, load_settings
from campusbot.content.loader import default_content_root, load_catalog
from campusbot.core.enrolment import DEFAULT_ENROLMENT_VALIDITY
from campusbot.errors import CampusbotError, ContentError


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(Path(args.config) if args.config else None)


def _database_url(args: argparse.Namespace, settings: Settings) -> str:
    from campusbot.storage.database import database_url

    return database_url(args.db) if args.db else settings.database_url()


def cmd_content_check(args: argparse.Namespace) -> int:
    root = Path(args.path) if args.path else default_content_root()
    try:
        catalog = load_catalog(root)
    except ContentError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) in {root}", file=sys.stderr)
        return 1
    units = sum(len(m.units) for m in catalog.modules)
    quiz = sum(len(m.quiz) for m in catalog.modules)
    print(
        f"{root}: ok: {len(catalog.framework.areas)} areas, {len(catalog.roles)} roles, "
        f"{len(catalog.modules)} modules, {units} units, {quiz} quiz items, "
        f"{len(catalog.check.self_assessment) + len(catalog.check.knowledge)} check items"
    )
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from campusbot.storage.database import make_engine, upgrade

    settings = _settings(args)
    engine = make_engine(_database_url(args, settings))
    upgrade(engine)
    print(f"database at revision head: {engine.url.render_as_string(hide_password=True)}")
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from campusbot.app import build_core
    from campusbot.channels.terminal import TerminalChannel

    settings = _settings(args)
    core = build_core(settings, database_url=_database_url(args, settings))
    interactive = sys.stdin.isatty()
    channel = TerminalChannel(
        core.turns, core.store, core.texts, core.clock,
        user=args.user or getpass.getuser(), lang=args.lang, out=sys.stdout,
        files_dir=settings.data_dir / "exports", ansi=interactive and sys.stdout.isatty(),
    )
    if not interactive:
        channel.run(sys.stdin)
        return 0
    print(core.texts(args.lang or settings.bot.default_language, "terminal.banner") + "\n")
    channel.say("", kind="open")
    while True:
        try:
            line = input("> ")
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        print()
        channel.say(line)


def cmd_run(args: argparse.Namespace) -> int:
    import asyncio
    import signal

    from campusbot.app import build_core
    from campusbot.certificates.issuer_keys import IssuerKeys
    from campusbot.core.hr_notices import HrNotices
    from campusbot.core.hr_reports import HrReports
    from campusbot.errors import ConfigError
    from campusbot.hr.delivery import HrDelivery
    from campusbot.scheduling.runner import SchedulerRunner
    from campusbot.web.server import WebServer

    if not args.config:
        raise ConfigError("campusbot run needs --config FILE (see deploy/campusbot.example.toml)")
    settings = _settings(args)
    if settings.matrix is None and settings.telegram is None:
        raise ConfigError(f"{args.config}: key matrix: configure [matrix], [telegram] or both")
    core = build_core(settings)

    async def serve() -> None:
        channels: dict[str, Any] = {}
        if settings.matrix is not None:
            from campusbot.channels.matrix.channel import CHANNEL as MATRIX
            from campusbot.channels.matrix.channel import MatrixChannel

            reports = HrReports(core.catalog, core.texts, core.clock)
            channels[MATRIX] = MatrixChannel(settings, core.turns, core.store, core.clock, reports)
        if settings.telegram is not None:
            from campusbot.channels.telegram.channel import CHANNEL as TELEGRAM
            from campusbot.channels.telegram.channel import TelegramChannel

            channels[TELEGRAM] = TelegramChannel(settings, core.turns, core.store, core.clock, core.texts)
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            if task is not None:
                loop.add_signal_handler(signum, task.cancel)

        def poke(names: Collection[str]) -> None:
            for name in names:
                if name in channels:
                    channels[name].poke()

        scheduler = SchedulerRunner(
            core.store, core.pushes, batch_size=settings.schedule.batch_size, tick_seconds=settings.schedule.tick_seconds,
            on_enqueued=poke,
        )
        if settings.schedule.enabled:
            scheduler.start()
        server = WebServer(core.store, IssuerKeys(settings.data_dir / "issuer"), core.clock)
        if settings.web.enabled:
            await server.start(settings.web.host, settings.web.port)
        hr_delivery = HrDelivery(settings, core.store, core.clock, HrNotices(core.catalog, core.texts).text)
        delivery = asyncio.create_task(hr_delivery.run(), name="hr-delivery")
        try:
            async with asyncio.TaskGroup() as group:
                for name, channel in channels.items():
                    group.create_task(channel.run(), name=name)
        except asyncio.CancelledError:
            logging.getLogger("campusbot").info("stopped")
        except ExceptionGroup as failed:
            known = failed.subgroup(CampusbotError)
            if known is None:
                raise
            first: BaseException = known
            while isinstance(first, BaseExceptionGroup):  # a channel's own task group nests one more
                first = first.exceptions[0]
            raise first from None  # one clear message, as from a single channel
        finally:
            delivery.cancel()
            scheduler.stop()
            await server.stop()

    asyncio.run(serve())
    return 0


def cmd_enroll_code(args: argparse.Namespace) -> int:
    """Print one-time enrolment codes for a municipality (for Telegram; HR hands them out)."""
    from datetime import UTC, datetime, timedelta

    from campusbot.app import build_core
    from campusbot.core.enrolment import issue_codes
    from campusbot.errors import ConfigError

    settings = _settings(args)
    tenant = next((t for t in settings.tenants if t.id == args.tenant), None)
    if tenant is None:
        known = ", ".join(t.id for t in settings.tenants) or "none configured"
        raise ConfigError(f"{args.config or 'configuration'}: key tenants: no tenant {args.tenant!r} (known: {known})")
    core = build_core(settings, database_url=_database_url(args, settings))
    now = datetime.now(UTC)
    validity = timedelta(days=args.days)
    expires = now + validity
    with core.store.transaction() as tx:
        codes = issue_codes(tx, tenant.id, now, count=args.count, validity=validity)
    print(f"{len(codes)} code(s) for {tenant.name}, each valid once until {expires.date().isoformat()}:", file=sys.stderr)
    for code in codes:
        print(code)
    return 0


def _certificate_store(args: argparse.Namespace) -> tuple[Any, Any]:
    from campusbot.app import build_core
    from campusbot.certificates.issuer_keys import IssuerKeys

    settings = _settings(args)
    core = build_core(settings, database_url=_database_url(args, settings))
    return IssuerKeys(settings.data_dir / "issuer"), core.store


def cmd_cert_verify(args: argparse.Namespace) -> int:
    """Check a credential file offline: the operator's signature, the record, and not revoked."""
    import json

    from campusbot.certificates.verification import check_credential

    keys, store = _certificate_store(args)
    path = Path(args.file)
    try:
        credential = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        print(f"{path}: not a credential file: {exc}", file=sys.stderr)
        return 1
    if not isinstance(credential, dict):
        print(f"{path}: not a credential file", file=sys.stderr)
        return 1
    check = check_credential(credential, keys, store)
    if check.status == "revoked" and check.stored is not None and check.stored.revoked_at is not None:
        print(f"{path}: REVOKED on {check.stored.revoked_at.date().isoformat()}")
        return 1
    if check.status != "valid" or check.stored is None:
        print(f"{path}: INVALID: {check.reason}")
        return 1
    achievement = check.stored.achievement
    print(f"{path}: valid: {achievement.kind} for module {achievement.module_id}, issued {achievement.issued_at.date().isoformat()}")
    return 0


def cmd_cert_revoke(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    _keys, store = _certificate_store(args)
    with store.transaction() as tx:
        revoked = tx.revoke_achievement(args.id, datetime.now(UTC))
    if not revoked:
        print(f"{args.id}: unknown or revoked already", file=sys.stderr)
        return 1
    print(f"{args.id}: revoked")
    return 0


def cmd_cert_rotate_key(args: argparse.Namespace) -> int:
    keys, _store = _certificate_store(args)
    key = keys.rotate()
    print(f"new signing key {key.verification_method}; credentials signed before stay valid")
    return 0


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS keeps a value given before the subcommand from being reset by the subcommand's default.
    common.add_argument("--config", metavar="FILE", default=argparse.SUPPRESS, help="TOML configuration file")
    common.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help="log debug output")
    parser = argparse.ArgumentParser(prog="campusbot", description="A learning assistant for municipal employees.", parents=[common])
    # No set_defaults for these: it would change the shared actions' SUPPRESS default as well,
    # and a subcommand would then reset a --config given before it. main() fills them in.
    sub = parser.add_subparsers(dest="command", required=True)

    chat = sub.add_parser("chat", help="talk to the bot in the terminal", parents=[common])
    chat.add_argument("--user", metavar="ID", help="learner id (default: your login name)")
    chat.add_argument("--db", metavar="PATH_OR_URL", help="SQLite file or database URL")
    chat.add_argument("--lang", choices=["de", "en"], help="language of a new learner")
    chat.set_defaults(func=cmd_chat)

    run = sub.add_parser("run", help="run the bot on Matrix and/or Telegram (needs --config)", parents=[common])
    run.set_defaults(func=cmd_run)

    enroll = sub.add_parser("enroll-code", help="one-time codes that enrol employees on Telegram", parents=[common])
    enroll.add_argument("--tenant", required=True, help="the municipality's id from [[tenants]]")
    enroll.add_argument("--count", type=int, default=1, choices=range(1, 1001), metavar="N", help="how many codes (1-1000)")
    enroll.add_argument(
        "--days", type=int, default=DEFAULT_ENROLMENT_VALIDITY.days, choices=range(1, 366), metavar="DAYS",
        help=f"valid for (default {DEFAULT_ENROLMENT_VALIDITY.days})",
    )
    enroll.add_argument("--db", metavar="PATH_OR_URL", help="SQLite file or database URL")
    enroll.set_defaults(func=cmd_enroll_code)

    content = sub.add_parser("content", help="work with the content under dialogs/")
    content_sub = content.add_subparsers(dest="content_command", required=True)
    check = content_sub.add_parser("check", help="validate content files", parents=[common])
    check.add_argument("path", nargs="?", help="content folder (default: the shipped dialogs/)")
    check.set_defaults(func=cmd_content_check)

    db = sub.add_parser("db", help="database maintenance")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser("upgrade", help="apply all migrations", parents=[common])
    up.add_argument("--db", metavar="PATH_OR_URL", help="SQLite file or database URL")
    up.set_defaults(func=cmd_db_upgrade)

    cert = sub.add_parser("cert", help="confirmations and certificates")
    cert_sub = cert.add_subparsers(dest="cert_command", required=True)
    verify = cert_sub.add_parser("verify", help="check a credential file (exit 1 if invalid or revoked)", parents=[common])
    verify.add_argument("file", help="a .credential.json file")
    verify.add_argument("--db", metavar="PATH_OR_URL", help="SQLite file or database URL")
    verify.set_defaults(func=cmd_cert_verify)
    revoke = cert_sub.add_parser("revoke", help="revoke an issued confirmation or certificate", parents=[common])
    revoke.add_argument("id", help="its id (the last part of its verification address)")
    revoke.add_argument("--db", metavar="PATH_OR_URL", help="SQLite file or database URL")
    revoke.set_defaults(func=cmd_cert_revoke)
    rotate = cert_sub.add_parser("rotate-key", help="start signing with a new key", parents=[common])
    rotate.set_defaults(func=cmd_cert_rotate_key, db=None)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.config = getattr(args, "config", None)
    args.verbose = getattr(args, "verbose", False)
    level = logging.DEBUG if args.verbose else logging.INFO if args.command == "run" else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # nio's debug output can carry request details; it never goes below WARNING.
    logging.getLogger("nio").setLevel(logging.WARNING)
    # httpx logs every request URL at INFO, and Telegram's URLs carry the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    try:
        result: int = args.func(args)
    except CampusbotError as exc:
        print(f"campusbot: {exc}", file=sys.stderr)
        return 2
    return result


if __name__ == "__main__":
    raise SystemExit(main())
