"""A second Matrix client that behaves like Element, for end-to-end tests of a bot.

`LearnerClient` wraps a matrix-nio `AsyncClient` with end-to-end encryption
(nio's default SQLite store), keeps its own sync loop running so that device
and room keys flow, opens DMs the way Element does and refuses (like Element
since April 2026) to share room keys with a device its owner has not
cross-signed. The cross-signing chain is checked independently of nio with
`cryptography` (Ed25519) and `canonicaljson`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import time
import urllib.parse
from collections.abc import Collection
from pathlib import Path
from typing import Any, Self

import canonicaljson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from nio import (
    EncryptionError,
    Event,
    JoinError,
    LoginResponse,
    MatrixRoom,
    MegolmEvent,
    ReactionEvent,
    RoomCreateResponse,
    RoomMessage,
    RoomSendResponse,
    UnknownEncryptedEvent,
    UnknownEvent,
)
from nio.api import RoomPreset, RoomVisibility
from nio.client.async_client import AsyncClient, AsyncClientConfig

from tests.matrix.synapse import Account

log = logging.getLogger(__name__)

MEGOLM = "m.megolm.v1.aes-sha2"
SYNC_TIMEOUT_MS = 10_000
POLL_INTERVAL = 0.05
POLL_RESPONSE_UNSTABLE = "org.matrix.msc3381.poll.response"
POLL_RESPONSE_STABLE = "m.poll.response"

# Timeline events that count as "a message" for `wait_for_messages`.
_MESSAGE_LIKE = (RoomMessage, UnknownEvent, ReactionEvent, MegolmEvent, UnknownEncryptedEvent)


class MatrixRequestError(RuntimeError):
    """The homeserver refused a request the learner made."""


class UnsignedDevice(RuntimeError):
    """A device in an encrypted room is not cross-signed by its owner; Element will not send to it."""

    def __init__(self, user_id: str, device_id: str, reason: str) -> None:
        super().__init__(f"refusing to share room keys with {user_id} / {device_id}: {reason}")
        self.user_id = user_id
        self.device_id = device_id
        self.reason = reason


# -- cross-signing, independent of nio ------------------------------------------


def unpadded_b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def unpadded_b64decode(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def signed_bytes(obj: dict[str, Any]) -> bytes:
    """The bytes a Matrix signature covers: canonical JSON without ``signatures`` and ``unsigned``."""
    return canonicaljson.encode_canonical_json({k: v for k, v in obj.items() if k not in ("signatures", "unsigned")})


def check_signature(obj: Any, signer: str, key_id: str, public_key: str) -> bool:
    """True when ``obj`` carries a valid Ed25519 signature by ``signer``'s key ``key_id`` (= ``public_key``)."""
    if not isinstance(obj, dict):
        return False
    signature = obj.get("signatures", {}).get(signer, {}).get(key_id)
    if not isinstance(signature, str):
        return False
    try:
        verifier = Ed25519PublicKey.from_public_bytes(unpadded_b64decode(public_key))
        verifier.verify(unpadded_b64decode(signature), signed_bytes(obj))
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


def sign(obj: dict[str, Any], signer: str, key: Ed25519PrivateKey) -> dict[str, Any]:
    """A copy of ``obj`` with ``signer``'s signature by ``key`` added."""
    key_id = f"ed25519:{public_b64(key)}"
    signature = unpadded_b64encode(key.sign(signed_bytes(obj)))
    signatures = {user: dict(sigs) for user, sigs in obj.get("signatures", {}).items()}
    signatures.setdefault(signer, {})[key_id] = signature
    return {**obj, "signatures": signatures}


def public_b64(key: Ed25519PrivateKey) -> str:
    return unpadded_b64encode(key.public_key().public_bytes_raw())


def _cross_signing_key(keys: dict[str, Any], section: str, user_id: str, usage: str) -> tuple[dict[str, Any], str] | str:
    """The key object and its public key, or the reason it is unusable."""
    obj = keys.get(section, {}).get(user_id)
    if not isinstance(obj, dict):
        return f"no {usage} key published"
    if obj.get("user_id") != user_id or usage not in obj.get("usage", []):
        return f"{usage} key has the wrong owner or usage"
    entries = obj.get("keys")
    if not isinstance(entries, dict) or len(entries) != 1:
        return f"{usage} key must hold exactly one key"
    ((key_id, public),) = entries.items()
    if key_id != f"ed25519:{public}":
        return f"{usage} key id {key_id!r} does not name its key"
    return obj, str(public)


def cross_signing_problem(keys: dict[str, Any], user_id: str, device_id: str, expected_ed25519: str | None = None) -> str | None:
    """Check a ``/keys/query`` answer: device ← self-signing key ← master key.

    Returns ``None`` when the chain holds, otherwise why it does not.
    ``expected_ed25519`` is the device's fingerprint as the local crypto store
    knows it; the signed device must be that very key.
    """
    master = _cross_signing_key(keys, "master_keys", user_id, "master")
    if isinstance(master, str):
        return master
    _, master_public = master
    self_signing = _cross_signing_key(keys, "self_signing_keys", user_id, "self_signing")
    if isinstance(self_signing, str):
        return self_signing
    ssk, ssk_public = self_signing
    if not check_signature(ssk, user_id, f"ed25519:{master_public}", master_public):
        return "self-signing key is not signed by the master key"
    device = keys.get("device_keys", {}).get(user_id, {}).get(device_id)
    if not isinstance(device, dict):
        return "device keys not published"
    if device.get("user_id") != user_id or device.get("device_id") != device_id:
        return "device keys name another user or device"
    device_ed25519 = device.get("keys", {}).get(f"ed25519:{device_id}")
    if not isinstance(device_ed25519, str):
        return "device has no ed25519 key"
    if expected_ed25519 is not None and device_ed25519 != expected_ed25519:
        return "device key differs from the one in the crypto store"
    if not check_signature(device, user_id, f"ed25519:{device_id}", device_ed25519):
        return "device keys are not signed by the device itself"
    if not check_signature(device, user_id, f"ed25519:{ssk_public}", ssk_public):
        return "device is not signed by its owner's self-signing key"
    return None


# -- event helpers ----------------------------------------------------------------


def text_of(event: Event) -> str:
    """The human-readable text of a message, notice or poll start (unstable or stable shape)."""
    content = event.source.get("content", {})
    if not isinstance(content, dict):
        return ""
    for key in ("body", "org.matrix.msc1767.text"):
        if isinstance(content.get(key), str):
            return str(content[key])
    texts = content.get("m.text")
    if isinstance(texts, list) and texts and isinstance(texts[0], dict):
        return str(texts[0].get("body", ""))
    return ""


def poll_answers(event: Event) -> list[tuple[str, str]]:
    """``(answer id, answer text)`` of a poll start in either shape."""
    content = event.source.get("content", {})
    unstable = content.get("org.matrix.msc3381.poll.start")
    if isinstance(unstable, dict):
        return [(str(a["id"]), str(a.get("org.matrix.msc1767.text", ""))) for a in unstable.get("answers", [])]
    stable = content.get("m.poll")
    if isinstance(stable, dict):
        return [(str(a["m.id"]), str(a.get("m.text", [{}])[0].get("body", ""))) for a in stable.get("answers", [])]
    return []


def poll_question(event: Event) -> str:
    """The question of a poll start (unstable shape), as the bot repeats it in text."""
    question = event.source.get("content", {}).get("org.matrix.msc3381.poll.start", {}).get("question", {})
    return str(question.get("org.matrix.msc1767.text", ""))


def _is_message_like(event: Event) -> bool:
    return isinstance(event, _MESSAGE_LIKE) and "state_key" not in event.source


# -- the client ----------------------------------------------------------------------


class LearnerClient:
    """An Element-like learner: E2EE, own sync loop, strict about cross-signing."""

    def __init__(self, client: AsyncClient, account: Account) -> None:
        self.client = client
        self.account = account
        self.events: list[Event] = []  # every timeline event received, with its (decrypted) source
        self._timeline: dict[str, list[Event]] = {}  # message-like events from others, per room
        self._cursor: dict[str, int] = {}
        self._arrived = asyncio.Event()
        self._sync_task: asyncio.Task[None] | None = None
        self.sync_errors: list[BaseException] = []

    @property
    def user_id(self) -> str:
        return self.account.user_id

    @property
    def device_id(self) -> str:
        return str(self.client.device_id)

    # -- lifecycle --------------------------------------------------------------

    @classmethod
    async def create(cls, synapse_url: str, account: Account, store_dir: Path) -> Self:
        """Log in (or restore the account's access token), load the crypto store, sync once, keep syncing."""
        await asyncio.to_thread(store_dir.mkdir, parents=True, exist_ok=True)
        config = AsyncClientConfig(encryption_enabled=True, store_sync_tokens=True, request_timeout=30, max_timeouts=5)
        client = AsyncClient(synapse_url, account.user_id, device_id=account.device_id or "", store_path=str(store_dir), config=config)
        try:
            if account.access_token:
                client.restore_login(account.user_id, account.device_id, account.access_token)
            else:
                answer = await client.login(account.password, device_name="campusbot tests (Element-like)")
                if not isinstance(answer, LoginResponse):
                    raise MatrixRequestError(f"login of {account.user_id} failed: {answer}")
                account = Account(account.user_id, account.password, answer.access_token, answer.device_id)
            learner = cls(client, account)
            client.add_event_callback(learner._on_event, Event)
            if client.should_upload_keys:
                await client.keys_upload()
            await client.sync(timeout=0, full_state=True)
        except BaseException:
            await client.close()  # type: ignore[no-untyped-call]
            raise
        learner._sync_task = asyncio.create_task(learner._sync_forever(), name=f"learner sync {account.user_id}")
        return learner

    async def _sync_forever(self) -> None:
        while True:
            try:
                await self.client.sync_forever(timeout=SYNC_TIMEOUT_MS)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.sync_errors.append(error)
                log.exception("sync loop of %s failed; retrying", self.user_id)
                await asyncio.sleep(0.5)

    async def close(self) -> None:
        task, self._sync_task = self._sync_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.client.close()  # type: ignore[no-untyped-call]

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- events -----------------------------------------------------------------

    def _on_event(self, room: MatrixRoom, event: Event) -> None:
        self.events.append(event)
        if event.sender != self.user_id and _is_message_like(event):
            self._timeline.setdefault(room.room_id, []).append(event)
            self._arrived.set()

    def _retry_decryption(self, room_id: str) -> None:
        timeline = self._timeline.get(room_id, [])
        for index in range(self._cursor.get(room_id, 0), len(timeline)):
            event = timeline[index]
            if isinstance(event, MegolmEvent):
                event.room_id = room_id
                try:
                    decrypted = self.client.decrypt_event(event)
                except EncryptionError:
                    continue
                if isinstance(decrypted, Event):
                    timeline[index] = decrypted
                    self.events.append(decrypted)

    async def wait_for_messages(self, room_id: str, count: int = 1, timeout: float = 20.0) -> list[Event]:  # noqa: ASYNC109
        """The next ``count`` message-like events from other members of the room, in order.

        Messages and notices come as nio `RoomMessage` subclasses, polls and
        other custom types as `UnknownEvent` (``.type``, ``.source``). An
        event that cannot be decrypted blocks the queue until its key arrives.
        """
        deadline = time.monotonic() + timeout
        while True:
            self._arrived.clear()  # nothing arrives between here and the next await
            self._retry_decryption(room_id)
            timeline = self._timeline.get(room_id, [])
            start = self._cursor.get(room_id, 0)
            batch = timeline[start : start + count]
            if len(batch) == count and not any(isinstance(e, (MegolmEvent, UnknownEncryptedEvent)) for e in batch):
                self._cursor[room_id] = start + count
                return batch
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [f"{type(e).__name__}: {text_of(e)[:80]!r}" for e in batch]
                raise TimeoutError(f"{self.user_id} got {len(batch)} of {count} messages in {room_id} within {timeout} s: {seen}")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), timeout=min(remaining, 0.5))

    async def expect_text(self, room_id: str, substring: str, timeout: float = 20.0) -> Event:  # noqa: ASYNC109
        """Consume messages until one whose text contains ``substring``; earlier ones are consumed too."""
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        while True:
            remaining = deadline - time.monotonic()
            try:
                (event,) = await self.wait_for_messages(room_id, 1, timeout=max(remaining, 0.0))
            except TimeoutError:
                raise TimeoutError(f"no message containing {substring!r} in {room_id} within {timeout} s; saw {seen}") from None
            text = text_of(event)
            if substring in text:
                return event
            seen.append(text[:120])

    def pending(self, room_id: str) -> list[Event]:
        """Messages that arrived but were not consumed yet."""
        return self._timeline.get(room_id, [])[self._cursor.get(room_id, 0) :]

    # -- rooms ------------------------------------------------------------------

    async def open_dm(self, other_user_id: str, encrypted: bool, timeout: float = 20.0) -> str:  # noqa: ASYNC109
        """Create a private DM like Element does, invite ``other_user_id`` and wait until they joined."""
        initial_state = [{"type": "m.room.encryption", "state_key": "", "content": {"algorithm": MEGOLM}}] if encrypted else []
        answer = await self.client.room_create(
            visibility=RoomVisibility.private,
            is_direct=True,
            preset=RoomPreset.trusted_private_chat,
            invite=[other_user_id],
            initial_state=initial_state,
        )
        if not isinstance(answer, RoomCreateResponse):
            raise MatrixRequestError(f"creating a DM with {other_user_id} failed: {answer}")
        room_id = str(answer.room_id)
        direct = await self.request("GET", f"/_matrix/client/v3/user/{_q(self.user_id)}/account_data/m.direct", missing_ok=True)
        direct.setdefault(other_user_id, []).append(room_id)
        await self.request("PUT", f"/_matrix/client/v3/user/{_q(self.user_id)}/account_data/m.direct", direct)
        await self.wait_for_member(room_id, other_user_id, timeout=timeout)
        return room_id

    async def wait_for_member(self, room_id: str, user_id: str, timeout: float = 20.0) -> None:  # noqa: ASYNC109
        """Wait until this client's synced state shows ``user_id`` joined to the room."""
        deadline = time.monotonic() + timeout
        while True:
            room = self.client.rooms.get(room_id)
            if room is not None and user_id in room.users and user_id not in room.invited_users:
                return
            if time.monotonic() >= deadline:
                members = None if room is None else sorted(room.users)
                raise TimeoutError(f"{user_id} did not join {room_id} within {timeout} s (members: {members})")
            await asyncio.sleep(POLL_INTERVAL)

    async def wait_for_invite(self, timeout: float = 20.0) -> str:  # noqa: ASYNC109
        """The id of a room this learner is invited to (bounded wait)."""
        deadline = time.monotonic() + timeout
        while not self.client.invited_rooms:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{self.user_id} got no invitation within {timeout} s")
            await asyncio.sleep(POLL_INTERVAL)
        return str(next(iter(self.client.invited_rooms)))

    async def join(self, room_id: str, timeout: float = 20.0) -> None:  # noqa: ASYNC109
        answer = await self.client.join(room_id)
        if isinstance(answer, JoinError):
            raise MatrixRequestError(f"{self.user_id} could not join {room_id}: {answer}")
        await self.wait_for_member(room_id, self.user_id, timeout=timeout)

    # -- sending ------------------------------------------------------------------

    async def send_text(self, room_id: str, text: str, *, allow_unsigned: bool = False) -> str:
        """Send ``m.text`` like Element; returns the event id."""
        content = {"msgtype": "m.text", "body": text, "m.mentions": {}}
        return await self.send(room_id, "m.room.message", content, allow_unsigned=allow_unsigned)

    async def send_poll_response(self, room_id: str, poll_event_id: str, answer_ids: Collection[str], stable: bool) -> str:
        """Vote in a poll, in the unstable (MSC3381, what Element sends) or the stable shape."""
        relation = {"rel_type": "m.reference", "event_id": poll_event_id}
        if stable:
            return await self.send(room_id, POLL_RESPONSE_STABLE, {"m.selections": list(answer_ids), "m.relates_to": relation})
        content = {POLL_RESPONSE_UNSTABLE: {"answers": list(answer_ids)}, "m.relates_to": relation}
        return await self.send(room_id, POLL_RESPONSE_UNSTABLE, content)

    async def send(self, room_id: str, event_type: str, content: dict[str, Any], *, allow_unsigned: bool = False) -> str:
        """Send any room event; in an encrypted room only to devices whose owner cross-signed them.

        ``allow_unsigned`` is a test-only escape hatch for learner-to-learner
        round trips (plain nio users have no cross-signing); Element has no such switch.
        """
        room = self.client.rooms.get(room_id)
        if room is None:
            raise MatrixRequestError(f"{self.user_id} is not in room {room_id}")
        if room.encrypted:
            await self._ensure_devices_known(room_id)
            if not allow_unsigned:
                await self._trust_cross_signed_devices(room)
        answer = await self.client.room_send(room_id, event_type, content, ignore_unverified_devices=allow_unsigned)
        if not isinstance(answer, RoomSendResponse):
            raise MatrixRequestError(f"sending {event_type} to {room_id} failed: {answer}")
        return str(answer.event_id)

    async def _ensure_devices_known(self, room_id: str) -> None:
        room = self.client.rooms[room_id]
        if not room.members_synced:
            await self.client.joined_members(room_id)
        if self.client.should_query_keys:
            await self.client.keys_query()

    async def _trust_cross_signed_devices(self, room: MatrixRoom) -> None:
        """Verify (in nio) every device that passes the cross-signing check; raise for the first that does not."""
        users = sorted(room.users)
        keys = await self.query_keys(users)
        for user_id in users:
            for device in list(self.client.device_store.active_user_devices(user_id)):
                if user_id == self.user_id and device.id == self.device_id:
                    continue
                if device.blacklisted:
                    continue
                problem = cross_signing_problem(keys, user_id, device.id, device.ed25519)
                if problem is not None:
                    if device.verified:
                        self.client.unverify_device(device)
                    raise UnsignedDevice(user_id, device.id, problem)
                if not device.verified:
                    self.client.verify_device(device)

    async def verify_cross_signing(self, user_id: str, device_id: str) -> bool:
        """Does the homeserver publish a valid chain device ← self-signing key ← master key for this device?"""
        keys = await self.query_keys([user_id])
        known = self.client.device_store[user_id].get(device_id)
        return cross_signing_problem(keys, user_id, device_id, None if known is None else known.ed25519) is None

    async def query_keys(self, user_ids: Collection[str]) -> dict[str, Any]:
        """The raw ``/keys/query`` answer (device keys plus cross-signing keys), which nio does not expose."""
        return await self.request("POST", "/_matrix/client/v3/keys/query", {"device_keys": {u: [] for u in user_ids}, "timeout": 10_000})

    # -- cross-signing of this learner's own device (what Element does at first login) ----

    async def bootstrap_cross_signing(self) -> None:
        """Create master, self-signing and user-signing keys and sign this device with the self-signing key."""
        master, self_signing, user_signing = (Ed25519PrivateKey.generate() for _ in range(3))

        def cross_key(key: Ed25519PrivateKey, usage: str) -> dict[str, Any]:
            public = public_b64(key)
            return {"user_id": self.user_id, "usage": [usage], "keys": {f"ed25519:{public}": public}}

        await self.request(
            "POST",
            "/_matrix/client/v3/keys/device_signing/upload",
            {
                "master_key": cross_key(master, "master"),
                "self_signing_key": sign(cross_key(self_signing, "self_signing"), self.user_id, master),
                "user_signing_key": sign(cross_key(user_signing, "user_signing"), self.user_id, master),
            },
        )
        own = (await self.query_keys([self.user_id]))["device_keys"][self.user_id][self.device_id]
        unsigned_copy = {k: v for k, v in own.items() if k not in ("signatures", "unsigned")}
        signed = sign(unsigned_copy, self.user_id, self_signing)
        answer = await self.request("POST", "/_matrix/client/v3/keys/signatures/upload", {self.user_id: {self.device_id: signed}})
        if answer.get("failures"):
            raise MatrixRequestError(f"signature upload failed: {answer['failures']}")

    # -- raw requests ---------------------------------------------------------------

    async def request(self, method: str, path: str, body: Any = None, *, missing_ok: bool = False) -> dict[str, Any]:
        """A JSON request with this learner's access token through nio's HTTP session."""
        headers = {"Authorization": f"Bearer {self.client.access_token}", "Content-Type": "application/json"}
        data = None if body is None else json.dumps(body)
        response = await self.client.send(method, path, data, headers=headers, timeout=30)
        try:
            status = response.status
            payload = await response.read()
        finally:
            response.release()
        if missing_ok and status == 404:
            return {}
        parsed = json.loads(payload) if payload else {}
        if status >= 400:
            raise MatrixRequestError(f"{method} {path} -> HTTP {status}: {parsed}")
        if not isinstance(parsed, dict):
            raise MatrixRequestError(f"{method} {path} answered {parsed!r}")
        return parsed


def _q(value: str) -> str:
    return urllib.parse.quote(value, safe="")
