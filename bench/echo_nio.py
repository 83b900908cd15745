"""A bare matrix-nio echo bot, the baseline of ``bench/matrix_latency.py``.

It logs in with a password (``ECHO_PASSWORD`` in the environment), keeps an
end-to-end encryption store in ``--store``, joins every room it is invited to
and answers each ``m.text`` message from someone else with an ``m.notice`` of
the same body, in plain and encrypted rooms alike (``ignore_unverified_devices``:
a bare bot shares its room keys with every device). Messages sent before it
started are skipped. After its first sync it writes ``--ready-file``; SIGTERM
stops it. Nothing here is campusbot's: this is what the cheapest nio bot costs.

    ECHO_PASSWORD=... python bench/echo_nio.py --homeserver URL --user-id @echo:server --store DIR --ready-file PATH
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

from nio import InviteMemberEvent, LoginResponse, MatrixRoom, RoomMessageText, RoomSendResponse
from nio.client.async_client import AsyncClient, AsyncClientConfig

log = logging.getLogger("echo_nio")
SYNC_TIMEOUT_MS = 30_000


class EchoBot:
    def __init__(self, client: AsyncClient) -> None:
        self.client = client
        self.started_ms = int(time.time() * 1000)
        self.echoed = 0

    async def on_invite(self, room: MatrixRoom, event: InviteMemberEvent) -> None:
        if event.state_key != self.client.user_id or event.membership != "invite":
            return
        log.info("joining %s on the invitation of %s", room.room_id, event.sender)
        await self.client.join(room.room_id)

    async def on_text(self, room: MatrixRoom, event: RoomMessageText) -> None:
        if event.sender == self.client.user_id or event.server_timestamp < self.started_ms:
            return
        content = {"msgtype": "m.notice", "body": event.body}
        answer = await self.client.room_send(room.room_id, "m.room.message", content, ignore_unverified_devices=True)
        if isinstance(answer, RoomSendResponse):
            self.echoed += 1
        else:
            log.warning("could not echo in %s: %s", room.room_id, answer)


async def run(args: argparse.Namespace, password: str) -> None:
    args.store.mkdir(parents=True, exist_ok=True)
    config = AsyncClientConfig(encryption_enabled=True, store_sync_tokens=False)
    client = AsyncClient(args.homeserver, args.user_id, store_path=str(args.store), config=config)
    bot = EchoBot(client)
    try:
        answer = await client.login(password, device_name="echo-nio")
        if not isinstance(answer, LoginResponse):
            raise SystemExit(f"login as {args.user_id} failed: {answer}")
        if client.should_upload_keys:
            await client.keys_upload()
        client.add_event_callback(bot.on_invite, InviteMemberEvent)  # type: ignore[arg-type]
        client.add_event_callback(bot.on_text, RoomMessageText)  # type: ignore[arg-type]
        sync = asyncio.create_task(client.sync_forever(timeout=SYNC_TIMEOUT_MS, full_state=True))
        synced = asyncio.create_task(client.synced.wait())
        done, _ = await asyncio.wait({sync, synced}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        if sync in done:
            sync.result()  # raises what stopped it
        if synced not in done:
            raise SystemExit("no first sync within 60 s")
        args.ready_file.write_text(f"{client.user_id} {client.device_id}\n")
        log.info("ready as %s, device %s", client.user_id, client.device_id)
        await sync
    finally:
        log.info("stopping after %d echoes", bot.echoed)
        await client.close()  # type: ignore[no-untyped-call]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--homeserver", required=True)
    parser.add_argument("--user-id", required=True)
    parser.add_argument("--store", type=Path, required=True, help="folder for nio's E2EE store")
    parser.add_argument("--ready-file", type=Path, required=True, help="written after the first sync")
    args = parser.parse_args()
    password = os.environ.get("ECHO_PASSWORD", "")
    if not password:
        raise SystemExit("set ECHO_PASSWORD")
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("nio").setLevel(logging.WARNING)

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
