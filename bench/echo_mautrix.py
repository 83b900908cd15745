"""A bare mautrix-python echo bot (mautrix is maubot's framework), a baseline of ``bench/matrix_latency.py``.

It runs in its own virtualenv, not campusbot's, which ``bench/matrix_latency.py``
creates under ``/tmp/campusbot-bench-venv-mautrix`` with
``pip install 'mautrix[encryption]' asyncpg aiosqlite``. python-olm comes as a
manylinux wheel on x86_64; where pip has to build it, install Debian's
``libolm-dev`` first (``apt-get update && apt-get install -y libolm-dev``).

Set up the way maubot sets up a client with encryption: a ``Client`` with a
``PgCryptoStateStore``, an ``OlmMachine`` on a ``PgCryptoStore`` (which is also
the sync store), both in one SQLite file in ``--store`` through aiosqlite. It logs
in with a password (``ECHO_PASSWORD`` in the environment), joins every room it
is invited to and answers each ``m.text`` message from someone else with an
``m.notice`` of the same body, in plain and encrypted rooms alike (mautrix
shares room keys with unverified devices by default). Messages sent before it
started are skipped. After its first sync it writes ``--ready-file``; SIGTERM
stops it.

    ECHO_PASSWORD=... VENV/bin/python bench/echo_mautrix.py --homeserver URL --user-id @echo:server --store DIR --ready-file PATH
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

# mautrix lives in the benchmark's own virtualenv: in campusbot's environment mypy sees these as Any.
from mautrix.client import Client, InternalEventType  # type: ignore[import-not-found, unused-ignore]
from mautrix.crypto import OlmMachine, PgCryptoStateStore, PgCryptoStore  # type: ignore[import-not-found, unused-ignore]
from mautrix.types import EventType, Membership, MessageType  # type: ignore[import-not-found, unused-ignore]
from mautrix.util.async_db import Database  # type: ignore[import-not-found, unused-ignore]

log = logging.getLogger("echo_mautrix")
PICKLE_KEY = "campusbot-bench-echo-mautrix"  # a throwaway store of a throwaway account


class EchoBot:
    def __init__(self, client: Any) -> None:
        self.client = client
        self.started_ms = int(time.time() * 1000)
        self.echoed = 0
        self.synced = asyncio.Event()

    async def on_member(self, event: Any) -> None:
        if event.state_key != self.client.mxid or event.content.membership != Membership.INVITE:
            return
        log.info("joining %s on the invitation of %s", event.room_id, event.sender)
        await self.client.join_room(event.room_id)

    async def on_message(self, event: Any) -> None:
        if event.sender == self.client.mxid or event.timestamp < self.started_ms:
            return
        if event.content.msgtype != MessageType.TEXT:
            return
        await self.client.send_notice(event.room_id, event.content.body)
        self.echoed += 1

    async def on_sync(self, data: Any) -> None:
        self.synced.set()


async def run(args: argparse.Namespace, password: str) -> None:
    args.store.mkdir(parents=True, exist_ok=True)
    # One SQLite file for both stores: mautrix's database layer keeps the connection of a running
    # transaction in a context variable that every Database shares, so the state store must use
    # the crypto store's connection pool (maubot does the same).
    url = f"sqlite://{args.store.resolve()}/echo.db"
    crypto_db = Database.create(url, upgrade_table=PgCryptoStore.upgrade_table)
    state_db = Database.create(url, upgrade_table=PgCryptoStateStore.upgrade_table)
    state_db.override_pool(crypto_db)
    await crypto_db.start()
    await state_db.start()
    client: Any = None
    bot: EchoBot | None = None
    try:
        state_store = PgCryptoStateStore(state_db)
        crypto_store = PgCryptoStore(account_id=args.user_id, pickle_key=PICKLE_KEY, db=crypto_db)
        await crypto_store.open()
        client = Client(mxid=args.user_id, base_url=args.homeserver, state_store=state_store, sync_store=crypto_store)
        await client.login(password=password, device_name="echo-mautrix")
        crypto = OlmMachine(client, crypto_store, state_store)
        client.crypto = crypto
        await crypto_store.put_device_id(client.device_id)
        await crypto.load()
        await crypto.share_keys()  # device keys and one-time keys
        bot = EchoBot(client)
        client.add_event_handler(EventType.ROOM_MEMBER, bot.on_member)
        client.add_event_handler(EventType.ROOM_MESSAGE, bot.on_message)
        client.add_event_handler(InternalEventType.SYNC_SUCCESSFUL, bot.on_sync)
        sync = client.start(None)
        synced = asyncio.create_task(bot.synced.wait())
        done, _ = await asyncio.wait({sync, synced}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        if sync in done:
            raise SystemExit(f"syncing stopped at start: {sync.result()!r}")
        if synced not in done:
            raise SystemExit("no first sync within 60 s")
        args.ready_file.write_text(f"{client.mxid} {client.device_id}\n")
        log.info("ready as %s, device %s", client.mxid, client.device_id)
        await sync
    finally:
        log.info("stopping after %d echoes", 0 if bot is None else bot.echoed)
        if client is not None:
            client.stop()
            await client.api.session.close()
        await state_db.stop()  # a no-op for a database that uses another's pool
        await crypto_db.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--homeserver", required=True)
    parser.add_argument("--user-id", required=True)
    parser.add_argument("--store", type=Path, required=True, help="folder for the SQLite crypto and state stores")
    parser.add_argument("--ready-file", type=Path, required=True, help="written after the first sync")
    args = parser.parse_args()
    password = os.environ.get("ECHO_PASSWORD", "")
    if not password:
        raise SystemExit("set ECHO_PASSWORD")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("mau").setLevel(logging.WARNING)

    async def serve() -> None:
        task = asyncio.current_task()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            if task is not None:
                loop.add_signal_handler(signum, task.cancel)
        with contextlib.suppress(asyncio.CancelledError):
            await run(args, password)

    asyncio.run(serve())


if __name__ == "__main__":
    main()
