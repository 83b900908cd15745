"""campusbot on Matrix: matrix-nio with end-to-end encryption, exactly-once delivery.

- The sync token is campusbot's own (nio saves its token before running callbacks,
  which would be at-most-once): it is stored only after a whole batch was handled.
  Each event is a turn whose event id is recorded in the turn's transaction, so a
  batch replayed after a crash is deduplicated event by event.
- Replies leave through the outbox; the outbox id is the Matrix transaction id, so
  a resend after a crash is deduplicated by the homeserver.
- Keys keep flowing outside ``sync_forever``: after every sync the channel uploads,
  queries and claims keys and sends pending to-device messages, as nio's loop does.
- Trust policy for learners' devices: trust on first use. A bot cannot verify
  interactively, so room keys are shared with every device a learner has; a new
  device of a learner gets keys from then on, and is logged. Devices a learner
  blacklists are never trusted.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from nio import (
    EnablePushRuleResponse,
    InviteMemberEvent,
    JoinError,
    LoginResponse,
    MegolmEvent,
    RoomMessageText,
    RoomSendResponse,
    SyncResponse,
    UnknownEvent,
    UploadFilterResponse,
    UploadResponse,
    WhoamiResponse,
)
from nio.api import PushRuleKind
from nio.client.async_client import AsyncClient, AsyncClientConfig
from nio.rooms import MatrixRoom

from campusbot.channels.matrix.crosssigning import ensure_cross_signed
from campusbot.channels.matrix.crypto_store import CryptoStore
from campusbot.channels.matrix.private_file import write_private_file
from campusbot.channels.matrix.render import (
    POLL_START,
    file_content,
    learner_text,
    notice_content,
    parse_poll_response,
    poll_end_content,
    poll_start_content,
    question_text,
)
from campusbot.config import MatrixSettings, Settings
from campusbot.core.clock import Clock
from campusbot.core.hr_reports import HrReports
from campusbot.core.messages import ChannelName, ChoiceMessage, FileMessage, Incoming, Option, TextMessage
from campusbot.core.ports import OutboxItem, Store
from campusbot.core.tenants import TenantPolicy
from campusbot.core.turns import TurnService
from campusbot.errors import TransportError, Unavailable

log = logging.getLogger(__name__)

CHANNEL = ChannelName("matrix")
PENDING_CURSOR = "matrix:undecrypted"
POLLS_CURSOR = "matrix:open_polls"
POLLS_TO_END_CURSOR = "matrix:polls_to_end"  # answered polls not yet ended: [room id, poll event id, outbox id]
SYNC_TIMEOUT_MS = 30_000


# A lean sync is a fast sync: no presence, receipts, typing or account data.
# The bot's own events stay in (``_on_event`` skips them). Filtering them out with
# ``not_senders`` saved the bot CPU, but made Synapse hand the bot each learner message
# 10-14 ms later (bench/matrix_latency.py, 100 x 2: learner's event to the bot's sync response
# 60 ms against 46 ms for the nio echo; without ``not_senders`` 53 against 56 ms).
SYNC_FILTER: dict[str, Any] = {
    "presence": {"types": []},
    "account_data": {"types": []},
    "room": {"ephemeral": {"types": []}, "account_data": {"types": []}, "timeline": {"limit": 50}},
}


MAX_BACKOFF_S = 30.0
OUTBOX_BATCH = 200
IDLE_LOOK_S = 5.0  # how often the sender reads the outbox when nothing woke it
# An answered poll is ended once its room has been quiet this long (its learner is reading), or
# at the latest after POLL_END_MAX_DEFER_S: ending it is bookkeeping that must not delay a reply.
POLL_END_DELAY_S = 0.5
POLL_END_MAX_DEFER_S = 60.0
# A question asked again while its poll is still open and at most this many bot messages up is
# repeated as text under the reply instead of as a new poll: the open poll stays answerable.
REASK_AS_TEXT_WITHIN = 3
PENDING_DECRYPTION_TTL = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class Credentials:
    user_id: str
    device_id: str
    access_token: str


def _token_refused(response: object) -> bool:
    return getattr(response, "status_code", None) == "M_UNKNOWN_TOKEN"


def _unavailable(response: object) -> bool:
    """Whether nio's error response says the homeserver cannot answer now (5xx, 429)."""
    transport = getattr(response, "transport_response", None)
    status = getattr(transport, "status", 0)
    return getattr(response, "status_code", None) == "M_LIMIT_EXCEEDED" or status >= 500 or status == 429


@dataclass(frozen=True, slots=True)
class _PollToEnd:
    room_id: str
    poll_event_id: str
    outbox_id: int  # of the question that replaced the poll: the end's transaction id derives from it
    since: float  # monotonic


@dataclass(slots=True)
class _PendingDecryption:
    room_id: str
    event: MegolmEvent
    since: datetime

    def to_json(self) -> dict[str, Any]:
        return {"room_id": self.room_id, "source": self.event.source, "since": self.since.isoformat()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _PendingDecryption | None:
        # A synced event's source has no room_id, and nio decrypts with the room's session only.
        event = MegolmEvent.from_dict({**data["source"], "room_id": data["room_id"]})
        if not isinstance(event, MegolmEvent):
            return None
        return cls(data["room_id"], event, datetime.fromisoformat(data["since"]))


class MatrixChannel:
    """Owns the nio client: login, crypto, the sync loop and the outbox sender."""

    def __init__(
        self, settings: Settings, turns: TurnService, store: Store, clock: Clock, hr_reports: HrReports | None = None,
    ) -> None:
        self._hr_reports = hr_reports
        if settings.matrix is None:
            raise TransportError("the [matrix] section of the configuration is missing")
        self._settings = settings
        self._matrix: MatrixSettings = settings.matrix
        self._turns = turns
        self._store = store
        self._clock = clock
        self._dir = settings.data_dir / "matrix"
        self._credentials_path = self._dir / "credentials.json"
        self._wake_sender = asyncio.Event()
        # Replies of this process's turns, already committed to the outbox. While the outbox holds
        # nothing else (`_outbox_clean`), the sender takes them from here and skips a read.
        self._ready: list[OutboxItem] = []
        self._outbox_clean = False
        self._fired = False
        self._polls_to_end: list[_PollToEnd] = []
        self._last_activity: dict[str, float] = {}  # room id -> monotonic time of its last turn or send
        self._pending: list[_PendingDecryption] = []
        self._open_polls: dict[str, str] = {}
        self._open_choice: dict[str, tuple[str, str, tuple[Option, ...]]] = {}  # room -> the open poll's question
        self._sent_since_poll: dict[str, int] = {}  # room -> bot messages sent after its open poll
        self._known_devices: dict[str, set[str]] = {}
        self._joining: dict[str, int] = {}  # room id -> when the bot joined it (ms), until its first sync
        self.ready = asyncio.Event()
        secret = self._matrix.store_secret.get_secret_value()
        self._dir.joinpath("store").mkdir(parents=True, exist_ok=True)
        config = AsyncClientConfig(
            encryption_enabled=True,
            store=CryptoStore,
            pickle_key=secret,
            store_sync_tokens=False,
            # nio retries 429s forever by default; the outbox owns retries instead.
            max_limit_exceeded=0,
            max_timeouts=2,
            request_timeout=SYNC_TIMEOUT_MS / 1000 + 30,
        )
        self.client = AsyncClient(
            self._matrix.homeserver, self._matrix.user_id, store_path=str(self._dir / "store"), config=config,
        )

    # -- lifecycle ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Log in (or restore the login), prepare encryption, then sync and send until cancelled."""
        try:
            await self._connect()
            self._restore_state()
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._sync_loop(), name="matrix-sync")
                tasks.create_task(self._send_loop(), name="matrix-send")
        finally:
            await self.client.close()  # type: ignore[no-untyped-call]

    async def _connect(self) -> None:
        """Log in, mute the bot's own notifications, upload keys and cross-sign. The bot may come
        up before its homeserver (after a power cut, in a compose file): until the homeserver
        answers, it waits and tries again with backoff instead of giving up."""
        backoff = 1.0
        while True:
            try:
                await self._login()
                await self._mute_own_notifications()
                await self._prepare_crypto()
                return
            except (Unavailable, aiohttp.ClientError, TimeoutError) as exc:
                # nio raises connection errors after its own two quick retries (max_timeouts).
                log.warning(
                    "matrix: homeserver %s not reachable (%s), trying again in %.0f s", self._matrix.homeserver, exc, backoff,
                )
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _login(self) -> None:
        credentials = self._load_credentials()
        token = self._matrix.access_token.get_secret_value()
        if credentials is not None:
            self.client.restore_login(credentials.user_id, credentials.device_id, credentials.access_token)
            await self._check_token("the stored access token")
        elif token:
            self.client.restore_login(self._matrix.user_id, self._matrix.device_id, token)
            await self._check_token("matrix.access_token")
            self._save_credentials(Credentials(self._matrix.user_id, self._matrix.device_id, token))
        else:
            response = await self.client.login(self._matrix.password.get_secret_value(), device_name=self._matrix.device_name)
            if not isinstance(response, LoginResponse):
                if _unavailable(response):
                    raise Unavailable(f"login: {getattr(response, 'message', response)}")
                raise TransportError(
                    f"Matrix login as {self._matrix.user_id} failed: {getattr(response, 'message', response)} (check matrix.password)"
                )
            self._save_credentials(Credentials(response.user_id, response.device_id, response.access_token))
        log.info("matrix: logged in as %s, device %s", self.client.user_id, self.client.device_id)

    async def _check_token(self, source: str) -> None:
        """A restored login is only a token: ask the homeserver whose it is, before anything else."""
        response = await self.client.whoami()
        if isinstance(response, WhoamiResponse):
            if response.user_id != self._matrix.user_id:
                raise TransportError(f"{source} belongs to {response.user_id}, not matrix.user_id {self._matrix.user_id}")
            return
        if _unavailable(response):
            raise Unavailable(f"whoami: {getattr(response, 'message', response)}")
        if _token_refused(response):
            raise TransportError(self._token_refused_message())
        raise TransportError(f"Matrix: the homeserver refused {source}: {getattr(response, 'message', response)}")

    def _token_refused_message(self) -> str:
        return (
            f"the homeserver no longer accepts the access token of {self.client.user_id}, device {self.client.device_id} "
            f"(M_UNKNOWN_TOKEN): the device was logged out or removed. Delete {self._credentials_path} and start again "
            "with matrix.password set (or a new matrix.access_token and its matrix.device_id): the bot then signs in "
            "as a new device and cross-signs it with the identity it has"
        )

    async def _mute_own_notifications(self) -> None:
        """The bot account needs no push notifications. With the master push rule on, Synapse
        stores no notification for it per learner message: about 1 ms less on each message's
        way to the bot (measured on an unencrypted DM), and no unread counts that only grow."""
        try:
            response: object = await self.client.enable_pushrule("global", PushRuleKind.override, ".m.rule.master", True)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            response = exc  # not worth failing the start for: the next start tries again
        if not isinstance(response, EnablePushRuleResponse):
            log.warning("matrix: could not turn off the bot's own notifications: %s", getattr(response, "message", response))

    def _restore_state(self) -> None:
        """What the last run left open: events waiting for their room key, polls not yet ended."""
        with self._store.transaction() as tx:
            pending = json.loads(tx.cursor(PENDING_CURSOR) or "[]")
            self._open_polls = json.loads(tx.cursor(POLLS_CURSOR) or "{}")
            to_end = json.loads(tx.cursor(POLLS_TO_END_CURSOR) or "[]")
        now = time.monotonic()
        self._polls_to_end = [_PollToEnd(room_id, event_id, outbox_id, now) for room_id, event_id, outbox_id in to_end]
        self._pending = [p for p in (_PendingDecryption.from_json(item) for item in pending) if p is not None]

    def _save_polls(self) -> None:
        """The open poll of each room, and the answered ones still to end: a restart ends them."""
        to_end = [[p.room_id, p.poll_event_id, p.outbox_id] for p in self._polls_to_end]
        with self._store.transaction() as tx:
            tx.save_cursor(POLLS_CURSOR, json.dumps(self._open_polls), self._clock.now())
            tx.save_cursor(POLLS_TO_END_CURSOR, json.dumps(to_end), self._clock.now())

    def _load_credentials(self) -> Credentials | None:
        if not self._credentials_path.is_file():
            return None
        data = json.loads(self._credentials_path.read_text(encoding="utf-8"))
        if data.get("user_id") != self._matrix.user_id:
            raise TransportError(f"{self._credentials_path} belongs to {data.get('user_id')}, not matrix.user_id {self._matrix.user_id}")
        return Credentials(data["user_id"], data["device_id"], data["access_token"])

    def _save_credentials(self, credentials: Credentials) -> None:
        body = {"user_id": credentials.user_id, "device_id": credentials.device_id, "access_token": credentials.access_token}
        write_private_file(self._credentials_path, json.dumps(body).encode("utf-8"))

    async def _prepare_crypto(self) -> None:
        if self.client.should_upload_keys:
            uploaded = await self.client.keys_upload()
            if _unavailable(uploaded):
                raise Unavailable(f"keys upload: {getattr(uploaded, 'message', uploaded)}")
        async with aiohttp.ClientSession() as session:
            await ensure_cross_signed(
                session,
                self._matrix.homeserver,
                self.client.access_token,
                self.client.user_id,
                self.client.device_id or "",
                self._matrix.password.get_secret_value() or None,
                self._dir / "cross_signing.keys",
                self._matrix.store_secret.get_secret_value(),
                # Sign only the device key nio really holds, not one a homeserver could swap in.
                device_ed25519=self.client.olm.account.identity_keys["ed25519"] if self.client.olm else None,
            )

    # -- receiving ----------------------------------------------------------------------------

    async def _sync_filter(self) -> str | dict[str, Any]:
        """The filter's id once uploaded (Synapse parses it once), else the filter itself."""
        try:
            response = await self.client.upload_filter(
                presence=SYNC_FILTER["presence"], account_data=SYNC_FILTER["account_data"], room=SYNC_FILTER["room"],
            )
        except (aiohttp.ClientError, TimeoutError, OSError):
            return SYNC_FILTER
        return response.filter_id if isinstance(response, UploadFilterResponse) else SYNC_FILTER

    async def _sync_loop(self) -> None:
        backoff = 1.0
        first = True
        sync_filter = await self._sync_filter()
        with self._store.transaction() as tx:
            since = tx.cursor(CHANNEL)
        saved_pending = "[]"
        while True:
            try:
                # nio keeps no room state across restarts: the first sync of every run asks for full state.
                response = await self.client.sync(
                    timeout=0 if first else SYNC_TIMEOUT_MS, sync_filter=sync_filter, since=since, full_state=first,
                )
                if isinstance(response, SyncResponse):
                    await self._keep_keys_flowing()
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                # nio raises connection errors rather than returning them: the homeserver is away.
                response = None
                problem: object = exc
            else:
                problem = getattr(response, "message", response)
            if not isinstance(response, SyncResponse):
                if _token_refused(response):
                    raise TransportError(self._token_refused_message())
                log.warning("matrix: sync failed (%s), retrying in %.0f s", problem, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF_S)
                continue
            backoff = 1.0
            await self._handle_batch(response, initial=since is None)
            # Let the woken sender put the replies on the wire before the bookkeeping below.
            await asyncio.sleep(0)
            pending = json.dumps([p.to_json() for p in self._pending])
            with self._store.transaction() as tx:
                # Events still waiting for their key are saved with the token that moves past them.
                if pending != saved_pending:
                    tx.save_cursor(PENDING_CURSOR, pending, self._clock.now())
                tx.save_cursor(CHANNEL, response.next_batch, self._clock.now())
            saved_pending = pending
            since = response.next_batch
            first = False
            self.ready.set()

    async def _keep_keys_flowing(self) -> None:
        client = self.client
        if client.should_upload_keys:
            await client.keys_upload()
        if client.should_query_keys:
            await client.keys_query()
        if client.should_claim_keys:
            await client.keys_claim(client.get_users_for_key_claiming())
        await client.send_to_device_messages()

    async def _handle_batch(self, response: SyncResponse, *, initial: bool) -> None:
        for room_id, invite in response.rooms.invite.items():
            await self._on_invite(room_id, [e for e in invite.invite_state if isinstance(e, InviteMemberEvent)])
        handled = False
        for room_id, info in response.rooms.join.items():
            # What a room held before the bot joined is history, not for the bot.
            joined_at = self._joining.pop(room_id, None)
            handled |= joined_at is not None  # the greeting may go out now
            room = self.client.rooms.get(room_id)
            if initial or room is None:
                continue  # the first sync of a fresh bot replays history
            for event in info.timeline.events:
                if joined_at is None or getattr(event, "server_timestamp", 0) >= joined_at:
                    handled |= self._on_event(room, event)
        handled |= self._retry_decryption()
        if handled:
            self._wake_sender.set()

    async def _on_invite(self, room_id: str, events: list[InviteMemberEvent]) -> None:
        invite = next((e for e in events if e.state_key == self.client.user_id and e.membership == "invite"), None)
        if invite is None:
            return
        inviter = invite.sender
        is_dm = bool(invite.content.get("is_direct"))
        group_room = room_id in self._matrix.group_rooms
        tenant = self._settings.tenant_of(inviter)
        allowed = group_room or (is_dm and tenant is not None)
        if not allowed:
            log.info("matrix: declining invite to %s from %s", room_id, inviter)
            await self.client.room_leave(room_id)
            return
        # Compared with the homeserver's event timestamps: wall-clock time, not the dialog's clock.
        joining = int(time.time() * 1000)
        response = await self.client.join(room_id)
        if isinstance(response, JoinError):
            log.warning("matrix: could not join %s: %s", room_id, response.message)
            return
        self._joining[room_id] = joining
        if not group_room:
            # Greet the inviter. The id makes the greeting once per room, also when a crash
            # replays this invite.
            self._turn(Incoming(CHANNEL, inviter, room_id, f"join:{room_id}", kind="open", tenant_id=tenant.id if tenant else None))
            self._wake_sender.set()

    def _is_learner_room(self, room: MatrixRoom) -> bool:
        # Group rooms (an HR room) never get a learner's dialog: nothing personal goes there.
        return room.room_id not in self._matrix.group_rooms

    def _on_event(self, room: MatrixRoom, event: Any) -> bool:
        sender = getattr(event, "sender", None)
        if sender is None or sender == self.client.user_id:
            return False
        if isinstance(event, MegolmEvent):
            self._pending.append(_PendingDecryption(room.room_id, event, self._clock.now()))
            return False
        if not self._is_learner_room(room):
            return self._on_group_event(room, sender, event)
        tenant = self._settings.tenant_of(sender)
        if tenant is None:
            return False
        if isinstance(event, RoomMessageText):
            text = learner_text(event.source.get("content", {}))
            self._turn(Incoming(
                CHANNEL, sender, room.room_id, event.event_id, text=text, tenant_id=tenant.id, display_name=room.user_name(sender),
            ))
            return True
        if isinstance(event, UnknownEvent):
            answer = parse_poll_response(event.type, event.source.get("content", {}))
            if answer is None:
                return False
            self._turn(Incoming(
                CHANNEL, sender, room.room_id, event.event_id, kind="choice", choice_id=answer.choice_id, option_keys=answer.option_keys,
                tenant_id=tenant.id, display_name=room.user_name(sender),
            ))
            return True
        return False

    def _on_group_event(self, room: MatrixRoom, sender: str, event: Any) -> bool:
        """An HR room: reports for its HR members; everything else there is ignored."""
        tenant = next((t for t in self._settings.tenants if t.hr.room and t.hr.room == room.room_id), None)
        if tenant is None or self._hr_reports is None or not isinstance(event, RoomMessageText):
            return False
        text = learner_text(event.source.get("content", {}))
        policy = TenantPolicy(tenant.id, tenant.name, tenant.state, departments=tuple(tenant.departments))
        with self._store.transaction() as tx:
            if not tx.remember_inbound(CHANNEL, event.event_id, self._clock.now()):
                return False
            answer = self._hr_reports.handle(tx, policy, frozenset(tenant.hr.members), sender, text)
            if not answer:
                return False
            tx.enqueue(None, CHANNEL, room.room_id, answer, self._clock.now())
        self._outbox_clean = False
        return True

    def _retry_decryption(self) -> bool:
        """Events whose room key came late are handled once the key is there."""
        handled = False
        still: list[_PendingDecryption] = []
        for pending in self._pending:
            try:
                event = self.client.decrypt_event(pending.event)
            except Exception as exc:  # nio raises several crypto errors; all mean "not yet"
                log.debug("matrix: %s not decryptable yet: %s", pending.event.event_id, exc)
                if self._clock.now() - pending.since < PENDING_DECRYPTION_TTL:
                    still.append(pending)
                else:
                    log.warning("matrix: giving up on undecryptable event %s", pending.event.event_id)
                continue
            room = self.client.rooms.get(pending.room_id)
            if room is not None:
                handled |= self._on_event(room, event)
        self._pending = still
        return handled

    def _turn(self, incoming: Incoming) -> None:
        self._last_activity[incoming.address] = time.monotonic()
        self._ready.extend(self._turns.handle(incoming).outbox)

    # -- sending ------------------------------------------------------------------------------

    async def _send_loop(self) -> None:
        await self.ready.wait()  # rooms and their encryption state come with the first sync
        while True:
            delay = await self._drain()
            if self._polls_to_end:
                # One poll at a time, and only where the room is quiet: replies always go first.
                wait = await self._end_a_quiet_poll()
                if wait > 0 and not await self._sleep(min(wait, delay)) and wait >= delay:
                    self._outbox_clean = False
                continue
            if not await self._sleep(delay):
                self._outbox_clean = False  # nothing woke the sender: read the outbox itself

    def poke(self) -> None:
        """Others (the scheduler) wrote to the outbox: read it now."""
        self._outbox_clean = False
        self._wake_sender.set()

    async def _sleep(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for a turn to wake the sender; True if one did."""
        if not self._wake_sender.is_set():
            # A plain Event wait: woken by a turn, the sender runs in the very next loop step.
            timer = asyncio.get_running_loop().call_later(seconds, self._timer_fired)
            await self._wake_sender.wait()
            timer.cancel()
        self._wake_sender.clear()
        fired, self._fired = self._fired, False
        return not fired

    def _timer_fired(self) -> None:
        self._fired = True
        self._wake_sender.set()

    async def _drain(self) -> float:
        """Send what is due; returns how long to wait before looking again."""
        if self._outbox_clean:
            items, self._ready = self._ready, []
            full = False
        else:
            with self._store.transaction() as tx:
                items = tx.pending_outbox(CHANNEL, OUTBOX_BATCH, self._clock.now())
            # Everything in `_ready` was committed before this read, so the read holds it too.
            self._ready = []
            full = len(items) == OUTBOX_BATCH
        blocked: set[str] = set()
        delivered: list[int] = []
        next_wait = IDLE_LOOK_S
        merged: set[int] = set()
        for index, item in enumerate(items):
            if item.address in blocked or item.id in merged:
                continue  # keep each room's messages in order
            if item.address in self._joining:
                blocked.add(item.address)  # just joined: the room's state comes with the next sync
                continue
            follower = items[index + 1] if index + 1 < len(items) else None
            repeats = follower is not None and isinstance(item.message, TextMessage) and self._repeats_open_poll(follower, item.address)
            also = follower if repeats else None
            retry_after = await self._send(item, also)
            if retry_after is None:
                delivered.append(item.id)
                if also is not None:
                    delivered.append(also.id)
                    merged.add(also.id)
                continue
            with self._store.transaction() as tx:
                tx.mark_failed(item.id, self._clock.now() + timedelta(seconds=retry_after))
            blocked.add(item.address)
            next_wait = min(next_wait, retry_after)
        if delivered:
            # A crash before this commit resends them with the same transaction ids; the homeserver
            # answers those with the events it already has.
            with self._store.transaction() as tx:
                for outbox_id in delivered:
                    tx.mark_delivered(outbox_id)
        self._outbox_clean = not blocked and not full
        return 0.0 if full else next_wait

    def _repeats_open_poll(self, item: OutboxItem, room_id: str) -> bool:
        """Is this the question of the room's open poll again, asked just a few messages below it?"""
        message = item.message
        return (
            item.address == room_id
            and isinstance(message, ChoiceMessage)
            and self._open_choice.get(room_id) == (message.choice_id, message.prompt, message.options)
            and self._sent_since_poll.get(room_id, REASK_AS_TEXT_WITHIN) < REASK_AS_TEXT_WITHIN
        )

    async def _send(self, item: OutboxItem, also: OutboxItem | None = None) -> float | None:
        """Send one outbox item (with ``also``, a repeated question, in the same event);
        None when sent, else seconds until it may be retried."""
        room_id = item.address
        room = self.client.rooms.get(room_id)
        try:
            if room is not None and room.encrypted and not room.members_synced:
                await self.client.joined_members(room_id)
            self._note_new_devices(room)
            event_type, content = await self._content_for(item, also, encrypted=bool(room and room.encrypted))
            response = await self.client.room_send(
                room_id, event_type, content, tx_id=f"campusbot-{item.id}", ignore_unverified_devices=True,
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("matrix: sending outbox %s failed: %s", item.id, exc)
            return self._backoff(item)
        except Exception:
            # One message must not stop the sender: it is retried with backoff, the rest go on.
            log.exception("matrix: cannot send outbox %s to %s", item.id, room_id)
            return self._backoff(item)
        if isinstance(response, RoomSendResponse):
            self._last_activity[room_id] = time.monotonic()
            if event_type == POLL_START and isinstance(item.message, ChoiceMessage):
                # The new question goes out first; the old poll is ended once the room is quiet.
                previous = self._open_polls.get(room_id)
                self._open_polls[room_id] = response.event_id
                self._open_choice[room_id] = (item.message.choice_id, item.message.prompt, item.message.options)
                self._sent_since_poll[room_id] = 0
                if previous is not None and previous != response.event_id:  # a resend gets the same event back
                    self._polls_to_end.append(_PollToEnd(room_id, previous, item.id, time.monotonic()))
                self._save_polls()
            else:
                self._sent_since_poll[room_id] = self._sent_since_poll.get(room_id, REASK_AS_TEXT_WITHIN) + 1
            return None
        retry_ms = getattr(response, "retry_after_ms", None)
        log.warning("matrix: outbox %s not sent: %s %s", item.id, getattr(response, "status_code", ""), getattr(response, "message", ""))
        if retry_ms:
            return max(float(retry_ms) / 1000, 0.05)
        return self._backoff(item)

    @staticmethod
    def _backoff(item: OutboxItem) -> float:
        return float(min(2 ** item.attempts, MAX_BACKOFF_S))

    async def _end_a_quiet_poll(self) -> float:
        """End one answered poll whose room has been quiet for a moment (or which waited long
        enough); returns 0 when one was ended, else the seconds until one may be."""
        now = time.monotonic()
        wait = POLL_END_MAX_DEFER_S
        for index, poll in enumerate(self._polls_to_end):
            quiet_at = self._last_activity.get(poll.room_id, 0.0) + POLL_END_DELAY_S
            due = min(quiet_at, poll.since + POLL_END_MAX_DEFER_S)
            if due <= now:
                del self._polls_to_end[index]
                await self._end_poll(poll.room_id, poll.poll_event_id, poll.outbox_id)
                self._save_polls()  # after the end: one sent twice has the same transaction id
                return 0.0
            wait = min(wait, due - now)
        return wait

    async def _end_poll(self, room_id: str, poll_event_id: str, outbox_id: int) -> None:
        try:
            response = await self.client.room_send(
                room_id, "org.matrix.msc3381.poll.end", poll_end_content(poll_event_id, "✓"),
                tx_id=f"campusbot-{outbox_id}-end", ignore_unverified_devices=True,
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            response = exc
        if not isinstance(response, RoomSendResponse):
            # A poll left open is harmless: its answers no longer match the current question.
            log.info("matrix: could not end poll %s: %s", poll_event_id, response)

    async def _content_for(self, item: OutboxItem, also: OutboxItem | None, *, encrypted: bool) -> tuple[str, dict[str, Any]]:
        message = item.message
        if isinstance(message, TextMessage):
            if also is not None and isinstance(also.message, ChoiceMessage):
                return "m.room.message", notice_content(message.text + "\n\n" + question_text(also.message))
            return "m.room.message", notice_content(message.text)
        if isinstance(message, ChoiceMessage):
            if self._repeats_open_poll(item, item.address):
                return "m.room.message", notice_content(question_text(message))
            return POLL_START, poll_start_content(message)
        if isinstance(message, FileMessage):
            return "m.room.message", await self._upload(message, encrypted=encrypted)
        raise TypeError(f"cannot send {type(message).__name__} on Matrix")

    async def _upload(self, message: FileMessage, *, encrypted: bool) -> dict[str, Any]:
        response, keys = await self.client.upload(
            io.BytesIO(message.data), content_type=message.mimetype, filename=message.filename,
            encrypt=encrypted, filesize=len(message.data),
        )
        if not isinstance(response, UploadResponse):
            raise OSError(f"upload of {message.filename} failed: {getattr(response, 'message', response)}")
        if encrypted and keys is not None:
            encrypted_file = {**keys, "url": response.content_uri}
            return file_content(message.filename, message.mimetype, len(message.data), message.caption, None, encrypted_file)
        return file_content(message.filename, message.mimetype, len(message.data), message.caption, response.content_uri, None)

    def _note_new_devices(self, room: MatrixRoom | None) -> None:
        """Trust on first use: log when a learner's set of devices changes."""
        if room is None or not room.encrypted:
            return
        for user_id in room.users:
            if user_id == self.client.user_id:
                continue
            devices = {d.device_id for d in self.client.device_store.active_user_devices(user_id)}
            known = self._known_devices.get(user_id)
            if known is not None and devices - known:
                log.info("matrix: %s has a new device %s; trusted on first use", user_id, ", ".join(sorted(devices - known)))
            self._known_devices[user_id] = devices

