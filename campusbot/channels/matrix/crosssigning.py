"""The bot's own cross-signing identity, bootstrapped without matrix-nio's help.

Since April 2026 Element refuses to exchange encrypted messages with devices
that their owner has not cross-signed, and matrix-nio has no cross-signing. So
the bot keeps three Ed25519 keys of its own (master, self-signing,
user-signing), publishes them once, and signs each of its devices with the
self-signing key:

    master ──signs──▶ self-signing ──signs──▶ device keys (uploaded by nio)
           ──signs──▶ user-signing

The private keys live in one file, encrypted with a key derived from a secret
(scrypt, AES-256-GCM). Keys, key ids and signatures are unpadded base64 as the
spec requires; signing follows the spec's "Signing JSON" rules.

``ensure_cross_signed`` is idempotent: it asks the homeserver what it already
holds and only uploads what is missing or different.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import aiohttp
import canonicaljson
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from campusbot.channels.matrix.private_file import write_private_file
from campusbot.errors import CampusbotError, Unavailable

__all__ = [
    "CrossSigningError",
    "CrossSigningKeys",
    "device_signature_body",
    "device_signing_upload_body",
    "ensure_cross_signed",
    "generate",
    "key_id",
    "load_keys",
    "save_keys",
    "sign_json",
    "verify_json",
]

log = logging.getLogger(__name__)

SEED_BYTES: Final = 32
_FILE_FORMAT: Final = "campusbot-cross-signing-keys"
_FILE_VERSION: Final = 1
# scrypt cost: 2**15 * 8 * 128 bytes = 32 MiB and roughly 0.1 s per load; the file is read once per start.
_SCRYPT_N: Final = 2**15
_SCRYPT_R: Final = 8
_SCRYPT_P: Final = 1
_SALT_BYTES: Final = 16
_NONCE_BYTES: Final = 12
_HTTP_TIMEOUT: Final = aiohttp.ClientTimeout(total=60)


class CrossSigningError(CampusbotError):
    """Cross-signing could not be set up; the message says what and, for HTTP, which endpoint and errcode."""


# --------------------------------------------------------------------------- keys


def unpadded_b64encode(data: bytes) -> str:
    return base64.b64encode(data).rstrip(b"=").decode("ascii")


def unpadded_b64decode(text: str) -> bytes:
    """Decode unpadded (or padded) standard base64; raise ``ValueError`` on garbage."""
    stripped = text.rstrip("=")
    try:
        return base64.b64decode(stripped + "=" * (-len(stripped) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError(f"not base64: {exc}") from None


def public_key(seed: bytes) -> str:
    """The unpadded base64 Ed25519 public key for a 32-byte private seed."""
    return unpadded_b64encode(Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes_raw())


def key_id(public: str) -> str:
    """A cross-signing key's id: ``ed25519:<unpadded base64 public key>``."""
    return f"ed25519:{public}"


@dataclass(frozen=True, repr=False)
class CrossSigningKeys:
    """The three private Ed25519 seeds (32 bytes each) of one user's cross-signing identity."""

    master_seed: bytes
    self_signing_seed: bytes
    user_signing_seed: bytes

    def __post_init__(self) -> None:
        for name in ("master_seed", "self_signing_seed", "user_signing_seed"):
            value = getattr(self, name)
            if not isinstance(value, bytes) or len(value) != SEED_BYTES:
                raise CrossSigningError(f"cross-signing {name} must be {SEED_BYTES} bytes")

    def __repr__(self) -> str:
        # Never let a log line or traceback carry the private seeds.
        return f"CrossSigningKeys(master={self.master_public_key!r})"

    @property
    def master_public_key(self) -> str:
        return public_key(self.master_seed)

    @property
    def self_signing_public_key(self) -> str:
        return public_key(self.self_signing_seed)

    @property
    def user_signing_public_key(self) -> str:
        return public_key(self.user_signing_seed)


def generate() -> CrossSigningKeys:
    """Three fresh random keys."""
    return CrossSigningKeys(
        master_seed=secrets.token_bytes(SEED_BYTES),
        self_signing_seed=secrets.token_bytes(SEED_BYTES),
        user_signing_seed=secrets.token_bytes(SEED_BYTES),
    )


# --------------------------------------------------------------------------- storage


def _derive(secret: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(secret.encode("utf-8"))


def _header(salt: bytes, n: int, r: int, p: int) -> dict[str, Any]:
    return {"format": _FILE_FORMAT, "version": _FILE_VERSION, "kdf": "scrypt", "salt": unpadded_b64encode(salt), "n": n, "r": r, "p": p}


def save_keys(keys: CrossSigningKeys, path: Path, secret: str) -> None:
    """Write ``keys`` to ``path`` encrypted with a key derived from ``secret``; atomic, mode 0600."""
    if not secret:
        raise CrossSigningError("the secret protecting the cross-signing keys must not be empty")
    salt = secrets.token_bytes(_SALT_BYTES)
    nonce = secrets.token_bytes(_NONCE_BYTES)
    header = _header(salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    plaintext = keys.master_seed + keys.self_signing_seed + keys.user_signing_seed
    # The header is authenticated too, so nobody can weaken the KDF parameters unnoticed.
    aead = AESGCM(_derive(secret, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P))
    ciphertext = aead.encrypt(nonce, plaintext, canonicaljson.encode_canonical_json(header))
    document = {
        **header,
        "master_public_key": keys.master_public_key,
        "nonce": unpadded_b64encode(nonce),
        "ciphertext": unpadded_b64encode(ciphertext),
    }
    data = (json.dumps(document, indent=2, sort_keys=True) + "\n").encode("utf-8")

    write_private_file(path, data)




def load_keys(path: Path, secret: str) -> CrossSigningKeys:
    """Read keys written by ``save_keys``; a wrong secret or a damaged file raises ``CrossSigningError``."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise CrossSigningError(f"{path}: no cross-signing key file") from None
    except OSError as exc:
        raise CrossSigningError(f"{path}: cannot read the cross-signing key file: {exc.strerror}") from None
    try:
        document = json.loads(raw)
        if not isinstance(document, dict):
            raise TypeError("not a JSON object")
        if document.get("format") != _FILE_FORMAT:
            raise ValueError("not a campusbot cross-signing key file")
        if document.get("version") != _FILE_VERSION or document.get("kdf") != "scrypt":
            raise ValueError(f"unsupported version {document.get('version')!r} / kdf {document.get('kdf')!r}")
        salt = unpadded_b64decode(document["salt"])
        n, r, p = (int(document[name]) for name in ("n", "r", "p"))
        nonce = unpadded_b64decode(document["nonce"])
        ciphertext = unpadded_b64decode(document["ciphertext"])
        if len(salt) < _SALT_BYTES or len(nonce) != _NONCE_BYTES or not (2**14 <= n <= 2**20 and 1 <= r <= 16 and 1 <= p <= 4):
            raise ValueError("implausible salt, nonce or scrypt parameters")
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise CrossSigningError(f"{path}: damaged cross-signing key file ({exc})") from None
    try:
        aead = AESGCM(_derive(secret, salt, n, r, p))
        plaintext = aead.decrypt(nonce, ciphertext, canonicaljson.encode_canonical_json(_header(salt, n, r, p)))
    except (InvalidTag, ValueError):
        raise CrossSigningError(f"{path}: cannot decrypt the cross-signing keys: the secret is wrong or the file was modified") from None
    if len(plaintext) != 3 * SEED_BYTES:
        raise CrossSigningError(f"{path}: damaged cross-signing key file (wrong key length)")
    return CrossSigningKeys(
        master_seed=plaintext[:SEED_BYTES],
        self_signing_seed=plaintext[SEED_BYTES : 2 * SEED_BYTES],
        user_signing_seed=plaintext[2 * SEED_BYTES :],
    )


# --------------------------------------------------------------------------- signing


def _signable(obj: dict[str, Any]) -> bytes:
    return canonicaljson.encode_canonical_json({k: v for k, v in obj.items() if k not in ("signatures", "unsigned")})


def sign_json(obj: dict[str, Any], user_id: str, seed: bytes) -> dict[str, Any]:
    """Return a copy of ``obj`` signed per the spec: existing signatures are kept, ours is added
    under ``signatures[user_id]["ed25519:<public key>"]``; ``unsigned`` is left out of the signature but kept."""
    private = Ed25519PrivateKey.from_private_bytes(seed)
    signature = unpadded_b64encode(private.sign(_signable(obj)))
    signatures: dict[str, dict[str, str]] = {signer: dict(sigs) for signer, sigs in obj.get("signatures", {}).items()}
    signatures.setdefault(user_id, {})[key_id(public_key(seed))] = signature
    return {**obj, "signatures": signatures}


def verify_json(obj: dict[str, Any], user_id: str, public: str, signing_key_id: str | None = None) -> bool:
    """Whether ``obj`` carries a valid signature by ``public`` (unpadded base64) under ``signatures[user_id]``.

    ``signing_key_id`` defaults to ``ed25519:<public>`` (cross-signing keys); device keys sign as ``ed25519:<device_id>``.
    """
    kid = signing_key_id or key_id(public)
    signatures = obj.get("signatures")
    if not isinstance(signatures, dict):
        return False
    by_user = signatures.get(user_id)
    signature = by_user.get(kid) if isinstance(by_user, dict) else None
    if not isinstance(signature, str):
        return False
    try:
        Ed25519PublicKey.from_public_bytes(unpadded_b64decode(public)).verify(unpadded_b64decode(signature), _signable(obj))
    except (InvalidSignature, ValueError):
        return False
    return True


def _cross_signing_key(user_id: str, usage: str, public: str) -> dict[str, Any]:
    return {"user_id": user_id, "usage": [usage], "keys": {key_id(public): public}}


def device_signing_upload_body(user_id: str, keys: CrossSigningKeys) -> dict[str, Any]:
    """The body of ``POST /_matrix/client/v3/keys/device_signing/upload`` (without ``auth``)."""
    return {
        "master_key": _cross_signing_key(user_id, "master", keys.master_public_key),
        "self_signing_key": sign_json(_cross_signing_key(user_id, "self_signing", keys.self_signing_public_key), user_id, keys.master_seed),
        "user_signing_key": sign_json(_cross_signing_key(user_id, "user_signing", keys.user_signing_public_key), user_id, keys.master_seed),
    }


def device_signature_body(user_id: str, device_keys: dict[str, Any], keys: CrossSigningKeys) -> dict[str, Any]:
    """The body of ``POST /_matrix/client/v3/keys/signatures/upload`` signing one of our devices with the self-signing key."""
    if device_keys.get("user_id") != user_id:
        raise CrossSigningError(f"device keys belong to {device_keys.get('user_id')!r}, not {user_id}")
    device_id = device_keys.get("device_id")
    if not isinstance(device_id, str) or not device_id:
        raise CrossSigningError("device keys have no device_id")
    stripped = {k: v for k, v in device_keys.items() if k != "unsigned"}
    return {user_id: {device_id: sign_json(stripped, user_id, keys.self_signing_seed)}}


# --------------------------------------------------------------------------- homeserver


def _published_key(section: Any, user_id: str) -> str | None:
    """The single public key of a cross-signing key published in a /keys/query section, if any."""
    if not isinstance(section, dict):
        return None
    key = section.get(user_id)
    if not isinstance(key, dict) or not isinstance(key.get("keys"), dict):
        return None
    values = list(key["keys"].values())
    return values[0] if len(values) == 1 and isinstance(values[0], str) else None


class _Homeserver:
    """The three client-server endpoints we need, with errors mapped to ``CrossSigningError``
    (or ``Unavailable`` while the homeserver cannot answer)."""

    def __init__(self, session: aiohttp.ClientSession, homeserver: str, access_token: str) -> None:
        self._session = session
        self._base = homeserver.rstrip("/")
        self._headers = {"Authorization": f"Bearer {access_token}"}

    async def post(self, endpoint: str, body: dict[str, Any], *, allow_uia: bool = False) -> tuple[int, dict[str, Any]]:
        """POST ``body`` to ``/_matrix/client/v3<endpoint>``; 2xx (and 401 with UIA flows if allowed) return, anything else raises."""
        url = f"{self._base}/_matrix/client/v3{endpoint}"
        try:
            async with self._session.post(url, json=body, headers=self._headers, timeout=_HTTP_TIMEOUT) as response:
                status = response.status
                text = await response.text()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise Unavailable(f"POST {endpoint}: homeserver unreachable ({type(exc).__name__}: {exc})") from None
        # A homeserver restarting behind its proxy, or busy: worth waiting for, whatever the body.
        error: type[CampusbotError] = Unavailable if status >= 500 or status == 429 else CrossSigningError
        try:
            payload = json.loads(text) if text else {}
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise error(f"POST {endpoint}: HTTP {status} with a body that is not a JSON object")
        if 200 <= status < 300:
            return status, payload
        if status == 401 and allow_uia and "flows" in payload:
            return status, payload
        errcode = payload.get("errcode", "no errcode")
        message = payload.get("error", "")
        raise error(f"POST {endpoint}: HTTP {status} {errcode}" + (f": {message}" if message else ""))


async def _upload_cross_signing_keys(hs: _Homeserver, user_id: str, keys: CrossSigningKeys, password: str | None) -> None:
    endpoint = "/keys/device_signing/upload"
    body = device_signing_upload_body(user_id, keys)
    status, payload = await hs.post(endpoint, body, allow_uia=True)
    if status != 401:
        log.info("published the cross-signing identity of %s (master key %s)", user_id, keys.master_public_key)
        return
    # The server already holds other keys, so replacing them needs user-interactive auth.
    flows = payload.get("flows")
    stages = {tuple(flow.get("stages", [])) for flow in flows if isinstance(flow, dict)} if isinstance(flows, list) else set()
    if ("m.login.password",) not in stages:
        offered = ", ".join("/".join(s) for s in sorted(stages)) or "none"
        raise CrossSigningError(
            f"POST {endpoint}: the homeserver wants user-interactive auth to replace the cross-signing keys of {user_id} "
            f"and offers no password-only flow (flows: {offered}); reset the identity by hand or delete it on the server"
        )
    if not password:
        raise CrossSigningError(
            f"POST {endpoint}: the homeserver already holds other cross-signing keys for {user_id}; replacing them needs "
            "the account password (user-interactive auth m.login.password), but no password was configured"
        )
    auth = {"type": "m.login.password", "identifier": {"type": "m.id.user", "user": user_id}, "password": password}
    if isinstance(payload.get("session"), str):
        auth["session"] = payload["session"]
    status, payload = await hs.post(endpoint, {**body, "auth": auth}, allow_uia=True)
    if status == 401:
        errcode = payload.get("errcode", "no errcode")
        raise CrossSigningError(f"POST {endpoint}: HTTP 401 {errcode}: the homeserver rejected the password for {user_id}")
    log.warning("replaced the cross-signing identity of %s on the homeserver (new master key %s)", user_id, keys.master_public_key)


async def _query_own_keys(hs: _Homeserver, user_id: str) -> dict[str, Any]:
    _, payload = await hs.post("/keys/query", {"device_keys": {user_id: []}})
    return payload


async def ensure_cross_signed(
    session: aiohttp.ClientSession,
    homeserver: str,
    access_token: str,
    user_id: str,
    device_id: str,
    password: str | None,
    keys_path: Path,
    secret: str,
    *,
    device_ed25519: str | None = None,
) -> None:
    """Make sure ``user_id`` has our cross-signing identity published and ``device_id`` is signed by it.

    Idempotent: what the homeserver already holds is not uploaded again. The device's keys must
    already be on the server (nio's ``keys_upload``). If ``device_ed25519`` (the device's own
    Ed25519 identity key as nio knows it) is given, the server's copy of the device must carry
    exactly that key, so a homeserver cannot get a device of its own choosing cross-signed.
    """
    # scrypt and file I/O block for a moment; keep them off the event loop.
    keys = await asyncio.to_thread(_load_or_create, keys_path, secret, user_id)
    hs = _Homeserver(session, homeserver, access_token)
    result = await _query_own_keys(hs, user_id)
    # Check the device before changing anything on the server.
    devices = result.get("device_keys")
    mine = devices.get(user_id) if isinstance(devices, dict) else None
    device_keys = mine.get(device_id) if isinstance(mine, dict) else None
    if not isinstance(device_keys, dict):
        raise CrossSigningError(
            f"device {device_id} of {user_id} has no keys on the homeserver; upload them (nio keys_upload) before cross-signing"
        )
    _check_device_keys(device_keys, user_id, device_id, device_ed25519)

    published = (
        _published_key(result.get("master_keys"), user_id),
        _published_key(result.get("self_signing_keys"), user_id),
        _published_key(result.get("user_signing_keys"), user_id),
    )
    ours = (keys.master_public_key, keys.self_signing_public_key, keys.user_signing_public_key)
    if published != ours:
        if published[0] is not None and published[0] != ours[0]:
            log.warning("the homeserver holds another cross-signing master key for %s (%s); replacing it", user_id, published[0])
        await _upload_cross_signing_keys(hs, user_id, keys, password)

    if verify_json(device_keys, user_id, keys.self_signing_public_key):
        return

    _, payload = await hs.post("/keys/signatures/upload", device_signature_body(user_id, device_keys, keys))
    failures = payload.get("failures")
    if failures:
        by_user = failures.get(user_id) if isinstance(failures, dict) else None
        device_failure = by_user.get(device_id, failures) if isinstance(by_user, dict) else failures
        raise CrossSigningError(
            f"POST /keys/signatures/upload: the homeserver refused the signature of device {device_id}: {device_failure}"
        )
    log.info("cross-signed device %s of %s", device_id, user_id)


def _load_or_create(path: Path, secret: str, user_id: str) -> CrossSigningKeys:
    if path.exists():
        return load_keys(path, secret)
    keys = generate()
    save_keys(keys, path, secret)
    log.info("generated a new cross-signing identity for %s in %s", user_id, path)
    return keys


def _check_device_keys(device_keys: dict[str, Any], user_id: str, device_id: str, expected_ed25519: str | None) -> None:
    """Refuse to vouch for device keys that are not what the device itself signed (and, if known, what nio holds)."""
    ed25519 = device_keys.get("keys", {}).get(f"ed25519:{device_id}") if isinstance(device_keys.get("keys"), dict) else None
    if device_keys.get("user_id") != user_id or device_keys.get("device_id") != device_id or not isinstance(ed25519, str):
        raise CrossSigningError(f"the homeserver returned malformed keys for device {device_id} of {user_id}")
    if expected_ed25519 is not None and ed25519 != expected_ed25519:
        raise CrossSigningError(
            f"the homeserver's keys for device {device_id} of {user_id} carry ed25519 key {ed25519}, "
            f"but the local device has {expected_ed25519}; refusing to cross-sign them"
        )
    if not verify_json(device_keys, user_id, ed25519, f"ed25519:{device_id}"):
        raise CrossSigningError(f"the keys of device {device_id} of {user_id} on the homeserver are not self-signed by the device")
